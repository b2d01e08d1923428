import t from 'tap';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DAY_MS, Retention, type ClockView } from '../../watchdog/retention.js';

const synced = (): ClockView => ({ synchronized: true, source: 'test', unconfirmedStepMs: null });
const plenty = async () => ({ total_bytes: 1e12, available_bytes: 1e11 });

t.test('a sweep deletes in bounded batches, each one ledger entry; the next sweep goes on', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const old = Date.now() - 100 * DAY_MS;
  catalog.db.transaction(() => {
    for (let i = 0; i < 2500; i++) catalog.addSegment({ camera: 'gate', start_ms: old + i * 1000, end_ms: old + i * 1000 + 1000, bytes: 1, path: `recordings/gate/${i}.mp4`, sha256: 'ab'.repeat(32), origin: 'recorded' });
    for (let i = 0; i < 3; i++) catalog.addSegment({ camera: 'old-cam', start_ms: old + i * 1000, end_ms: old + i * 1000 + 1000, bytes: 1, path: `recordings/old-cam/${i}.mp4`, sha256: 'ab'.repeat(32), origin: 'recorded' });
  })();
  const log = pino({ level: 'silent' });
  const policy = { floorBytes: 0, cameras: [{ camera: 'gate', minDays: 30, maxDays: 60 }] };
  const keepForever = new Retention(t.testdir(), catalog, { ...policy, box: { minDays: 30, maxDays: null } }, plenty, log, () => undefined, Date.now, synced);
  let swept = await keepForever.sweep();
  t.equal(swept.deletedForAge, 2000, 'at most 10 batches of 200 a sweep');
  const deleted = (cam: string) => (catalog.db.prepare("SELECT count(*) FROM segments WHERE camera = ? AND state = 'deleted'").pluck().get(cam) as number);
  t.equal(deleted('old-cam'), 0, 'a removed camera with no box max_days keeps its recordings');
  const batches = (catalog.db.prepare("SELECT data FROM ledger WHERE kind = 'deletion'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { segments: number[] });
  t.same(batches.map((b) => b.segments.length), Array(10).fill(200), 'each batch one ledger entry');
  swept = await keepForever.sweep();
  t.equal(swept.deletedForAge, 500, 'the next sweep goes on');

  const boxMax = new Retention(t.testdir(), catalog, { ...policy, box: { minDays: 30, maxDays: 60 } }, plenty, log, () => undefined, Date.now, synced);
  swept = await boxMax.sweep();
  t.equal(deleted('old-cam'), 3, 'with the box\'s max_days, a removed camera\'s recordings expire');
  const last = JSON.parse((catalog.db.prepare("SELECT data FROM ledger WHERE kind = 'deletion' ORDER BY id DESC LIMIT 1").get() as { data: string }).data) as { rule: string; policy: { max_days: number } };
  t.same([last.rule, last.policy.max_days], ['removed_camera', 60]);
  t.equal(catalog.liveBytes(), 0, 'the live bytes the catalog counts follow the deletions');
});

t.test('under the floor with nothing deletable: disk_low says whether everything left is held or nothing is left, at most every 10 minutes', async (t) => {
  const log = pino({ level: 'silent' });
  const full = async () => ({ total_bytes: 1e9, available_bytes: 1e6 });
  const policy = { floorBytes: 100e6, cameras: [{ camera: 'gate', minDays: 30, maxDays: 60 }], box: { minDays: 30, maxDays: null } };
  const sweepTimes = async (catalog: Catalog, minutes: number[]) => {
    const raised: Array<{ at: number; data: Record<string, unknown> }> = [];
    let now = Date.now();
    const retention = new Retention(t.testdir(), catalog, policy, full, log,
      (type, _camera, data) => { if (type === 'disk_low') raised.push({ at: now, data }); }, () => now, synced);
    const start = now;
    for (const m of minutes) {
      now = start + m * 60_000;
      const swept = await retention.sweep();
      t.equal(swept.deletedForSpace, 0, 'nothing deletable is deleted');
    }
    return raised.map((r) => ({ minute: Math.round((r.at - start) / 60_000), held: r.data.all_remaining_held }));
  };

  const heldCatalog = Catalog.open(t.testdir());
  t.teardown(() => heldCatalog.close());
  const day = Date.now() - 2 * DAY_MS;
  for (let i = 0; i < 3; i++) heldCatalog.addSegment({ camera: 'gate', start_ms: day + i * 1000, end_ms: day + i * 1000 + 1000, bytes: 10, path: `recordings/gate/${i}.mp4`, sha256: 'ab'.repeat(32), origin: 'recorded' });
  heldCatalog.addHold({ camera: null, from_ms: day - 1000, to_ms: day + 10_000, reason: 'case 9', created_by: 'test' });
  t.same(await sweepTimes(heldCatalog, [0, 0.1, 5, 9.9, 10, 15, 21]), [{ minute: 0, held: true }, { minute: 10, held: true }, { minute: 21, held: true }],
    'everything left is held: raised once, then again only after 10 minutes, not at every 5-second sweep');
  t.equal(heldCatalog.db.prepare("SELECT count(*) FROM segments WHERE state = 'ok'").pluck().get(), 3, 'nothing held was touched');

  const emptyCatalog = Catalog.open(t.testdir());
  t.teardown(() => emptyCatalog.close());
  t.same(await sweepTimes(emptyCatalog, [0, 1]), [{ minute: 0, held: false }], 'no recordings at all: not "everything left is held"');
});
