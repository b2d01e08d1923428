/**
 * The data disk full under running recorders: their writes fail, and what they close meanwhile
 * may hold no byte (GStreamer keeps closing files). A row for such a file claimed its time as
 * recorded (verify agreed: the hash of nothing matches nothing), and the `disk_full` gap began
 * where the rows the full disk held back began, over them. Now no segment is indexed without
 * bytes, the time is a `disk_full` gap after the last row with pictures, and recording goes on
 * once there is room. Both backends, side by side on one disk.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { recordedMedia } from '../../common/media-probe.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';
import { fillUntil, NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';

const BACKENDS = ['gstreamer', 'ffmpeg'] as const;

t.test('a disk filled under the recorders: no segment without bytes, the time a disk_full gap after the last pictures, recording again once there is room', { skip: NEEDS_ROOT }, async (t) => {
  const { dir, data } = tmpfsDataDir(t, 32, 'full-disk');
  const sim = await new CameraSim({ mounts: [...BACKENDS], width: 320, height: 180, fps: 10, bitrate: 800, pattern: 'snow' }).start();
  t.teardown(() => sim.kill());
  // no free-space floor: nothing is deleted to make room, the disk stays full until the filler goes
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: sim.url(b), backend: b })), { segmentSeconds: 1 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => BACKENDS.every((b) => daemon.countLog(segmentIndexed(b)) >= 2), 40000, 'segments of both');
  const filler = join(data, 'not-a-recording.bin');
  t.teardown(() => { try { unlinkSync(filler); } catch { /* gone */ } });
  await fillUntil(data, filler, 0);
  await sleep(6000); // several segments' time on a full disk
  unlinkSync(filler);
  const before = BACKENDS.map((b) => daemon.countLog(segmentIndexed(b)));
  await until(() => BACKENDS.every((b, i) => daemon.countLog(segmentIndexed(b)) >= before[i]! + 3), 40000, 'segments of both once there is room');
  t.equal(daemon.proc!.exitCode, null, 'the daemon recorded through it');
  t.equal((await daemon.stop()).code, 0);

  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  for (const backend of BACKENDS) {
    const rows = db.prepare('SELECT start_ms, end_ms, bytes, path FROM segments WHERE camera = ? ORDER BY start_ms').all(backend) as Array<{ start_ms: number; end_ms: number; bytes: number; path: string }>;
    const gaps = db.prepare('SELECT cause, start_ms, end_ms FROM gaps WHERE camera = ? ORDER BY start_ms').all(backend) as Array<{ cause: string; start_ms: number; end_ms: number | null }>;
    t.same(rows.filter((r) => r.bytes === 0), [], `${backend}: no segment without bytes among ${rows.length}`);
    // a file cut short by the full disk claims only the time it plays
    const claims = await Promise.all(rows.map(async (r) => {
      const probe = await recordedMedia(join(data, r.path));
      return { path: r.path, bytes: r.bytes, claimedMs: r.end_ms - r.start_ms, playsMs: probe.kind === 'media' ? probe.info.durationMs : -1 };
    }));
    t.same(claims.filter((c) => c.claimedMs - c.playsMs > 500), [], `${backend}: no segment claims more than half a second beyond what its file plays`);
    t.ok(gaps.some((g) => g.cause === 'disk_full'), `${backend}: the full disk is a gap on record: ${JSON.stringify(gaps)}`);
    // every stretch between two segments over a second is a gap's
    const holes = rows.slice(1).map((r, i) => ({ from: rows[i]!.end_ms, to: r.start_ms })).filter((h) => h.to - h.from > 1000);
    t.same(holes.filter((h) => !gaps.some((g) => g.start_ms <= h.from + 1000 && (g.end_ms ?? Infinity) >= h.to - 1000)), [], `${backend}: every hole is covered by a gap: ${JSON.stringify(holes)}`);
    // (a row of no time, one part picture, may sit where a gap begins: it claims none of the gap's time)
    t.same(rows.filter((r) => gaps.some((g) => Math.min(r.end_ms, g.end_ms ?? Infinity) - Math.max(r.start_ms, g.start_ms) > 0)), [], `${backend}: no segment's time inside a gap (the empty ones were, and those the full disk held back)`);
    t.same(gaps.filter((g) => g.end_ms === g.start_ms), [], `${backend}: no gap of no time (a row of no time closed one): ${JSON.stringify(gaps)}`);
  }
  const verify = await runCli(['verify', '--data', data]);
  t.equal(verify.code, 0, verify.stdout.slice(-1500));
});
