import t from 'tap';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { SegmentStore, stagingDir } from '../../recorder/segment-store.js';
import { makeClip } from '../support/backdate.js';

/*
 * How long the oldest closed segment has waited for the catalog (SegmentStore.waitingMs): what
 * the daemon reads to put indexing before view watching. Real files, a real catalog.
 */
t.test('waitingMs is the age of the oldest segment not yet in the catalog, 0 once every one is', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const store = new SegmentStore(dir, catalog, pino({ level: 'silent' }));
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  t.equal(store.waitingMs, 0, 'nothing waits');
  const staging = stagingDir(dir, 'cam');
  mkdirSync(staging, { recursive: true });
  const start = Date.now() - 60_000;
  const commits = Array.from({ length: 6 }, (_, i) => {
    const staged = join(staging, `${start}-${String(i).padStart(6, '0')}.mp4`);
    copyFileSync(clip, staged);
    return store.commit({ camera: 'cam', stagedPath: staged, startMs: start + i * 1000, endMs: start + (i + 1) * 1000 });
  });
  // nothing is placed before the event loop turns: all six wait
  const waited = store.waitingMs;
  t.ok(waited > 0, `six closed segments handed over at once: the oldest is waiting (${waited.toFixed(3)} ms so far)`);
  const first = await commits[0]!;
  t.ok(first.id > 0, 'the first is indexed');
  await Promise.all(commits);
  await new Promise((r) => setImmediate(r));
  t.equal(store.waitingMs, 0, 'every one indexed: nothing waits');
  t.equal((catalog.db.prepare('SELECT COUNT(*) AS n FROM segments').get() as { n: number }).n, 6, 'six rows');
});
