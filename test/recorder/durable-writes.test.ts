import t from 'tap';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { appendAudit } from '../../recorder/catalog/audit-log.js';

const level = (c: Catalog) => c.db.pragma('synchronous', { simple: true }) as number;
const FULL = 2;
const NORMAL = 1;

t.test('Catalog.durably: FULL for its transactions, NORMAL again after, and usable inside an outer transaction', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  t.equal(level(catalog), NORMAL, 'the catalog runs NORMAL');
  t.equal(catalog.durably(() => level(catalog)), FULL, 'FULL inside');
  t.equal(catalog.durably(() => catalog.durably(() => level(catalog))), FULL, 'nested: still FULL');
  t.equal(level(catalog), NORMAL, 'NORMAL again after');
  t.throws(() => catalog.durably(() => { throw new Error('boom'); }), /boom/);
  t.equal(level(catalog), NORMAL, 'NORMAL again after a throw');
  // an outer transaction decides: durable writes inside it neither throw nor change the level
  const both = catalog.durably(() => catalog.db.transaction(() => {
    const hold = catalog.addHold({ camera: null, from_ms: 0, to_ms: 1, reason: 'outer', created_by: 'test' });
    const entry = appendAudit(catalog, { actor: 'test', action: 'hold', details: { hold: hold.id } });
    return [hold.id, entry.id, level(catalog)];
  })());
  t.same(both, [1, 1, FULL], 'a hold and its audit entry in one durable transaction');
  t.equal(level(catalog), NORMAL);
});
