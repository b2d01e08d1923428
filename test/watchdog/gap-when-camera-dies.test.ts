import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { recordingCamera, sleep, until } from '../support/daemon.js';
import { processesMentioning, zombiesOf } from '../support/processes.js';

interface Gap { camera: string; start_ms: number; end_ms: number | null; cause: string }
interface Seg { start_ms: number; end_ms: number }

function query<T>(dataDir: string, sql: string): T[] {
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const gapsOf = (dataDir: string) => query<Gap>(dataDir, "SELECT * FROM gaps WHERE cause != 'daemon_stopped' ORDER BY id");
const segmentsOf = (dataDir: string) => query<Seg>(dataDir, 'SELECT start_ms, end_ms FROM segments ORDER BY start_ms');

for (const backend of ['ffmpeg', 'gstreamer'] as const) {
  t.test(`${backend}: a dead camera is a gap with its cause and bounds, and recording resumes`, async (t) => {
    const { sim, daemon, dataDir } = await recordingCamera(t, backend);
    await sleep(2500);

    const killedAt = Date.now();
    await sim.kill();
    await daemon.waitForLog(/recorder stopped unexpectedly/, 20000);
    // restarts against the dead camera fail too: after two of them, none of those recorders may be a zombie
    const failed = daemon.countLog(/recorder stopped unexpectedly/);
    await until(() => daemon.countLog(/recorder stopped unexpectedly/) >= failed + 2, 20000, 'two failed restarts');
    t.same(zombiesOf(daemon.pid), [], 'failed recorders are reaped, never zombies');
    const backAt = Date.now();
    await sim.restart();
    await daemon.waitForLog(/gap closed/, 30000);
    await sleep(500);
    t.equal((await daemon.stop()).code, 0);

    const gaps = gapsOf(dataDir);
    t.equal(gaps.length, 1, 'one interruption, one gap');
    const gap = gaps[0];
    t.equal(gap.cause, 'camera_unreachable');
    t.ok(Math.abs(gap.start_ms - killedAt) < 2000, `the gap starts ${gap.start_ms - killedAt} ms from the kill`);
    // recording can resume only once the camera is back and the next restart (≤ 1.2 s here) connects
    t.ok(gap.end_ms! >= backAt - 500 && gap.end_ms! - backAt < 2000 + 1200, `the gap ends ${gap.end_ms! - backAt} ms after the camera came back`);
    const segs = segmentsOf(dataDir);
    t.ok(segs.some((s) => s.start_ms === gap.end_ms), 'the gap ends where the next segment starts');
    t.ok(segs.some((s) => Math.abs(s.end_ms - gap.start_ms) < 50), 'and starts where the last media ended');
    t.same(processesMentioning(dataDir), [], 'no recorder process is left behind');
  });

  t.test(`${backend}: a stalled camera (SIGSTOP) is detected within 15 s, without a hung process`, async (t) => {
    const { sim, daemon, dataDir } = await recordingCamera(t, backend);
    await sleep(1500);

    const pausedAt = Date.now();
    sim.pause();
    await until(() => gapsOf(dataDir).length > 0, 20000, 'a gap row');
    const detectedAfter = Date.now() - pausedAt;
    t.ok(detectedAfter < 15000, `stall detected after ${detectedAfter} ms`);
    t.equal(gapsOf(dataDir)[0].cause, 'stalled', JSON.stringify(gapsOf(dataDir)[0]));
    const pidsWhileStalled = processesMentioning(dataDir).filter((p) => p.state !== 'Z');
    t.ok(pidsWhileStalled.length <= 1, 'at most the restarted recorder runs: the stalled one is gone');
    sim.resume();
    await daemon.waitForLog(/gap closed/, 30000);
    t.same(zombiesOf(daemon.pid), [], 'no zombies');
    t.equal((await daemon.stop()).code, 0);
    t.same(processesMentioning(dataDir), [], 'no recorder process is left behind');
  });
}
