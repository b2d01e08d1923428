import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, sleep, writeConfig } from '../support/daemon.js';
import { NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';
import { RESERVE_FILE } from '../../watchdog/disk-reserve.js';

/*
 * Another program fills the data disk to the last byte, and the daemon is killed then (a crash, a
 * power cut). It could not write its own start to the catalog and exited at once, again and
 * again under systemd: retention, which would have freed space, never ran (an outside probe). The
 * box's reserve is released before the first write, so it starts and deletes for space.
 */
t.test('a daemon restarted on a data disk filled to the last byte starts, and retention frees space', { skip: NEEDS_ROOT }, async (t) => {
  const { dir, data } = tmpfsDataDir(t, 48, 'full-restart');
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10, bitrate: 600 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { floorMb: 8 });
  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await first.waitForLog(segmentIndexed('cam1'), 40_000);
  await first.waitForLog(segmentIndexed('cam1'), 20_000);
  t.ok(existsSync(join(data, RESERVE_FILE)), 'the reserve is kept while there is room');

  const filler = join(data, 'another-program.bin');
  t.teardown(() => { try { unlinkSync(filler); } catch { /* gone */ } });
  try { execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'status=none']); } catch { /* ENOSPC: full, as meant */ }
  first.proc!.kill('SIGKILL');
  await new Promise((r) => (first.proc!.exitCode !== null || first.proc!.signalCode !== null ? r(null) : first.proc!.once('close', r)));

  const again = new DaemonProcess(config).start();
  t.teardown(() => { again.proc?.kill('SIGKILL'); });
  await again.waitForLog(/its reserve is released/, 30_000);
  await again.waitForLog(/"event":"retention_deletion"|retention deleted segments/, 30_000);
  await sleep(2000);
  t.equal(again.proc!.exitCode, null, 'the daemon runs');
  t.notMatch(again.output, /cannot start/, 'its start was written');
  const { code } = await again.stop();
  t.equal(code, 0, 'and stops cleanly');
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.ok((db.prepare("SELECT count(*) AS n FROM ledger WHERE kind = 'deletion'").get() as { n: number }).n > 0, 'the deletions are on record');
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the catalog is sound');
});

/*
 * The reserve spent (a start on a full disk released it, and the recorders took its room), with no
 * floor, so retention may not delete for space: nothing can give the catalog room, and the start
 * cannot be written. It said "database or disk is full" (an outside probe); it now says what to do,
 * and the catalog stays sound.
 */
t.test('a restart on a full disk with the reserve spent and no floor: exit 1 naming the fix, the catalog sound', { skip: NEEDS_ROOT }, async (t) => {
  const { dir, data } = tmpfsDataDir(t, 40, 'full-spent');
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10, bitrate: 600 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await first.waitForLog(segmentIndexed('cam1'), 40_000);
  await first.stop();
  unlinkSync(join(data, RESERVE_FILE)); // spent
  const filler = join(data, 'another-program.bin');
  t.teardown(() => { try { unlinkSync(filler); } catch { /* gone */ } });
  try { execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'status=none']); } catch { /* ENOSPC: full, as meant */ }

  const again = new DaemonProcess(config).start();
  t.teardown(() => { again.proc?.kill('SIGKILL'); });
  const { code } = await again.exit();
  t.equal(code, 1, 'it cannot start');
  t.match(again.output, /the data disk \S+ is full and the catalog cannot record this start \(its reserve is spent\): free space on it by hand, or give storage\.free_space_floor_mb a value/, 'and says what gives it room');
  t.notMatch(again.output, /"stack"|\n\s+at /, 'the message alone, no stack trace (the journal got one)');
  unlinkSync(filler); // (reading a catalog in WAL mode needs room for its shared-memory file)
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the catalog is sound');
});
