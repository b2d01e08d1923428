/**
 * An untouched box whose clock stepped back after a space deletion: the rows indexed after the
 * step carry times before the footage the deletion took, and `verify` read them as older footage
 * "kept" while young footage went for space: 14 false findings on a box nobody touched (an
 * outside probe). What existed when a deletion was written is told by row ids (they only grow),
 * not by the wall clock; a deletion that says it saw fewer rows than it deleted is named.
 */
import t from 'tap';
import { join } from 'node:path';
import { Catalog, type Deletion } from '../../recorder/catalog/catalog.js';
import type { DeletionData } from '../../recorder/catalog/ledger.js';
import { backdate, makeClip } from '../support/backdate.js';
import { runCli } from '../support/cli.js';

interface Report { ok: boolean; findings: Array<{ kind: string; detail: string }> }

t.test('a clock stepped back after a space deletion: verify passes; a forged newest row is named', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'));
  const now = Date.now();
  const catalog = Catalog.open(data);
  catalog.ledgerEntry('retention_policy', null, { floor_bytes: 10, box: { min_days: 30, max_days: null }, cameras: [], exports_max_days: null, age_deletion_needs_clock_sync: false });
  const [oldest] = await backdate(data, catalog, clip, 'cam1', [now - 20 * 60_000, now - 10 * 60_000], 60_000);
  // the disk under its floor: the oldest footage goes, young as it is (nothing older is left)
  const space: Deletion = { rule: 'space_floor', note: 'retention: free space under the floor', policy: { min_days: 30, max_days: null },
    disk: { available_bytes: 1, floor_bytes: 10, unaccounted_bytes: 0 }, holds_checked: [], clock: { synchronized: true, source: 'test' } };
  // written two hours on (the box's clock then)
  const deletedAt = now + 2 * 3_600_000;
  catalog.markDeleted('cam1', [oldest!], space, deletedAt);
  // then the clock steps back 2.5 hours (the step recorded as the box records it), and the next
  // segment, indexed later (at a wall time before the deletion's), is dated before the footage deleted
  const back = 2.5 * 3_600_000;
  const stepAt = deletedAt + 60_000;
  catalog.addGap('cam1', stepAt - back, stepAt, 'clock_jump', `the clock stepped back by ${back} ms`);
  await backdate(data, catalog, clip, 'cam1', [stepAt - back + 1_000], 60_000);
  catalog.close();

  const honest = await runCli(['verify', '--data', data, '--json']);
  const report = JSON.parse(honest.stdout) as Report;
  t.same(report.findings.map((f) => f.detail), [], 'no finding: the segment dated earlier did not exist when the deletion was written');
  t.equal(honest.code, 0, 'verify passes');

  // root rewriting the entry to say fewer rows existed than it deleted is named
  const forged = Catalog.open(data);
  const entry = forged.db.prepare("SELECT id, data FROM ledger WHERE kind = 'deletion'").get() as { id: number; data: string };
  const d = JSON.parse(entry.data) as DeletionData;
  t.ok(d.last_segment !== undefined && d.last_segment >= oldest!.id, `the deletion records the newest row then (#${d.last_segment})`);
  forged.ledgerEntry('deletion', 'cam1', { ...d, segments: [], ends_ms: [], last_segment: 0 }, deletedAt + 120_000);
  forged.close();
  const caught = await runCli(['verify', '--data', data, '--json']);
  t.equal(caught.code, 1, 'verify fails');
  t.match((JSON.parse(caught.stdout) as Report).findings.map((f) => f.detail).join('\n'), /says segment #0 was the newest then, which .* an earlier deletion \(#\d+\)/, 'naming the entry that contradicts an earlier one');
});
