import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, sleep, until, writeConfig } from '../support/daemon.js';
import { NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';

// A read-only remount is refused while files are open for writing (always, with a recorder
// running), so the failing disk here is a full one: same errors on every write (ENOSPC, and
// SQLITE_FULL for the catalog), and it comes back when the ballast goes.
t.test('a data disk that fails is reported, the daemon survives, and recording resumes when it is back', { skip: NEEDS_ROOT }, async (t) => {
  const { dir, data } = tmpfsDataDir(t, 64, 'disk-fails');
  const ballast = join(data, 'ballast');
  execFileSync('dd', ['if=/dev/zero', `of=${ballast}`, 'bs=1M', 'count=50', 'status=none']);

  const sim = await new CameraSim({ mounts: ['cam1'], pattern: 'snow', bitrate: 8000 }).start();
  t.teardown(() => sim.kill());
  // floor 0: retention never frees space, so the disk really runs full
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { floorMb: 0 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/segment indexed/);

  await daemon.waitForLog(/"event":"disk_unwritable"/, 60000);
  t.match(daemon.output, /"cause":"disk_full"/, 'the recorder failed on the full disk');
  await sleep(3000);
  t.equal(daemon.proc!.exitCode, null, 'the daemon keeps running on a failed disk');

  rmSync(ballast);
  const backAt = Date.now();
  const indexedBefore = daemon.countLog(/segment indexed/);
  await daemon.waitForLog(/gap closed/, 30000);
  // the same 2.5 s after the gap closed as a fixed wait allowed, over as soon as a segment is in
  const resumed = await until(() => daemon.countLog(/segment indexed/) > indexedBefore, 2500).then(() => true, () => false);
  t.ok(resumed, `recording resumed once the disk had room (${Date.now() - backAt} ms)`);
  t.equal((await daemon.stop()).code, 0);

  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const gaps = db.prepare("SELECT cause, detail, start_ms, end_ms FROM gaps WHERE cause != 'daemon_stopped'").all() as Array<{ cause: string }>;
  t.ok(gaps.length >= 1 && gaps.every((g) => g.cause === 'disk_full'), `the interruption is a disk_full gap: ${JSON.stringify(gaps)}`);
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the catalog survived');
  // the alarm raised while the catalog could not be written waited and went in, before the all-clear (it was dropped: an outside probe)
  const events = db.prepare("SELECT type, at_ms FROM events WHERE type IN ('disk_unwritable', 'disk_ok') ORDER BY id").all() as Array<{ type: string; at_ms: number }>;
  t.equal(events[0]?.type, 'disk_unwritable', `the alarm is stored: ${JSON.stringify(events)}`);
  t.ok(events[0]!.at_ms < backAt, 'with the time it was raised, while the disk was full');
});
