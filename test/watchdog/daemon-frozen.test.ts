import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';

/*
 * The daemon itself held past the stall timeout (SIGSTOP here; swapping or a long fsync on a box)
 * while its camera and recorder go on: Node runs the overdue stall check before it reads the
 * recorder's progress lines waiting in the pipe, and a healthy camera was judged silent, its
 * recorder killed and a "stalled" gap blamed on it (an outside probe). Both backends.
 */
const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

t.test('a daemon frozen longer than the stall timeout does not take its healthy cameras for stalled', async (t) => {
  const sim = await new CameraSim({ mounts: [...BACKENDS] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: sim.url(b), backend: b })), { stallTimeoutS: 3 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  for (const b of BACKENDS) await daemon.waitForLog(segmentIndexed(b), 60_000);
  daemon.proc!.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 7000));
  daemon.proc!.kill('SIGCONT');
  // the next segments of each camera, indexed after the freeze: recording went on
  const mark = daemon.output.length;
  for (const b of BACKENDS) await daemon.waitForLog(segmentIndexed(b), 30_000);
  await new Promise((r) => setTimeout(r, 4000)); // a few stall checks after the freeze
  const after = daemon.output.slice(mark);
  t.notMatch(daemon.output, /recorder stalled: no media/, 'no recorder taken for stalled');
  t.notMatch(daemon.output, /"event":"stall_detected"/, 'no stall raised');
  t.match(after, segmentIndexed('ffmpeg'), 'ffmpeg\'s camera recorded on');
  const { code } = await daemon.stop();
  t.equal(code, 0);
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare("SELECT camera, cause FROM gaps WHERE cause IN ('stalled', 'camera_unreachable')").all(), [], 'no gap blamed on a camera');
});
