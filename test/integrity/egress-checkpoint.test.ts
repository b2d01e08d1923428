/**
 * Every egress is anchored: once the redacted file and its audit entry are written, the gate
 * signs a checkpoint that covers that entry, so what left the box can be held to the chains.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { parseCheckpoint } from '../../recorder/catalog/checkpoint.js';
import { makeClip } from '../support/backdate.js';
import { runCli } from '../support/cli.js';

t.test('a redact through the egress gate signs a checkpoint covering its audit entry', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'in.mp4'), 1);
  const r = await runCli(['redact', clip, join(dir, 'out.mp4'), '--data', data, '--reason', 'case 12', '--json'], { timeoutMs: 120_000 });
  t.equal(r.code, 0, r.stderr);
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const audit = db.prepare('SELECT id, action FROM audit_log ORDER BY id').all() as Array<{ id: number; action: string }>;
  t.same(audit.map((a) => a.action), ['key.created', 'redact'], 'the key the manifest needed is audited before it signs, then the redact');
  const rows = db.prepare('SELECT reason, payload FROM checkpoints').all() as Array<{ reason: string; payload: string }>;
  t.same(rows.map((c) => c.reason), ['egress'], 'one checkpoint, taken by the egress');
  t.equal(parseCheckpoint(rows[0]!.payload).chains.audit.length, audit.at(-1)!.id, 'it covers the redact\'s audit entry');
  const cli = await runCli(['checkpoint', '--data', data]);
  t.equal(cli.stdout.trim(), rows[0]!.payload, 'and is what `edge-nvr checkpoint` prints while nothing moves');
});
