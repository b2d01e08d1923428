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
