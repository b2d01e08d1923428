import t, { type Test } from 'tap';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DAY_MS, Retention, type ClockView } from '../../watchdog/retention.js';
import { diskSpace } from '../../watchdog/system-health.js';
import { HealthMonitor } from '../../watchdog/health-monitor.js';
import { ClockSteps } from '../../common/clock-steps.js';
import { backdate, makeClip } from '../support/backdate.js';
import { runCli } from '../support/cli.js';

/** A clock known to be synchronised: age deletion runs (it pauses otherwise, see clock-pauses-age-deletion). */
const synced = (): ClockView => ({ synchronized: true, source: 'test', unconfirmedStepMs: null });

/** A catalog in a fresh data dir, with a real clip to backdate. */
function freshCatalog(t: Test) {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'));
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  return { data, clip, catalog, now: Date.now() };
}

t.test('max_days deletes what has expired, holds block it until released, verify still passes', async (t) => {
  const { data, clip, catalog, now } = freshCatalog(t);
  const [a100, a50, a5] = await backdate(data, catalog, clip, 'gate', [now - 100 * DAY_MS, now - 50 * DAY_MS, now - 5 * DAY_MS]);
  const [b100] = await backdate(data, catalog, clip, 'lobby', [now - 100 * DAY_MS]);
  const events: string[] = [];
  const retention = new Retention(data, catalog, {
    floorBytes: 0,
    cameras: [{ camera: 'gate', minDays: 30, maxDays: 60 }, { camera: 'lobby', minDays: 90, maxDays: 120 }],
  }, diskSpace, pino({ level: 'silent' }), (type) => { events.push(type); }, Date.now, synced);

  const held = await runCli(['hold', 'add', '--data', data, '--camera', 'gate', '--from', new Date(a100.start_ms - 1000).toISOString(),
    '--to', new Date(a100.end_ms + 1000).toISOString(), '--reason', 'police request 2026-0042', '--by', 'site-manager']);
  t.equal(held.code, 0, held.stderr);
  t.match(held.stdout, /^hold 1 added: gate/);

  let swept = await retention.sweep();
  t.equal(swept.deletedForAge, 0, 'the only expired segment is held');
  t.ok(existsSync(join(data, a100.path)), 'the held file stays');

  const released = await runCli(['hold', 'release', '1', '--data', data, '--by', 'site-manager']);
  t.equal(released.code, 0, released.stderr);
  swept = await retention.sweep();
  t.equal(swept.deletedForAge, 1, 'released, it expires at the next sweep');
  t.notOk(existsSync(join(data, a100.path)), 'its file is deleted');
  t.ok(existsSync(join(data, a50.path)) && existsSync(join(data, a5.path)), 'younger gate segments stay');
  t.ok(existsSync(join(data, b100.path)), "the lobby's own max_days (120) keeps its 100-day-old segment");
  t.same(events, ['retention_deletion'], 'the deletion is an event');
  const row = catalog.segments('gate').find((r) => r.id === a100.id)!;
  t.equal(row.state, 'deleted');
  t.match(row.state_note, /older than max_days 60/);

  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify still passes: the chain keeps the deleted row\n${verified.stdout}`);
  t.match(verified.stdout, new RegExp(`deleted +${a100.path.replace(/\./g, '\\.')} .*older than max_days 60`));

  const again = await runCli(['hold', 'release', '1', '--data', data]);
  t.equal(again.code, 2, 'releasing twice is refused');
  t.match(again.stderr, /already released/);
  const list = await runCli(['hold', 'list', '--all', '--json', '--data', data]);
  const released_by = JSON.parse(list.stdout).holds[0].released_by as string;
  t.match(released_by, /^unix:\S+.* for site-manager$/, `who released it is kept: the unix user and on whose behalf (${released_by})`);
});

t.test('the forecast and days held come from what is catalogued', async (t) => {
  const { data, clip, catalog, now } = freshCatalog(t);
  // one hour of one-minute segments, ending now, plus an old one
  const starts = Array.from({ length: 60 }, (_, i) => now - 3_600_000 + i * 60_000);
  await backdate(data, catalog, clip, 'gate', [now - 10 * DAY_MS, ...starts]);
  const retention = new Retention(data, catalog, { floorBytes: 0, cameras: [{ camera: 'gate', minDays: 30, maxDays: null }] },
    diskSpace, pino({ level: 'silent' }), () => undefined);
  const disk = { total_bytes: 1e12, available_bytes: 1e9 };
  const status = retention.status(disk);
  t.ok(Math.abs(status.cameras[0].days_held - 10) < 0.01, `days held: ${status.cameras[0].days_held}`);
  const clipBytes = catalog.segments('gate')[0].bytes;
  const perDay = (60 * clipBytes / (60 * 60_000)) * DAY_MS;
  const expected = (61 * clipBytes + 1e9) / perDay;
  t.ok(status.forecast_days !== null && Math.abs(status.forecast_days - expected) / expected < 0.01,
    `forecast ${status.forecast_days?.toFixed(2)} days, expected ${expected.toFixed(2)} (what is kept plus what is free, at the last hour's rate)`);
  t.equal(status.min_required_days, 30);
});

t.test('deletions are reported once an hour per camera, with the totals since the last report', async (t) => {
  const { data, clip, catalog, now } = freshCatalog(t);
  // a segment expiring every 10 minutes, as a steady state does every minute
  await backdate(data, catalog, clip, 'gate', [0, 1, 2, 3].map((i) => now - 61 * DAY_MS - 60_000 + i * 600_000));
  const events: Array<{ type: string; data: Record<string, unknown> }> = [];
  let clock = now;
  const retention = new Retention(data, catalog, { floorBytes: 0, cameras: [{ camera: 'gate', minDays: 30, maxDays: 61 }] },
    diskSpace, pino({ level: 'silent' }), (type, _camera, d) => { events.push({ type, data: d }); }, () => clock, synced);
  const swept: number[] = [];
  for (const step of [1, 10, 10, 45]) {
    clock += step * 60_000;
    swept.push((await retention.sweep()).deletedForAge);
  }
  t.same(swept, [1, 1, 1, 1], 'one segment expires per sweep');
  t.same(events.map((e) => e.data.segments), [1, 3], 'the first at once, then one report an hour later with the three since');
  t.equal(catalog.segments('gate').filter((r) => r.state === 'deleted').length, 4, 'every deletion is in the catalog regardless');
});

t.test('a batch marked deleted whose files a killed run had not all unlinked: the next start removes them (they stayed for good)', async (t) => {
  const { data, clip, catalog, now } = freshCatalog(t);
  const old = await backdate(data, catalog, clip, 'gate', Array.from({ length: 6 }, (_, i) => now - (100 - i) * DAY_MS));
  const [young] = await backdate(data, catalog, clip, 'gate', [now - 5 * DAY_MS]);
  const policy = { floorBytes: 0, cameras: [{ camera: 'gate', minDays: 30, maxDays: 60 }] };
  const swept = await new Retention(data, catalog, policy, diskSpace, pino({ level: 'silent' }), () => undefined, Date.now, synced).sweep();
  t.equal(swept.deletedForAge, 6, 'one batch of six');
  // what the batch leaves when the run is killed between marking its rows and unlinking their
  // files: the rows deleted (its ledger entry and all), two files gone, four still there
  for (const s of old.slice(2)) copyFileSync(clip, join(data, s.path));
  // the next start
  new Retention(data, catalog, policy, diskSpace, pino({ level: 'silent' }), () => undefined, Date.now, synced);
  t.same(old.filter((s) => existsSync(join(data, s.path))).map((s) => s.path), [], 'every file of the batch is gone');
  t.ok(existsSync(join(data, young!.path)), 'a segment not in the batch stays');
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, verified.stdout.slice(-800));
});

t.test('a forward step not confirmed before a restart keeps age deletion paused until a synchronised reading, and a resume says why it resumed', async (t) => {
  const { data, clip, catalog, now } = freshCatalog(t);
  const [old] = await backdate(data, catalog, clip, 'gate', [now - 50 * DAY_MS]);
  const policy = { floorBytes: 0, ageNeedsClockSync: false, cameras: [{ camera: 'gate', minDays: 30, maxDays: 40 }] };
  const quiet = pino({ level: 'silent' });
  let synchronized: boolean | null = null;
  let wall = () => Date.now() - 40 * DAY_MS;
  const monitor = () => new HealthMonitor({
    dataDir: data, catalog, cameras: () => [], log: quiet, raise: () => undefined, bootId: 'one-boot',
    readClock: async () => ({ synchronized, source: 'test' }), clockSteps: new ClockSteps(2000, () => wall()),
  });
  // the run that saw the step: paused
  const first = monitor();
  await first.start();
  t.teardown(() => first.stop());
  wall = Date.now;
  first.clock.check();
  await new Retention(data, catalog, policy, diskSpace, quiet, () => undefined, Date.now, () => first.clockView()).sweep();
  t.equal(catalog.lastLedger('retention_paused') !== undefined, true, 'paused by the step');
  // a restart: this run's clock watcher never saw the step, and the sync state cannot be read
  const second = monitor();
  await second.probe();
  await new Retention(data, catalog, policy, diskSpace, quiet, () => undefined, Date.now, () => second.clockView()).sweep();
  t.equal(catalog.lastLedger('retention_resumed'), undefined, 'still paused after the restart (it resumed as "clock_synced" with the clock unknown)');
  t.ok(existsSync(join(data, old!.path)), 'and nothing was deleted by the dates of a clock not confirmed');
  // a synchronised reading confirms the time: resumed, said as it is, and what expired goes
  synchronized = true;
  const third = monitor();
  await third.probe();
  await new Retention(data, catalog, policy, diskSpace, quiet, () => undefined, Date.now, () => third.clockView()).sweep();
  t.match(JSON.parse(catalog.lastLedger('retention_resumed')!.data), { reason: 'clock_synced', clock: { synchronized: true } });
  t.notOk(existsSync(join(data, old!.path)), 'the expired segment is deleted once the clock is confirmed');
});

t.test('footage recorded under a clock that was behind is aged from when it was recorded once a synchronised clock confirms the step', async (t) => {
  const { data, clip, catalog, now } = freshCatalog(t);
  // an earlier boot, its clock right: 100 and 45 days ago
  const [old100, old45] = await backdate(data, catalog, clip, 'gate', [now - 100 * DAY_MS, now - 45 * DAY_MS]);
  // this boot starts offline with its clock 70 days behind, and records
  let synchronized: boolean | null = false;
  let offset = -70 * DAY_MS;
  const quiet = pino({ level: 'silent' });
  const monitor = (bootId: string) => new HealthMonitor({
    dataDir: data, catalog, cameras: () => ['gate'], log: quiet, raise: () => undefined, bootId,
    readClock: async () => ({ synchronized, source: 'test' }), clockSteps: new ClockSteps(2000, () => Date.now() + offset),
  });
  const health = monitor('boot-2');
  await health.start();
  t.teardown(() => health.stop());
  const behind = await backdate(data, catalog, clip, 'gate', [3, 2, 1].map((k) => now + offset - k * 60_000 - 1000));
  // NTP steps the clock to the true time; the daemon restarts before any reading confirms it
  offset = 0;
  health.clock.check();
  t.same(catalog.unconfirmedClockSteps().map((s) => s.data.after_segment), [old45!.id], 'the step names the last segment indexed before this boot');
  const restarted = monitor('boot-2');
  const policy = { floorBytes: 0, cameras: [{ camera: 'gate', minDays: 30, maxDays: 60 }] };
  const retention = new Retention(data, catalog, policy, diskSpace, quiet, () => undefined, Date.now, () => restarted.clockView());
  await restarted.probe();
  t.equal((await retention.sweep()).paused, 'clock_step', 'age deletion waits for the step to be confirmed');

  synchronized = true;
  await restarted.probe();
  t.match(JSON.parse(catalog.lastLedger('clock_confirmed')!.data), { through_segment: behind.at(-1)!.id, clock: { synchronized: true } });
  const swept = await retention.sweep();
  t.equal(swept.deletedForAge, 1, 'only the 100-day-old segment of the earlier boot expires');
  t.equal(catalog.segments('gate').find((r) => r.id === old100!.id)!.state, 'deleted');
  for (const r of behind) t.ok(existsSync(join(data, r.path)), `minutes-old footage dated ${new Date(r.start_ms).toISOString()} stays`);
  t.same(catalog.oldestDeletable(2, catalog.clockCorrections()).map((r) => r.id), [old45!.id, behind[0]!.id], 'on a full disk the 45-day-old segment goes before the minutes-old footage dated 70 days ago');
  t.equal(catalog.oldestDeletable(1)[0]!.id, behind[0]!.id, '(by their dates alone, the minutes-old footage would go first)');

  // what the synchronised clock trusts moves on; a new boot starts untrusted
  t.match(JSON.parse(catalog.getMeta('clock.trusted_through')!), { boot: 'boot-2', segment: behind.at(-1)!.id });
  monitor('boot-3');
  t.match(JSON.parse(catalog.getMeta('clock.trusted_through')!), { boot: 'boot-3', segment: behind.at(-1)!.id });

  let verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, verified.stdout.slice(-800));
  // a deletion by dates alone (a box that ignored the correction) is caught
  catalog.markDeleted('gate', [behind[0]!], { rule: 'max_days', note: 'by dates alone', policy: { min_days: 30, max_days: 60 }, holds_checked: [], clock: { synchronized: true, source: 'test' } });
  verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 1, 'verify fails it');
  t.match(verified.stdout, /recorded under a clock 70\.00 days behind, as a confirmed clock step says.*too young for max_days 60/);
});

t.test('resumed without a synchronised clock (the config does not ask for one): recorded as such, not as "clock_synced"', async (t) => {
  const { data, catalog } = freshCatalog(t);
  const quiet = pino({ level: 'silent' });
  const needing = { floorBytes: 0, ageNeedsClockSync: true, cameras: [{ camera: 'gate', minDays: 30, maxDays: 40 }] };
  const unknown = (): ClockView => ({ synchronized: null, source: 'unknown', unconfirmedStepMs: null });
  await new Retention(data, catalog, needing, diskSpace, quiet, () => undefined, Date.now, unknown).sweep();
  t.match(JSON.parse(catalog.lastLedger('retention_paused')!.data), { reason: 'clock_unsynced' });
  await new Retention(data, catalog, { ...needing, ageNeedsClockSync: false }, diskSpace, quiet, () => undefined, Date.now, unknown).sweep();
  t.match(JSON.parse(catalog.lastLedger('retention_resumed')!.data), { reason: 'sync_not_required', clock: { synchronized: null } });
});
