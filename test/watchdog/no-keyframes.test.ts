import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { recordedMedia } from '../../common/media-probe.js';
import { segmentOverdueMs } from '../../watchdog/camera-supervisor.js';

/**
 * A camera that sends one keyframe and then only predicted frames: a segment can close only on a
 * keyframe, so the recorder held everything since in memory (an MP4 fragment is written at the
 * next keyframe). Nothing reached the disk or the catalog until the recorder stopped, and a kill
 * lost it all. The supervisor now stops the recorder once the segment is overdue: the file is
 * written and indexed while the daemon runs, and the gap says why.
 */
t.test('a camera that sends no keyframe after the first: its footage is written and indexed while recording, the gap says why', async (t) => {
  // one keyframe per session: x264's keyframe interval longer than the test
  const sim = await new CameraSim({ mounts: ['ff', 'gst'], fps: 8, gop: 100_000, width: 320, height: 180 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [
    { id: 'ff', url: sim.url('ff'), backend: 'ffmpeg' },
    { id: 'gst', url: sim.url('gst'), backend: 'gstreamer' },
  ], { segmentSeconds: 2 });
  const overdueMs = segmentOverdueMs(2);
  // README and docs/watchdog.md: three times the segment length, at least 30 s
  t.same([overdueMs, segmentOverdueMs(20), segmentOverdueMs(60)], [30_000, 60_000, 180_000], 'overdue at three times the length, at least 30 s');
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const startedAt = Date.now();
  // indexed while the daemon runs (before, nothing was until it stopped)
  await until(() => daemon.countLog(segmentIndexed('ff')) >= 1 && daemon.countLog(segmentIndexed('gst')) >= 1, overdueMs + 30_000, 'a segment of each camera indexed');
  const firstIndexedAfter = Date.now() - startedAt;
  // and recording again after the restart, on the keyframe of the camera's new session
  await until(() => daemon.countLog(segmentIndexed('ff')) >= 2 && daemon.countLog(segmentIndexed('gst')) >= 2, overdueMs + 30_000, 'a second segment of each camera');
  t.equal((await daemon.stop()).code, 0);

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.ok(firstIndexedAfter >= overdueMs - 1000, `the first segments were indexed after ${firstIndexedAfter} ms: no segment closes before it is overdue (${overdueMs} ms)`);
  for (const camera of ['ff', 'gst']) {
    const rows = db.prepare('SELECT * FROM segments WHERE camera = ? ORDER BY start_ms').all(camera) as Array<{ path: string; start_ms: number; end_ms: number }>;
    const first = rows[0]!;
    const length = first.end_ms - first.start_ms;
    t.ok(length >= overdueMs - 8000 && length <= overdueMs + 2000, `${camera}: the first segment holds ${length} ms, what the recorder had kept in memory`);
    const played = await recordedMedia(join(dir, 'data', first.path));
    t.equal(played.kind, 'media', `${camera}: its file plays`);
    if (played.kind === 'media') t.ok(Math.abs(played.info.durationMs - length) < 1500, `${camera}: the file plays ${played.info.durationMs} ms of its ${length} ms`);
    const gaps = db.prepare('SELECT * FROM gaps WHERE camera = ? ORDER BY id').all(camera) as Array<{ cause: string; start_ms: number; end_ms: number | null; detail: string }>;
    const gap = gaps.find((g) => g.start_ms >= first.end_ms - 1000);
    t.ok(gap, `${camera}: a gap after the first segment`);
    t.equal(gap?.cause, 'stream_unusable', `${camera}: caused by the stream`);
    t.match(gap?.detail, /no keyframe from the camera for \d+ s/, `${camera}: the gap says why`);
    t.match(gap?.detail, /I-frame interval to at most 1 s/, `${camera}: and what to set`);
    t.ok(gap?.end_ms !== null && gap!.end_ms! - gap!.start_ms < 10_000, `${camera}: the restart records again within seconds`);
  }
});
