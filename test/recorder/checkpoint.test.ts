import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { KEEP_RECENT, parseCheckpoint, proveSegments, takeCheckpoint, verifySegmentsProof } from '../../recorder/catalog/checkpoint.js';
import { KEY_FILE } from '../../common/box-key.js';

const actions = (c: Catalog) => (c.db.prepare('SELECT action FROM audit_log ORDER BY id').all() as Array<{ action: string }>).map((r) => r.action);

t.test('checkpoints: one per change of the chains, the key audited, the store bounded', async (t) => {
  const data = t.testdir();
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const first = takeCheckpoint(catalog, data, 'box-1', 'start');
  t.ok(first.fresh, 'the first one is signed');
  t.same(actions(catalog), ['key.created'], 'the key it created is audited before the checkpoint that carries it');
  t.equal(first.checkpoint.chains.audit.length, 1, 'so the checkpoint covers that audit entry');
  const again = takeCheckpoint(catalog, data, 'box-1', 'interval');
  t.notOk(again.fresh, 'nothing moved: no new checkpoint');
  t.equal(again.line, first.line, 'the stored one, byte for byte');

  rmSync(join(data, KEY_FILE));
  const rekeyed = takeCheckpoint(catalog, data, 'box-1', 'interval');
  t.ok(rekeyed.fresh);
  t.same(actions(catalog).slice(-1), ['key.created'], 'a replaced key is audited too');
  t.not(rekeyed.checkpoint.public_key, first.checkpoint.public_key);

  // a week and more of 5-minute checkpoints (yesterday and today), then one more taken
  const dayStart = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  catalog.db.transaction(() => {
    for (let i = 0; i < KEEP_RECENT + 100; i++) {
      const at = dayStart - 86_400_000 + i * 60; // the first ones yesterday
      catalog.addCheckpoint({ at_ms: Math.min(at, Date.now() - 1), reason: 'interval', segments_length: 0, ledger_length: 0, audit_length: 0, payload: rekeyed.line });
    }
  })();
  const before = catalog.checkpoints();
  appendAudit(catalog, { actor: 'test', action: 'tick' });
  const last = takeCheckpoint(catalog, data, 'box-1', 'interval');
  const all = [...before, last.row];
  const firstOfDay = new Map<number, number>();
  for (const c of all) firstOfDay.set(Math.floor(c.at_ms / 86_400_000), Math.min(firstOfDay.get(Math.floor(c.at_ms / 86_400_000)) ?? Infinity, c.id));
  const expected = new Set([...all.slice(-KEEP_RECENT).map((c) => c.id), ...firstOfDay.values()]);
  t.same(catalog.checkpoints().map((c) => c.id), [...expected].sort((a, b) => a - b), 'the newest 2016 are kept, and before them the first of each day');
  t.ok(expected.has(first.row.id) && firstOfDay.size >= 2, 'the very first checkpoint, first of its day, among them');
});

t.test('a proof that segment rows lead to a stored checkpoint\'s signed head', async (t) => {
  const data = t.testdir();
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const add = (i: number) => catalog.addSegment({ camera: 'gate', start_ms: i * 1000, end_ms: i * 1000 + 1000, bytes: 10, path: `recordings/gate/${i}.mp4`, sha256: 'ab'.repeat(32), origin: 'recorded' });
  for (let i = 1; i <= 5; i++) add(i);
  t.equal(proveSegments(catalog, 2, 3), undefined, 'no stored checkpoint covers them yet');
  const cp = takeCheckpoint(catalog, data, 'box-1', 'egress');
  for (let i = 6; i <= 8; i++) add(i);
  takeCheckpoint(catalog, data, 'box-1', 'interval');
  const proof = proveSegments(catalog, 2, 3)!;
  t.same(proof.checkpoint, parseCheckpoint(cp.line), 'the oldest checkpoint covering them');
  t.same(proof.rows.map((r) => r.id), [2, 3, 4, 5], 'with every row up to its length');
  t.same(verifySegmentsProof(proof), { ok: true, problems: [] }, 'which recompute to its head');
});
