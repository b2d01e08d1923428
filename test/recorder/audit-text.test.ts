import t from 'tap';
import { appendAudit, verifyAudit } from '../../recorder/catalog/audit-log.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { placeHold } from '../../recorder/catalog/holds.js';

// Free text reaches the audit log from the CLI, the web page and MQTT; a JSON body can carry a
// lone surrogate ("\ud800"), which a JS string holds and SQLite stores as U+FFFD.
t.test('a lone surrogate in audited free text: stored as hashed, the chain still verifies', async (t) => {
  const data = t.testdir();
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  appendAudit(catalog, { actor: 'web:ann', action: 'hold.add', reason: 'before' });
  const row = appendAudit(catalog, {
    actor: 'web:\udc00ann', action: 'export', camera: 'cam1', reason: 'incident \ud800 9', destination: 'police \ud83d\ude93 unit\ud83d',
    details: { note: 'x\udfffy' },
  });
  appendAudit(catalog, { actor: 'web:ann', action: 'hold.add', reason: 'after' });
  t.equal(row.reason, 'incident \ufffd 9', 'the lone high surrogate is U+FFFD before the hash');
  t.equal(row.destination, 'police \ud83d\ude93 unit\ufffd', 'a pair (an emoji) is kept, the stray half replaced');
  t.equal(row.actor, 'web:\ufffdann');
  const stored = catalog.db.prepare('SELECT actor, reason, destination, details FROM audit_log WHERE id = ?').get(row.id) as Record<string, string>;
  t.same(stored, { actor: row.actor, reason: row.reason, destination: row.destination, details: row.details }, 'read back as hashed');
  t.same(JSON.parse(stored.details!), { note: 'x\udfffy' }, 'details are JSON, whose escape keeps the surrogate exactly');
  const walk = verifyAudit(catalog);
  t.same(walk.problems, [], 'no entry reads as altered');
  t.ok(walk.ok);
});

t.test('a hold whose reason has a lone surrogate: the row and its event say the same', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const events: Array<{ type: string; data: { reason: string } }> = [];
  const hold = placeHold(catalog, { camera: null, from_ms: 1000, to_ms: 2000, reason: 'case \ud800 7' }, 'web:ann', (type, _camera, data) => { events.push({ type, data }); });
  const stored = catalog.db.prepare('SELECT reason FROM holds WHERE id = ?').get(hold.id) as { reason: string };
  t.equal(stored.reason, 'case \ufffd 7');
  t.equal(hold.reason, stored.reason, 'the hold returned is the hold stored');
  t.same(events.map((e) => [e.type, e.data.reason]), [['hold_added', 'case \ufffd 7']], 'the event carries the stored reason');
  t.ok(verifyAudit(catalog).ok, 'the audit chain verifies');
});
