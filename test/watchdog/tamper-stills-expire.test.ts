/**
 * The stills of tamper events were never deleted: a camera whose alarm came and went for months
 * filled the disk with them (an outside probe noticed they were not even counted as the box's).
 * They now go by exports_max_days, as exports do, each deletion on the ledger, a hold keeping those
 * of its camera and time.
 */
import t from 'tap';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { checkLedger } from '../../recorder/verify-ledger.js';
import { DAY_MS, Retention, type ClockView } from '../../watchdog/retention.js';

t.test('tamper stills older than exports_max_days are deleted, on the ledger; a held one and a young one stay', async (t) => {
  const data = t.testdir();
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const now = Date.now();
  const still = (camera: string, name: string, daysAgo: number) => {
    mkdirSync(join(data, 'tamper', camera), { recursive: true });
    const path = join(data, 'tamper', camera, name);
    writeFileSync(path, Buffer.alloc(2048, 1));
    const at = new Date(now - daysAgo * DAY_MS);
    utimesSync(path, at, at);
    return path;
  };
  const old = still('gate', 'old-covered.jpg', 40);
  const young = still('gate', 'young-covered.jpg', 2);
  const held = still('yard', 'held-moved.jpg', 40);
  catalog.addHold({ camera: 'yard', from_ms: now - 41 * DAY_MS, to_ms: now - 39 * DAY_MS, reason: 'case 88', created_by: 'unix:clerk' });
  const synced = (): ClockView => ({ synchronized: true, source: 'test', unconfirmedStepMs: null });
  const policy = { floorBytes: 0, box: { minDays: 30, maxDays: null }, cameras: [{ camera: 'gate', minDays: 30, maxDays: null }], exportsMaxDays: 30 };
  const retention = new Retention(data, catalog, policy, async () => ({ total_bytes: 1e12, available_bytes: 1e12 }), pino({ level: 'silent' }), () => undefined, () => now, synced);
  const swept = await retention.sweep();
  t.equal(swept.deletedExports, 1, 'one still deleted');
  t.notOk(existsSync(old), 'the 40-day-old still is gone');
  t.ok(existsSync(young), 'the 2-day-old one stays');
  t.ok(existsSync(held), 'the held camera\'s one stays');
  const entry = JSON.parse(catalog.lastLedger('deletion')!.data) as { rule: string; files: Array<{ file: string }> };
  t.equal(entry.rule, 'exports_max_days');
  t.same(entry.files.map((f) => f.file), [join('tamper', 'gate', 'old-covered.jpg')], 'the deletion names the file');
  const ledger = checkLedger(catalog, catalog.chainHead().id);
  t.same(ledger.findings, [], 'verify finds the deletion due');
});
