/**
 * `verify` on a box that is recording: a segment the daemon indexes while the pass hashes (its
 * file moved into recordings/ after the rows were read, its row a moment later) is not an
 * inserted file; one that never gets a row is (an outside probe saw INSERTED about 1 run in 10
 * against a live daemon).
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { verifyRecordings } from '../../recorder/verify.js';

t.test('a file whose row comes while verify runs is not "inserted"; a file that never gets one is', async (t) => {
  const data = t.testdir();
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const put = (rel: string, body: string) => {
    mkdirSync(dirname(join(data, rel)), { recursive: true });
    writeFileSync(join(data, rel), body);
    return createHash('sha256').update(body).digest('hex');
  };
  const seg = (i: number, sha256: string) => ({ camera: 'gate', start_ms: 1_000_000 + i * 2000, end_ms: 1_002_000 + i * 2000, bytes: 5, path: `recordings/gate/2026-12-04/07/${i}.mp4`, sha256, origin: 'recorded' as const });
  catalog.addSegment(seg(0, put(seg(0, '').path, 'zero')));

  // the daemon's next segment: its file is there before verify lists the folder, its row 300 ms later
  const late = seg(1, put(seg(1, '').path, 'one!'));
  const rowSoon = setTimeout(() => catalog.addSegment(late), 300);
  t.teardown(() => clearTimeout(rowSoon));
  const live = await verifyRecordings(data, catalog);
  t.same(live.findings, [], 'nothing found: the late row is the daemon indexing, not an insertion');

  const planted = 'recordings/gate/2026-12-04/07/planted.mp4';
  put(planted, 'evil');
  const after = await verifyRecordings(data, catalog);
  t.same(after.findings.map((f) => [f.kind, f.path]), [['inserted', planted]], 'a file that never gets a row is named');
});
