/**
 * A recorder stopped by a signal (SIGSTOP, a debugger) sends nothing, its camera being fine: the
 * watchdog restarts it as for a stall, but the gap is the recorder's, not "no media from the
 * camera" (an outside probe froze ffmpeg for 30 s while three other recorders read the same server).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

t.test('a recorder stopped with SIGSTOP: killed and restarted, its gap a recorder_crashed that says so', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam', url: sim.url('cam') }], { stallTimeoutS: 4 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('cam')) >= 2, 60_000, 'two segments');
  // the recorder's pid, not the daemon's (each log line starts with the daemon's own)
  const pid = Number(/"camera":"cam","pid":(\d+),"url":"[^"]*","msg":"ffmpeg recorder started"/.exec(daemon.output)?.[1]);
  t.ok(pid > 0 && pid !== daemon.pid, `the recorder's pid (${pid})`);
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  await daemon.waitForLog(/recorder process stopped: restarting it/, 30_000);
  const before = daemon.countLog(segmentIndexed('cam'));
  await until(() => daemon.countLog(segmentIndexed('cam')) >= before + 1, 60_000, 'recording again');
  t.equal((await daemon.stop()).code, 0);
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  const gaps = db.prepare("SELECT cause, detail FROM gaps WHERE camera = 'cam' AND cause != 'daemon_stopped'").all() as Array<{ cause: string; detail: string }>;
  db.close();
  t.equal(gaps.length, 1, 'one gap');
  t.equal(gaps[0]?.cause, 'recorder_crashed', 'the recorder\'s fault');
  t.match(gaps[0]?.detail ?? '', /the recorder process was stopped \(state T/, `saying what happened: ${gaps[0]?.detail}`);
  t.notMatch(gaps[0]?.detail ?? '', /no media from the camera/, 'not blaming the camera');
});
