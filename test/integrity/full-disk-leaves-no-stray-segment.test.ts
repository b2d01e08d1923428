/**
 * The catalog's disk full (SQLITE_FULL): the closed segment was already at its final path and
 * its row could not go in. Once the disk had room again, recording went on and that file stayed
 * without a row for ever: the running daemon never tried again, and recovery (after the
 * recorder's exit or a restart) indexed staging first, which moved the camera's last row past the
 * file, then searched only after that row. `verify` reported it as inserted, a false sign of
 * tampering, after every full disk (seen on a 20 MB tmpfs filled by another file). The full disk
 * here is SQLite's own: the catalog held to the pages it has (`max_page_count`).
 */
import t from 'tap';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { recoverCamera } from '../../recorder/recovery.js';
import { SegmentStore, segmentPath, stagingDir } from '../../recorder/segment-store.js';
import { verifyRecordings } from '../../recorder/verify.js';
import { makeClip } from '../support/backdate.js';

const log = pino({ level: 'silent' });

/** A real 1 s fragmented MP4 in the camera's staging dir, as a recorder run leaves it. */
function staged(dataDir: string, clip: string, runStartMs: number, seq: number): string {
  const dir = stagingDir(dataDir, 'cam1');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${runStartMs}-${String(seq).padStart(6, '0')}.mp4`);
  copyFileSync(clip, path);
  return path;
}

/**
 * Holds the catalog to the pages it has now, and makes what `store` writes next large (a long
 * provenance): its row needs pages the catalog may not take, SQLITE_FULL.
 */
function fillCatalog(catalog: Catalog, store: SegmentStore): void {
  catalog.db.pragma(`max_page_count = ${catalog.db.pragma('page_count', { simple: true }) as number}`);
  store.setProvenance('cam1', `mask-set ${'x'.repeat(20_000)}`);
}

function freeCatalog(catalog: Catalog): void {
  catalog.db.pragma('max_page_count = 1073741823');
}

async function problems(dataDir: string, catalog: Catalog): Promise<string[]> {
  const report = await verifyRecordings(dataDir, catalog);
  return report.findings.map((f) => `${f.kind} ${f.path ?? ''} ${f.detail}`);
}

t.test('a row refused by a full disk goes in before the next one, once there is room', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const store = new SegmentStore(data, catalog, log);
  const t0 = Date.now() - 60_000;
  await store.commit({ camera: 'cam1', stagedPath: staged(data, clip, t0, 0), startMs: t0, endMs: t0 + 1000 });

  fillCatalog(catalog, store);
  await t.rejects(store.commit({ camera: 'cam1', stagedPath: staged(data, clip, t0, 1), startMs: t0 + 1000, endMs: t0 + 2000 }), { code: 'SQLITE_FULL' }, 'the catalog is full');
  t.ok(existsSync(join(data, segmentPath('cam1', t0 + 1000))), 'the file is at its final path, without a row');
  // what a gap the camera opens meanwhile starts after (camera-supervisor.ts openGap)
  t.same([store.heldBackEndMs('cam1'), store.heldBackEndMs('cam2')], [t0 + 2000, undefined], 'the store says where the held-back row ends, for its camera only');
  freeCatalog(catalog);

  await store.commit({ camera: 'cam1', stagedPath: staged(data, clip, t0, 2), startMs: t0 + 2000, endMs: t0 + 3000 });
  const rows = catalog.segments('cam1', 0, Date.now()).map((r) => r.start_ms);
  t.same(rows, [t0, t0 + 1000, t0 + 2000], 'every segment has its row, in order');
  t.equal(store.heldBackEndMs('cam1'), undefined, 'and nothing is held back any more');
  t.same(await problems(data, catalog), [], 'verify finds nothing inserted');
});

t.test('recovery indexes a file left at its final path before what is in staging, and so finds it', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const t0 = Date.now() - 60_000;
  // the daemon that refused the row is gone (killed, or its disk failed): only the files tell
  const before = new SegmentStore(data, catalog, log);
  await before.commit({ camera: 'cam1', stagedPath: staged(data, clip, t0, 0), startMs: t0, endMs: t0 + 1000 });
  fillCatalog(catalog, before);
  await t.rejects(before.commit({ camera: 'cam1', stagedPath: staged(data, clip, t0, 1), startMs: t0 + 1000, endMs: t0 + 2000 }), { code: 'SQLITE_FULL' });
  freeCatalog(catalog);
  // the next run's open segment, left in staging
  staged(data, clip, t0 + 5000, 0);

  const recovered = await recoverCamera(data, 'cam1', catalog, new SegmentStore(data, catalog, log), log, { orphansPossible: false });
  t.same(recovered.indexed.map((r) => r.path), [segmentPath('cam1', t0 + 1000), segmentPath('cam1', t0 + 5000)], 'the file at its place, then the staged one');
  t.same(await problems(data, catalog), [], 'verify finds nothing inserted');
});
