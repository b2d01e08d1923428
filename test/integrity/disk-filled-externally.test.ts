/**
 * Something other than the recordings fills the data disk (a log, a copy, a core dump): the box
 * names the cause first (`disk_filled_externally`, with the bytes its own files do not account
 * for), lets footage past its minimum go oldest first, and keeps footage younger than
 * `min_days` while more than half the free-space floor is left. Past that, recording the present
 * wins, in bounded batches, with `retention_at_risk` naming the same cause. Held footage is
 * never touched, and every deletion is re-checked by `verify`.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { backdate, makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';
import { fillUntil, MB, NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';


t.test('a disk filled by another file: the cause named first, young footage kept while the floor allows, nothing held lost', { skip: NEEDS_ROOT }, async (t) => {
  const { dir, data } = tmpfsDataDir(t, 120, 'disk-filled');
  const floorMb = 40;
  const clip = makeClip(join(dir, 'clip.mp4'), 10, 2400, { noisy: true }); // about 3.5 MB
  const catalog = Catalog.open(data);
  const now = Date.now();
  const old = await backdate(data, catalog, clip, 'cam1', [50, 48].map((d) => now - d * DAY_MS));
  const young = await backdate(data, catalog, clip, 'cam1', [6, 5, 4, 3, 2, 1].map((d) => now - d * DAY_MS));
  catalog.close();
  const held = young[0]!;
  const hold = await runCli(['hold', 'add', '--data', data, '--camera', 'cam1', '--from', String(held.start_ms), '--to', String(held.end_ms), '--reason', 'case 31']);
  t.equal(hold.code, 0, hold.stderr);

  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10, bitrate: 300 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { floorMb, extraYaml: 'integrity:\n  verify_read_mb_s: 0' });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('cam1'), 40000);
  await sleep(6000); // a sweep measures the disk as it is: the baseline

  const filler = join(data, 'not-a-recording.bin');
  t.teardown(() => { try { unlinkSync(filler); } catch { /* gone */ } });
  await fillUntil(data, filler, (floorMb - 10) * MB); // 30 MB left: under the floor, above half of it
  await daemon.waitForLog(/"event":"disk_filled_externally"/, 30000);
  await daemon.waitForLog(/keeping recordings younger than their minimum/, 30000);
  const alarm = daemon.output.split('\n').find((l) => l.includes('"event":"disk_filled_externally"'))!;
  const grown = Number(/"grown_bytes":(\d+)/.exec(alarm)?.[1]);
  t.ok(grown > 50 * MB, `the alarm names the bytes that are not recordings: ${(grown / MB).toFixed(0)} MB grown`);
  t.match(alarm, /"cause":"[^"]*more on the data disk than the box's own files account for/);

  const db = () => new Database(join(data, 'catalog.db'), { readonly: true });
  const states = () => {
    const d = db();
    try { return new Map((d.prepare('SELECT id, state FROM segments').all() as Array<{ id: number; state: string }>).map((r) => [r.id, r.state])); } finally { d.close(); }
  };
  let s = states();
  for (const o of old) t.equal(s.get(o.id), 'deleted', `footage past its minimum (${((now - o.start_ms) / DAY_MS).toFixed(0)} days) goes first`);
  for (const y of young) t.equal(s.get(y.id), 'ok', `footage younger than min_days is kept (${((now - y.start_ms) / DAY_MS).toFixed(0)} days)`);
  const alarmAt = daemon.output.indexOf('"event":"disk_filled_externally"');
  const firstDeletion = daemon.output.indexOf('retention deleted segments');
  t.ok(alarmAt >= 0 && (firstDeletion < 0 || alarmAt < firstDeletion), 'the cause is named before anything is deleted for it');

  // it keeps growing: past half the floor, the present wins, oldest first, in bounded batches
  await fillUntil(data, filler, 12 * MB);
  await until(() => { const st = states(); return young.slice(1).some((y) => st.get(y.id) === 'deleted'); }, 30000, 'young footage given up for the present');
  await daemon.waitForLog(/"event":"retention_at_risk".*"cause":"foreign_files"|"cause":"foreign_files".*"event":"retention_at_risk"/, 20000);
  s = states();
  t.equal(s.get(held.id), 'ok', 'the held segment stays');
  t.ok(existsSync(join(data, held.path)), 'with its file');
  t.equal(s.get(young.at(-1)!.id), 'ok', 'the newest backdated day is still kept: only what the floor needed went');
  unlinkSync(filler);
  await sleep(6000);
  t.equal(daemon.proc!.exitCode, null, 'the daemon recorded through it');
  t.equal((await daemon.stop()).code, 0);

  const d = db();
  const batches = (d.prepare("SELECT data FROM ledger WHERE kind = 'deletion'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { rule: string; segments: number[]; disk: { available_bytes: number; floor_bytes: number; unaccounted_bytes: number } });
  d.close();
  t.ok(batches.length >= 2 && batches.every((b) => b.rule === 'space_floor' && b.segments.length <= 20), `deletions in bounded batches (${batches.map((b) => b.segments.length).join(', ')})`);
  t.ok(batches.every((b) => b.disk.available_bytes < b.disk.floor_bytes && b.disk.unaccounted_bytes > 50 * MB), 'each with the low-space reading and the unaccounted bytes it acted on');
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify re-checks every deletion:\n${verified.stdout.slice(-1500)}`);
});
