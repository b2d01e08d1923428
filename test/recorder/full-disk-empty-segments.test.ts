/**
 * The data disk full under a running recorder: its writes fail, and what it closes meanwhile may
 * hold no byte. A row for such a file claimed its time as recorded (verify agreed: the hash of
 * nothing matches nothing). Now no segment is indexed without bytes, the time is a `disk_full`
 * gap, and recording goes on once there is room.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';
import { fillUntil, NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';

for (const backend of ['gstreamer', 'ffmpeg'] as const) {
  t.test(`${backend}: a disk filled under the recorder: no segment without bytes, the time a disk_full gap, recording again once there is room`, { skip: NEEDS_ROOT }, async (t) => {
    const { dir, data } = tmpfsDataDir(t, 24, `full-${backend}`);
    const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10, bitrate: 800, pattern: 'snow' }).start();
    t.teardown(() => sim.kill());
    // no free-space floor: nothing is deleted to make room, the disk stays full until the filler goes
    const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1'), backend }], { segmentSeconds: 1 });
    const daemon = new DaemonProcess(config).start();
    t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
    await daemon.waitForLog(segmentIndexed('cam1'), 40000);
    await sleep(2000);
    const filler = join(data, 'not-a-recording.bin');
    t.teardown(() => { try { unlinkSync(filler); } catch { /* gone */ } });
    await fillUntil(data, filler, 0);
    await sleep(6000); // several segments' time on a full disk
    unlinkSync(filler);
    const before = daemon.countLog(segmentIndexed('cam1'));
    await until(() => daemon.countLog(segmentIndexed('cam1')) >= before + 3, 40000, 'segments once there is room');
    t.equal(daemon.proc!.exitCode, null, 'the daemon recorded through it');
    t.equal((await daemon.stop()).code, 0);

    const db = new Database(join(data, 'catalog.db'), { readonly: true });
    const rows = db.prepare("SELECT start_ms, end_ms, bytes FROM segments WHERE camera = 'cam1' ORDER BY start_ms").all() as Array<{ start_ms: number; end_ms: number; bytes: number }>;
    const gaps = db.prepare("SELECT cause, start_ms, end_ms FROM gaps WHERE camera = 'cam1' ORDER BY start_ms").all() as Array<{ cause: string; start_ms: number; end_ms: number | null }>;
    db.close();
    t.same(rows.filter((r) => r.bytes === 0), [], `no segment without bytes among ${rows.length}`);
    t.ok(gaps.some((g) => g.cause === 'disk_full'), `the full disk is a gap on record: ${JSON.stringify(gaps)}`);
    // every stretch between two segments over a second is a gap's
    const holes = rows.slice(1).map((r, i) => ({ from: rows[i]!.end_ms, to: r.start_ms })).filter((h) => h.to - h.from > 1000);
    t.same(holes.filter((h) => !gaps.some((g) => g.start_ms <= h.from + 1000 && (g.end_ms ?? Infinity) >= h.to - 1000)), [], `every hole is covered by a gap: ${JSON.stringify(holes)}`);
    t.same(rows.filter((r) => gaps.some((g) => r.start_ms >= g.start_ms && r.end_ms <= (g.end_ms ?? Infinity))), [], 'no segment inside a gap (the empty ones were)');
    const verify = await runCli(['verify', '--data', data]);
    t.equal(verify.code, 0, verify.stdout.slice(-1500));
  });
}
