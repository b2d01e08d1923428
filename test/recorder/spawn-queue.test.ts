import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import { FfmpegBackend } from '../../recorder/backends/ffmpeg.js';
import type { BackendExit } from '../../recorder/backends/backend.js';
import { SpawnQueue } from '../../recorder/backends/spawn-queue.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { SegmentStore, stagingDir } from '../../recorder/segment-store.js';
import { makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { until } from '../support/daemon.js';
import { CameraSupervisor } from '../../watchdog/camera-supervisor.js';
import type { EventType } from '../../watchdog/events.js';

/*
 * The recorders' spawn queue (recorder/backends/spawn-queue.ts): a spawn waits for the closed
 * segments waiting when it was asked for to be indexed, never past its bound. A real segment
 * store and catalog; a commit that cannot finish is one whose staged "file" is a FIFO nobody
 * writes to (its open blocks in the pool until the test opens the other end).
 */
const silent = pino({ level: 'silent' });

function setup(t: Test) {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const store = new SegmentStore(dir, catalog, silent);
  const staging = stagingDir(dir, 'cam');
  mkdirSync(staging, { recursive: true });
  const rows = () => (catalog.db.prepare('SELECT COUNT(*) AS n FROM segments').get() as { n: number }).n;
  return { dir, catalog, store, staging, rows };
}

/** A commit that waits until `release()`: its staged file is a FIFO (then it fails: a FIFO cannot be fsynced). */
function stuckCommit(store: SegmentStore, staging: string): { committed: Promise<unknown>; release: () => void } {
  const start = Date.now() - 60_000;
  const fifo = join(staging, `${start}-000000.mp4`);
  execFileSync('mkfifo', [fifo]);
  const committed = store.commit({ camera: 'cam', stagedPath: fifo, startMs: start, endMs: start + 2000 }).catch((err: unknown) => err);
  let released = false;
  return { committed, release: () => { if (!released) { released = true; closeSync(openSync(fifo, 'w')); } } };
}

t.test('a spawn asked for while segments wait for the catalog runs once they are indexed', async (t) => {
  const { dir, store, staging, rows } = setup(t);
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  const start = Date.now() - 60_000;
  const commits = Array.from({ length: 3 }, (_, i) => {
    const staged = join(staging, `${start}-${String(i).padStart(6, '0')}.mp4`);
    copyFileSync(clip, staged);
    return store.commit({ camera: 'cam', stagedPath: staged, startMs: start + i * 1000, endMs: start + (i + 1) * 1000 });
  });
  t.ok(store.waitingMs > 0, 'three closed segments wait');
  // a bound far past anything three commits take: only the indexing can let it through
  const queue = new SpawnQueue(store, 600_000);
  const seen = await queue.run(() => ({ rows: rows(), waitingMs: store.waitingMs }));
  t.equal(seen.rows, 3, 'the three rows were in the catalog when the spawn ran');
  t.equal(seen.waitingMs, 0, 'nothing waited any more');
  await Promise.all(commits);
});

t.test('a spawn never waits past its bound: a commit that cannot finish does not keep a camera from starting', async (t) => {
  const { store, staging, rows } = setup(t);
  const stuck = stuckCommit(store, staging);
  t.teardown(stuck.release);
  const queue = new SpawnQueue(store, 300);
  const seen = await queue.run(() => ({ rows: rows(), waiting: store.waitingMs > 0 }));
  t.same(seen, { rows: 0, waiting: true }, 'spawned at its bound while the segment still waited');
  stuck.release();
  t.type(await stuck.committed, Error, 'the FIFO commit failed once released (nothing indexed)');
});

t.test('spawns run one at a time, in the order asked for, at once when nothing waits', async (t) => {
  const { store } = setup(t);
  const queue = new SpawnQueue(store, 600_000);
  const order: number[] = [];
  const runs = [1, 2, 3].map((n) => queue.run(() => { order.push(n); return n; }));
  t.same(await Promise.all(runs), [1, 2, 3], 'each caller gets its own spawn\'s result');
  t.same(order, [1, 2, 3], 'in the order asked for');
  // a spawn that throws (ENOENT, EAGAIN) is its caller's failure and does not stop the queue
  await t.rejects(queue.run(() => { throw new Error('spawn failed'); }), /spawn failed/);
  t.equal(await queue.run(() => 4), 4, 'the next spawn still runs');
});

t.test('an ffmpeg recorder stopped while its spawn waits is never spawned; one let through is', async (t) => {
  const { dir, store, staging } = setup(t);
  const stuck = stuckCommit(store, staging);
  t.teardown(stuck.release);
  const queue = new SpawnQueue(store, 600_000);
  const opts = {
    url: 'rtsp://127.0.0.1:9/none', safeUrl: 'rtsp://127.0.0.1:9/none', segmentSeconds: 2, timeoutSeconds: 2, spawnQueue: queue,
  };
  const stopped = new FfmpegBackend({ ...opts, camera: 'a', stagingDir: join(dir, 'a') }, silent);
  const exits: BackendExit[] = [];
  stopped.on('exit', (e) => exits.push(e));
  stopped.start();
  await new Promise((r) => setTimeout(r, 50));
  t.equal(stopped.pid, undefined, 'not spawned while a segment waits');
  const stopping = stopped.stop(1000);
  const spawned = new FfmpegBackend({ ...opts, camera: 'b', stagingDir: join(dir, 'b') }, silent);
  spawned.start();
  stuck.release();
  await stopping;
  t.equal(stopped.pid, undefined, 'the stopped one never ran ffmpeg');
  t.same(exits.map((e) => [e.requested, e.reason]), [[true, 'stopped before ffmpeg started']], 'and says so, as asked for');
  const [exit] = await once(spawned, 'exit') as [BackendExit];
  t.ok(spawned.pid, 'the next one was spawned once the segment was out of the way');
  t.match(exit.reason, /^ffmpeg exited/, `and ran (nothing listens at the URL: ${exit.reason})`);
});

t.test('a recorder waiting in the spawn queue is not stalled: its stall timeout counts from its spawn', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const { dir, catalog, store, staging } = setup(t);
  const stuck = stuckCommit(store, staging);
  t.teardown(stuck.release);
  const events: EventType[] = [];
  const supervisor = new CameraSupervisor('cam', {
    backend: 'ffmpeg',
    backendOptions: {
      camera: 'cam', url: sim.url('cam'), safeUrl: sim.url('cam', false), stagingDir: stagingDir(dir, 'cam'), segmentSeconds: 1, timeoutSeconds: 2,
      spawnQueue: new SpawnQueue(store, 600_000),
    },
    dataDir: dir, catalog, store, log: silent, raise: (type) => { events.push(type); },
    backoffSeconds: [0.5], stallTimeoutMs: 2000,
  });
  t.teardown(() => supervisor.stop());
  let segments = 0;
  supervisor.on('segment', () => { segments++; });
  supervisor.start();
  // past the stall timeout (checked every second), the recorder still waiting for its spawn
  await new Promise((r) => setTimeout(r, 3500));
  t.equal(supervisor.pid, undefined, 'still waiting in the queue');
  t.same(events, [], 'no stall, no restart while it waits');
  stuck.release();
  await until(() => segments >= 2, 60_000, 'two segments');
  t.notOk(events.includes('stall_detected'), 'recording once spawned, never declared stalled');
});
