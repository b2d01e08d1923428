/**
 * The daemon killed again and again, some runs before they indexed a segment (an outside probe:
 * 18 kill -9 at random moments). Each such run leaves its files in staging and the gap of the run
 * before it open; the next start recovers the files into that gap. Before, one `daemon_down`
 * gap covered the recordings recovered inside it, and the downtimes between them had no gap.
 * Now gaps and segments tile each camera's time: no segment inside a gap, no hole without one.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';

const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

t.test('killed before its first segment, twice: the recovered segments close the gap, each downtime is a gap of its own', async (t) => {
  const sim = await new CameraSim({ mounts: [...BACKENDS], width: 320, height: 180, fps: 10, gop: 10, bitrate: 400 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: sim.url(b), backend: b })), { segmentSeconds: 2 });
  const data = join(dir, 'data');
  const staged = (camera: string) => {
    const staging = join(data, 'recordings', camera, '.staging');
    return readdirSync(staging).filter((f) => f.endsWith('.mp4')).some((f) => statSync(join(staging, f)).size > 20_000);
  };

  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await until(() => BACKENDS.every((b) => first.countLog(segmentIndexed(b)) >= 2), 40000, 'segments of each camera');
  await first.stop('SIGKILL');
  for (let run = 2; run <= 3; run++) {
    await sleep(1500);
    const short = new DaemonProcess(config).start();
    t.teardown(() => { short.proc?.kill('SIGKILL'); });
    // killed once its open files hold pictures, before it indexes any
    await until(() => BACKENDS.every((b) => short.countLog(segmentIndexed(b)) >= 1 || staged(b)), 40000, `pictures in staging (run ${run})`);
    await short.stop('SIGKILL');
  }
  await sleep(1500);
  const last = new DaemonProcess(config).start();
  t.teardown(() => { last.proc?.kill('SIGKILL'); });
  await until(() => BACKENDS.every((b) => last.countLog(segmentIndexed(b)) >= 2), 40000, 'segments of each camera after the kills');
  t.equal((await last.stop()).code, 0);

  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  for (const camera of BACKENDS) {
    const rows = db.prepare('SELECT start_ms, end_ms, origin FROM segments WHERE camera = ? ORDER BY start_ms').all(camera) as Array<{ start_ms: number; end_ms: number; origin: string }>;
    const gaps = db.prepare("SELECT cause, start_ms, end_ms FROM gaps WHERE camera = ? AND cause != 'daemon_stopped' ORDER BY start_ms").all(camera) as Array<{ cause: string; start_ms: number; end_ms: number | null }>;
    t.ok(rows.some((r) => r.origin === 'recovered'), `${camera}: the killed runs' files were recovered`);
    // before and after the recovered files at least (a run killed before its files held a picture is inside the gap before it)
    t.ok(gaps.filter((g) => g.cause === 'daemon_down' && g.end_ms! > g.start_ms).length >= 2, `${camera}: the downtimes are daemon_down gaps of their own: ${JSON.stringify(gaps)}`);
    t.same(gaps.filter((g) => g.end_ms === g.start_ms), [], `${camera}: no gap without length`);
    const inside = rows.filter((r) => gaps.some((g) => Math.min(g.end_ms ?? Infinity, r.end_ms) - Math.max(g.start_ms, r.start_ms) > 1000));
    t.same(inside, [], `${camera}: no segment inside a gap`);
    const holes = rows.slice(1).map((r, i) => ({ from: rows[i]!.end_ms, to: r.start_ms })).filter((h) => h.to - h.from > 1000);
    t.same(holes.filter((h) => !gaps.some((g) => g.start_ms <= h.from + 1000 && (g.end_ms ?? Infinity) >= h.to - 1000)), [], `${camera}: every hole is a gap's`);
  }
  const verify = await runCli(['verify', '--data', data]);
  t.equal(verify.code, 0, verify.stdout.slice(-1500));
});
