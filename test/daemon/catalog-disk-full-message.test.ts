/**
 * A command whose catalog write fails for want of space: SQLite's own "database or disk is full"
 * was all it said, naming neither the disk nor what was not done (an outside probe filled the
 * data disk under `export`, `snapshot` and `evidence`).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { runCli } from '../support/cli.js';
import { NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';

t.test('a full data disk under a command that must write the catalog: said so, what to do, exit 1', { skip: NEEDS_ROOT }, async (t) => {
  const { data } = tmpfsDataDir(t, 2, 'catalog-full');
  const catalog = Catalog.open(data);
  catalog.addGap('gate', 0, 1000, 'camera_unreachable'); // a camera the box knows, so it can be held
  catalog.close();
  // the rest of the disk taken by another program
  try { execFileSync('dd', ['if=/dev/zero', `of=${join(data, 'filler')}`, 'bs=64k'], { stdio: 'ignore' }); } catch { /* ENOSPC: as meant */ }
  // but for a little: the catalog opens, and its writes run out of room
  execFileSync('truncate', ['-s', '-48K', join(data, 'filler')]);
  let r = { code: 0, stderr: '' } as { code: number | null; stderr: string };
  // a few holds, each more rows: the catalog's pages run out at one of them
  for (let i = 0; i < 200 && r.code === 0; i++) {
    r = await runCli(['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', `case ${i} ${'x'.repeat(400)}`, '--data', data]);
  }
  t.equal(r.code, 1, 'the command fails');
  t.match(r.stderr, /database or disk is full: the data disk, where the catalog is, is full: the command stopped at the first thing it could not register; free space there/, `said so: ${r.stderr.trim()}`);
});
