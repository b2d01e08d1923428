import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { processesMentioning, zombiesOf } from '../support/processes.js';

/*
 * One camera simulator serves two cameras to one daemon: `ffmpeg` is recorded with the ffmpeg
 * backend, `gstreamer` with the GStreamer one. Killing the simulator kills both cameras at once,
 * SIGSTOP stalls both at once, so each backend goes through the same interruption at the same
 * time, and every assertion is made for each camera on its own.
 */
const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

interface Gap { camera: string; start_ms: number; end_ms: number | null; cause: string; detail: string | null }
interface Seg { start_ms: number; end_ms: number }

function query<T>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const gapsOf = (dataDir: string, camera: string) => query<Gap>(dataDir, "SELECT * FROM gaps WHERE camera = ? AND cause != 'daemon_stopped' ORDER BY id", camera);
const segmentsOf = (dataDir: string, camera: string) => query<Seg>(dataDir, 'SELECT start_ms, end_ms FROM segments WHERE camera = ? ORDER BY start_ms', camera);
const logOf = (camera: string, message: string) => new RegExp(`"camera":"${camera}".*${message}|${message}.*"camera":"${camera}"`);
/** the recorder processes of one camera: their command lines name its staging dir */
const recordersOf = (dataDir: string, camera: string) => processesMentioning(join(dataDir, 'recordings', camera, '.staging'));

t.test('a dead camera, then a stalled one: each a gap with its cause and bounds, recording resumes, no process hangs (ffmpeg and gstreamer side by side)', async (t) => {
  const sim = await new CameraSim({ mounts: [...BACKENDS] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: sim.url(b), backend: b })));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const indexed = (camera: string) => daemon.countLog(segmentIndexed(camera));
  const gapsClosed = (camera: string) => daemon.countLog(logOf(camera, 'gap closed'));
  // two segments each: the second ends where media really flowed, so a gap has a last segment to start at
  await until(() => BACKENDS.every((b) => indexed(b) >= 2), 60_000, 'two segments of each camera');

  // --- a dead camera
  const killedAt = Date.now();
  await sim.kill();
  const failures = (camera: string) => daemon.countLog(logOf(camera, 'recorder stopped unexpectedly'));
  await until(() => BACKENDS.every((b) => failures(b) >= 1), 20_000, 'each recorder seeing its camera die');
  // restarts against the dead camera fail too: after two of them, none of those recorders may be a zombie
  const failed = Object.fromEntries(BACKENDS.map((b) => [b, failures(b)]));
  await until(() => BACKENDS.every((b) => failures(b) >= failed[b]! + 2), 20_000, 'two failed restarts of each recorder');
  t.same(zombiesOf(daemon.pid), [], 'failed recorders are reaped, never zombies');
  const backAt = Date.now();
  await sim.restart();
  // a gap closes when the first segment after it is indexed
  await until(() => BACKENDS.every((b) => gapsClosed(b) >= 1), 30_000, 'the gap of each camera closed');

  for (const backend of BACKENDS) {
    const gaps = gapsOf(dataDir, backend);
    t.equal(gaps.length, 1, `${backend}: one interruption, one gap`);
    const gap = gaps[0]!;
    t.equal(gap.cause, 'camera_unreachable', `${backend}: caused by the camera being unreachable`);
    t.ok(Math.abs(gap.start_ms - killedAt) < 2000, `${backend}: the gap starts ${gap.start_ms - killedAt} ms from the kill`);
    // recording can resume only once the camera is back and the next restart (≤ 1.2 s here) connects
    t.ok(gap.end_ms! >= backAt - 500 && gap.end_ms! - backAt < 2000 + 1200, `${backend}: the gap ends ${gap.end_ms! - backAt} ms after the camera came back`);
    const segs = segmentsOf(dataDir, backend);
    t.ok(segs.some((s) => s.start_ms === gap.end_ms), `${backend}: the gap ends where the next segment starts`);
    t.ok(segs.some((s) => Math.abs(s.end_ms - gap.start_ms) < 50), `${backend}: and starts where the last media ended`);
  }

  // --- a stalled camera: the socket stays open, nothing flows
  const pausedAt = Date.now();
  sim.pause();
  const stallOf = (camera: string) => gapsOf(dataDir, camera)[1];
  const detectedAfter: Record<string, number> = {};
  await until(() => {
    for (const b of BACKENDS) if (detectedAfter[b] === undefined && stallOf(b)) detectedAfter[b] = Date.now() - pausedAt;
    return BACKENDS.every((b) => detectedAfter[b] !== undefined);
  }, 20_000, 'a gap row for the stall of each camera');
  for (const backend of BACKENDS) {
    t.ok(detectedAfter[backend]! < 15000, `${backend}: stall detected after ${detectedAfter[backend]} ms`);
    t.equal(stallOf(backend)!.cause, 'stalled', `${backend}: ${JSON.stringify(stallOf(backend))}`);
    // ffmpeg times out by itself ("Connection timed out"); a recorder the watchdog stopped said
    // only "stop requested", which is not why
    t.match(stallOf(backend)!.detail, /Connection timed out|^no media from the camera for \d+ s \(stall timeout \d+ s\)/, `${backend}: the gap says why`);
    const running = recordersOf(dataDir, backend).filter((p) => p.state !== 'Z');
    t.ok(running.length <= 1, `${backend}: at most the restarted recorder runs, the stalled one is gone: ${JSON.stringify(running.map((p) => p.cmdline))}`);
  }
  sim.resume();
  await until(() => BACKENDS.every((b) => gapsClosed(b) >= 2), 30_000, 'the stall gap of each camera closed');
  t.same(zombiesOf(daemon.pid), [], 'no zombies');

  t.equal((await daemon.stop()).code, 0, 'the daemon stops cleanly');
  for (const backend of BACKENDS) {
    t.same(gapsOf(dataDir, backend).map((g) => g.cause), ['camera_unreachable', 'stalled'], `${backend}: two interruptions, two gaps`);
  }
  t.same(processesMentioning(dataDir), [], 'no recorder process is left behind');
});
