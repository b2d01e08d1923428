/**
 * Age deletion trusts the clock only when it can: it pauses while the clock is not known to be
 * synchronised, and after a forward step until a synchronised reading confirms it, so a clock
 * set a year ahead does not make a year of recordings "old". Each pause and resume is an event
 * and a ledger entry, and `verify` fails an age deletion made while paused.
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DAY_MS, Retention } from '../../watchdog/retention.js';
import { HealthMonitor } from '../../watchdog/health-monitor.js';
import { diskSpace } from '../../watchdog/system-health.js';
import { backdate, makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';

const silent = pino({ level: 'silent' });

t.test('while the clock is not known synchronised, nothing expires; once it is, what is due goes', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const now = Date.now();
  const [old] = await backdate(data, catalog, makeClip(join(dir, 'clip.mp4')), 'gate', [now - 100 * DAY_MS]);
  let synchronized: boolean | null = null;
  const events: string[] = [];
  const raise = (type: string) => { events.push(type); };
  const health = new HealthMonitor({ dataDir: data, catalog, cameras: () => [], log: silent, raise, readClock: async () => ({ synchronized, source: 'test' }) });
  const retention = new Retention(data, catalog, { floorBytes: 0, cameras: [{ camera: 'gate', minDays: 30, maxDays: 60 }] }, diskSpace, silent, raise, Date.now, () => health.clockView());

  await health.probe();
  let swept = await retention.sweep();
  t.equal(swept.paused, 'clock_unsynced', 'an unknown sync state pauses age deletion');
  t.equal(swept.deletedForAge, 0, 'the expired segment stays meanwhile');
  t.ok(existsSync(join(data, old!.path)));
  // status says so: footage past max_days with no word why had read as a retention failure (an outside probe)
  const pausedStatus = await runCli(['status', '--data', data]);
  t.match(pausedStatus.stdout, /age deletion PAUSED since \S+ \(the clock is not known to be synchronised\): nothing is deleted for age meanwhile/, 'status says age deletion is paused, and why');
  synchronized = false;
  await health.probe();
  t.equal((await retention.sweep()).deletedForAge, 0, 'so does a clock known not to be synchronised');

  synchronized = true;
  await health.probe();
  swept = await retention.sweep();
  t.equal(swept.paused, null, 'a synchronised clock resumes it');
  t.equal((JSON.parse((await runCli(['status', '--data', data, '--json'])).stdout) as { retention: { age_deletion_paused: unknown } }).retention.age_deletion_paused, null, 'and status no longer says it is paused');
  t.equal(swept.deletedForAge, 1, 'and what is due goes');
  t.same(events.filter((e) => e.startsWith('retention_')), ['retention_paused', 'retention_resumed', 'retention_deletion'], 'one event for the pause, one for the resume');
  const kinds = (catalog.db.prepare("SELECT kind FROM ledger WHERE kind LIKE 'retention_%' ORDER BY id").all() as Array<{ kind: string }>).map((r) => r.kind);
  t.same(kinds, ['retention_policy', 'retention_paused', 'retention_resumed'], 'the pause and the resume are chained');
  t.equal((await runCli(['verify', '--data', data])).code, 0, 'verify passes');

  // an age deletion written while paused (the box's own code, a clock it should not have trusted)
  const [young] = await backdate(data, catalog, makeClip(join(dir, 'clip2.mp4')), 'gate', [now - 90 * DAY_MS]);
  synchronized = null;
  await health.probe();
  await retention.sweep();
  catalog.markDeleted('gate', [young!], { rule: 'max_days', note: 'forged', policy: { min_days: 30, max_days: 60 }, holds_checked: [], clock: { synchronized: true, source: 'forged' } });
  const r = await runCli(['verify', '--data', data]);
  t.equal(r.code, 1, 'an age deletion made while paused fails verify');
  t.match(r.stdout, /an age deletion while retention was paused for the clock/);
});

/** libfaketime (Debian package faketime): the daemon's wall clock can step, not the machine's. */
function libfaketime(): string | undefined {
  for (const dir of readdirSync('/usr/lib', { withFileTypes: true }).filter((d) => d.isDirectory())) {
    const p = join('/usr/lib', dir.name, 'faketime/libfaketime.so.1');
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * A daemon with one camera and max_days 60 whose wall clock is `clock` (a libfaketime offset, and
 * its ffmpeg's with it), and whose timedatectl says what `sync` holds; set both to move them.
 * Recordings from the past are backdated first, by a clock that was right.
 */
async function fakeClockBox(t: Test, lib: string, startsMs: number[], clock: string, synchronized: 'yes' | 'no') {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { storageYaml: 'retention:\n  max_days: 60', extraYaml: 'integrity:\n  verify_read_mb_s: 0' });
  const catalog = Catalog.open(data);
  const past = await backdate(data, catalog, makeClip(join(dir, 'clip.mp4')), 'cam1', startsMs);
  catalog.close();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const sync = join(dir, 'synchronized');
  writeFileSync(sync, `${synchronized}\n`);
  writeFileSync(join(bin, 'timedatectl'), `#!/bin/sh\ncat '${sync}'\n`);
  chmodSync(join(bin, 'timedatectl'), 0o755);
  const offset = join(dir, 'faketime.rc');
  writeFileSync(offset, `${clock}\n`);
  const start = () => {
    const d = new DaemonProcess(config, ['run'], {
      PATH: `${bin}:${process.env.PATH}`, LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_CACHE_DURATION: '1',
    }).start();
    t.teardown(() => { d.proc?.kill('SIGKILL'); });
    return d;
  };
  return { data, past, daemon: start(), offset, sync, start };
}

t.test('a daemon whose clock steps 400 days forward deletes nothing it made "old" until a synchronised clock confirms it', async (t) => {
  const lib = libfaketime();
  t.ok(lib, 'libfaketime is installed (scripts/setup installs the faketime package)');
  if (!lib) return;
  const now = Date.now();
  // timedatectl as the box would answer it: synchronised
  const { data, past: [expired, kept], daemon, offset } = await fakeClockBox(t, lib, [now - 100 * DAY_MS, now - 50 * DAY_MS], '+0', 'yes');
  await daemon.waitForLog(segmentIndexed('cam1'), 40000);
  const state = (id: number) => {
    const db = new Database(join(data, 'catalog.db'), { readonly: true });
    try { return (db.prepare('SELECT state FROM segments WHERE id = ?').get(id) as { state: string }).state; } finally { db.close(); }
  };
  await until(() => state(expired!.id) === 'deleted', 20000, 'the expired segment deleted');
  t.pass('with a synchronised clock, the 100-day-old segment expires once the clock was read');
  t.equal(state(kept!.id), 'ok', 'the 50-day-old one is within max_days 60');

  writeFileSync(offset, '+400d\n');
  await daemon.waitForLog(/the wall clock stepped/, 20000);
  await daemon.waitForLog(/age deletion paused: the clock stepped forward/, 20000);
  await sleep(11000); // two sweeps at least
  t.equal(state(kept!.id), 'ok', 'after the step, the segment the step made "450 days old" is kept');
  t.ok(existsSync(join(data, kept!.path)), 'and its file');
  t.match(daemon.output, /"event":"retention_paused".*"reason":"clock_step"|"reason":"clock_step".*"event":"retention_paused"/, 'the pause is an event, with its reason');

  await daemon.waitForLog(/age deletion resumed/, 45000);
  await until(() => state(kept!.id) === 'deleted', 15000, 'the deletion the confirmed clock makes due');
  t.pass('a synchronised reading after the step confirms the time: the segment is now past max_days and goes');
  t.equal((await daemon.stop()).code, 0);
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify re-checks each deletion against the clock and the pauses:\n${verified.stdout.slice(-1500)}`);
});

/**
 * Recorded 100 days ago by a clock that was right; then a Pi without a real-time clock, booted
 * offline: its clock 70 days behind and not synchronised. NTP then sets it right, while the daemon
 * runs, or while it is stopped in the same boot (nothing running saw that step, and the next start
 * deleted the minutes-old footage as 70 days old: an outside probe). Either way what was recorded
 * behind is kept, and the segment 100 days old goes.
 */
async function keptAfterTheClockIsSetRight(t: Test, whileStopped: boolean) {
  const lib = libfaketime();
  t.ok(lib, 'libfaketime is installed (scripts/setup installs the faketime package)');
  if (!lib) return;
  const { data, past: [expired], daemon, offset, sync, start } = await fakeClockBox(t, lib, [Date.now() - 100 * DAY_MS], '-70d', 'no');
  const rows = () => {
    const db = new Database(join(data, 'catalog.db'), { readonly: true });
    try { return db.prepare('SELECT id, state, end_ms FROM segments ORDER BY id').all() as Array<{ id: number; state: string; end_ms: number }>; } finally { db.close(); }
  };
  const behind = () => rows().filter((r) => r.id > expired!.id && r.end_ms < Date.now() - 65 * DAY_MS);
  await until(() => behind().length >= 2, 40000, 'two segments recorded under the clock that is behind');

  // the network comes: NTP steps the clock 70 days forward and says it is synchronised
  if (whileStopped) t.equal((await daemon.stop()).code, 0);
  writeFileSync(offset, '+0\n');
  writeFileSync(sync, 'yes\n');
  const running = whileStopped ? start() : daemon;
  await running.waitForLog(whileStopped ? /the wall clock stepped forward while the daemon was not running/ : /the wall clock stepped/, whileStopped ? 30000 : 20000);
  await running.waitForLog(/age deletion resumed/, 45000);
  await until(() => rows().find((r) => r.id === expired!.id)?.state === 'deleted', 15000, 'the segment 100 days old deleted');
  await sleep(6000); // another sweep
  const recorded = behind();
  t.ok(recorded.length >= 2, `${recorded.length} segments dated 70 days ago by the clock that was behind`);
  t.same(recorded.filter((r) => r.state !== 'ok').map((r) => r.id), [], 'none of them is deleted as older than max_days 60: they are minutes old');
  t.equal((await running.stop()).code, 0);
  if (whileStopped) {
    const db = new Database(join(data, 'catalog.db'), { readonly: true });
    t.teardown(() => db.close());
    t.match(db.prepare("SELECT detail FROM gaps WHERE cause = 'clock_jump'").all(), [{ detail: /the clock stepped forward by \d+ ms while the daemon was not running/ }], 'the step is a clock_jump gap');
    t.ok(db.prepare("SELECT 1 FROM ledger WHERE kind = 'clock_stepped'").get(), 'and a clock_stepped ledger entry');
  }
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, verified.stdout.slice(-1500));
}

t.test('a daemon that starts with its clock 70 days behind keeps what it recorded once NTP sets the clock right', (t) => keptAfterTheClockIsSetRight(t, false));

t.test('the clock set right while the daemon was stopped (same boot): what it recorded 70 days behind is kept', (t) => keptAfterTheClockIsSetRight(t, true));
