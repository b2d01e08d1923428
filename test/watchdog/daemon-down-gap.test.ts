import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, sleep, until, writeConfig } from '../support/daemon.js';

/** how long the daemon stays down: longer than the 5 s a restart may take to record again, so
 * a gap measured from the restart instead of the kill would be too short */
const DOWN_MS = 8000;

t.test(`kill -9 of the daemon for ${DOWN_MS / 1000} s: the restart records a daemon_down gap of that length`, async (t) => {
  const sim = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await first.waitForLog(/segment indexed/);
  await sleep(3000);
  const killedAt = Date.now();
  await first.stop('SIGKILL');
  await sleep(DOWN_MS);
  const restartedAt = Date.now();
  const second = new DaemonProcess(config).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  await second.waitForLog(/gap closed/, 30000);
  t.equal((await second.stop()).code, 0);

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const gaps = db.prepare('SELECT * FROM gaps ORDER BY id').all() as Array<{ cause: string; start_ms: number; end_ms: number }>;
  t.equal(gaps.length, 1, 'one gap');
  const gap = gaps[0];
  t.equal(gap.cause, 'daemon_down', 'caused by the daemon going down, not by the camera');
  // the partial segment ends at its last fragment, up to a GOP (1 s) before the kill
  t.ok(Math.abs(gap.start_ms - killedAt) < 2000, `it starts ${gap.start_ms - killedAt} ms from the kill`);
  t.ok(gap.end_ms - restartedAt >= 0 && gap.end_ms - restartedAt < 5000, `it ends ${gap.end_ms - restartedAt} ms after the restart (start-up and first keyframe)`);
  const length = gap.end_ms - gap.start_ms;
  t.ok(length >= DOWN_MS && length < DOWN_MS + 5000, `it lasts ${length} ms (down ${DOWN_MS} ms)`);

  const span = db.prepare('SELECT min(start_ms) AS first, max(end_ms) AS last FROM segments').get() as { first: number; last: number };
  const listed = await runCli(['recordings', '--config', config, '--camera', 'cam1', '--gaps', '--json',
    '--from', String(span.first), '--to', String(span.last)]);
  t.equal(listed.code, 0);
  const report = JSON.parse(listed.stdout);
  t.equal(report.gaps[0].cause, 'daemon_down', '`recordings --gaps` shows it');
  const expected = 1 - length / (span.last - span.first);
  const got = report.days.reduce((s: number, d: { continuity: number }) => s + d.continuity, 0) / report.days.length;
  t.ok(report.days.length > 1 || Math.abs(got - expected) < 0.05, `continuity ${got.toFixed(3)} against ${expected.toFixed(3)} expected`);
});

t.test('a camera out when the daemon is killed, then when it is stopped: each gap has the cause of its own time', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
  const started: DaemonProcess[] = [];
  const start = () => {
    const d = new DaemonProcess(config).start();
    started.push(d);
    return d;
  };
  t.teardown(() => { for (const d of started) d.proc?.kill('SIGKILL'); });
  const handedOver = /gap handed over: its cause changed/;

  // the camera goes, then the daemon is killed inside its gap
  const first = start();
  await first.waitForLog(/segment indexed/);
  await sim.kill();
  await first.waitForLog(/recorder stopped unexpectedly/, 20000);
  const killedAt = Date.now();
  await first.stop('SIGKILL');
  await sleep(3000);
  // back with the camera still out: the kill's gap is the daemon's, and from its start the camera's again
  const restartedAt = Date.now();
  const second = start();
  await until(() => second.countLog(handedOver) >= 2, 30000, 'the camera\'s gap handed to the daemon\'s, and back');
  // stopped cleanly with the camera still out, started again once it is back
  const stoppedAt = Date.now();
  t.equal((await second.stop()).code, 0);
  const stopExited = Date.now();
  await sleep(2000);
  await sim.restart();
  const restartedAgainAt = Date.now();
  const third = start();
  await third.waitForLog(/gap closed/, 30000);
  t.equal((await third.stop()).code, 0);

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const gaps = db.prepare('SELECT * FROM gaps ORDER BY start_ms, id').all() as Array<{ cause: string; start_ms: number; end_ms: number; detail: string }>;
  t.same(gaps.map((g) => g.cause), ['camera_unreachable', 'daemon_down', 'camera_unreachable', 'daemon_stopped'], JSON.stringify(gaps));
  for (const [i, g] of gaps.entries()) {
    if (i > 0) t.equal(g.start_ms, gaps[i - 1]!.end_ms, `gap ${i} starts where gap ${i - 1} ends: no hole, no overlap`);
  }
  const [out, down, outAgain, stopped] = gaps as [typeof gaps[0], typeof gaps[0], typeof gaps[0], typeof gaps[0]];
  // the killed run's last sign of life is at most ALIVE_INTERVAL_MS (10 s) old
  t.ok(out.end_ms <= killedAt && out.end_ms >= Math.min(killedAt - 12000, out.start_ms), `the camera's gap ends ${killedAt - out.end_ms} ms before the kill`);
  // ffmpeg's last words were warnings about the packets before ("Non-monotonous DTS", "Timestamps are unset")
  t.match(out.detail, /closed the stream|Connection refused|timed out/, `the camera's gap says why, not ffmpeg's last warning: ${out.detail}`);
  t.ok(down.end_ms >= restartedAt && down.end_ms - restartedAt < 5000, `the daemon's gap ends ${down.end_ms - restartedAt} ms after the restart`);
  t.ok(outAgain.end_ms >= stoppedAt && outAgain.end_ms <= stopExited, 'the camera\'s second gap ends at the clean stop');
  t.ok(stopped.end_ms >= restartedAgainAt && stopped.end_ms - restartedAgainAt < 5000, `the stop's gap ends ${stopped.end_ms - restartedAgainAt} ms after the start, at a segment`);
  t.ok(db.prepare('SELECT 1 FROM segments WHERE start_ms = ?').get(stopped.end_ms), 'where the next segment starts');
  const verified = await runCli(['verify', '--config', config]);
  t.equal(verified.code, 0, `verify accepts the ledger: ${verified.stdout}${verified.stderr}`);
});
