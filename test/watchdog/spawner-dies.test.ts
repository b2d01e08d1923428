/**
 * The daemon's own helper that starts the recorders (recorder/backends/spawner.py) killed under
 * running cameras: the recorders die with it, and that is the box's failure, not the cameras'.
 * Their gaps said `camera_unreachable` "closed the stream (EOS)" (the GStreamer child ends its
 * pipeline with EOS on its parent-death signal) or `stream_unusable` (an outside probe), which
 * sends a site manager to cameras that were fine.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SPAWNER_SCRIPT } from '../../recorder/backends/spawner.js';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { processesMentioning } from '../support/processes.js';

const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

t.test('a killed spawner: each camera a recorder_crashed gap naming the spawner, and recording again', async (t) => {
  const sim = await new CameraSim({ mounts: [...BACKENDS], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: sim.url(b), backend: b })));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => BACKENDS.every((b) => daemon.countLog(segmentIndexed(b)) >= 2), 60_000, 'two segments of each camera');
  const spawners = processesMentioning(SPAWNER_SCRIPT).filter((p) => p.ppid === daemon.pid && p.state !== 'Z');
  t.equal(spawners.length, 1, 'the daemon runs one spawner');
  process.kill(spawners[0]!.pid, 'SIGKILL');
  const closed = (b: string) => daemon.countLog(new RegExp(`"camera":"${b}".*"gap closed"`));
  await until(() => BACKENDS.every((b) => closed(b) >= 1), 30_000, 'the gap of each camera closed: recording again');
  t.equal((await daemon.stop()).code, 0);
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  for (const backend of BACKENDS) {
    const gaps = db.prepare("SELECT cause, detail FROM gaps WHERE camera = ? AND cause != 'daemon_stopped'").all(backend) as Array<{ cause: string; detail: string }>;
    t.same(gaps.map((g) => g.cause), ['recorder_crashed'], `${backend}: ${JSON.stringify(gaps)}`);
    t.match(gaps[0]?.detail, /^the recorder spawner was killed by SIGKILL/, `${backend}: the gap says why`);
  }
});
