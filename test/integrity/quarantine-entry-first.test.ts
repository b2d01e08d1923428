/**
 * A staged file recovery cannot read goes to quarantine/ with a ledger entry, the entry first. On
 * a full disk the catalog refused the entry after the file had moved, nothing tried again, and
 * `verify` failed for good on a file the box had set aside itself (an outside probe). The catalog
 * refusing here is SQLite refusing writes (`query_only`, as a full disk or a failed one would):
 * the file stays in staging, and the next recovery sets it aside with its entry.
 */
import t from 'tap';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { recoverCamera } from '../../recorder/recovery.js';
import { SegmentStore } from '../../recorder/segment-store.js';
import { runCli } from '../support/cli.js';

t.test('a file recovery sets aside while the catalog refuses writes stays in staging; set aside later with its entry, verify passes', async (t) => {
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  const log = pino({ level: 'silent' });
  const staging = join(data, 'recordings', 'cam1', '.staging');
  mkdirSync(staging, { recursive: true });
  const name = `${Date.now() - 5000}-000000.mp4`;
  writeFileSync(join(staging, name), randomBytes(64 * 1024)); // no MP4 ffprobe can read
  const recover = () => recoverCamera(data, 'cam1', catalog, new SegmentStore(data, catalog, log), log, { orphansPossible: false });

  catalog.db.pragma('query_only = ON');
  await t.rejects(recover(), 'the catalog refuses the entry: recovery says so');
  t.ok(existsSync(join(staging, name)), 'the file is still where the recorder left it');
  t.same(existsSync(join(data, 'quarantine', 'cam1')) ? readdirSync(join(data, 'quarantine', 'cam1')) : [], [], 'nothing in quarantine without its entry');

  catalog.db.pragma('query_only = OFF');
  const again = await recover();
  t.same(again.quarantined.map((q) => q.file), [`quarantine/cam1/${name}`], 'the next recovery sets it aside');
  catalog.close();
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify accounts for it:\n${verified.stdout}`);
});
