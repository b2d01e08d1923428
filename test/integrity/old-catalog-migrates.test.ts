/**
 * A catalog written by the code before migration 4 (schema 3, v1 hash formulas, gaps and holds
 * outside any chain), generated here with the v1 formulas and real segment files, is verified as
 * it is, then migrated by opening it: what it held is chained from then on, and `verify` says
 * from which segment the stronger proof holds.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { copyFileSync, cpSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256File } from '../../common/file-hash.js';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { auditHashV1, GENESIS, segmentHashV1 } from '../../recorder/catalog/hash-chain.js';
import { migrate, SCHEMA_VERSION } from '../../recorder/catalog/migrations.js';
import { segmentPath } from '../../recorder/segment-store.js';
import { backdate, makeClip } from '../support/backdate.js';
import { runCli } from '../support/cli.js';

interface Report { ok: boolean; findings: Array<{ kind: string; detail: string }>; proof: { schema_version: number; segments_v2_from: number | null; cannot_prove: string[] } }

/** What edge-nvr wrote before the ledger: schema 3, the v1 formulas. */
async function schema3Catalog(data: string, clip: string, now: number): Promise<{ segments: number }> {
  mkdirSync(data, { recursive: true });
  const db = new Database(join(data, 'catalog.db'));
  db.pragma('journal_mode = WAL');
  migrate(db, 3);
  let prev = GENESIS;
  const starts = [30, 20, 10, 5, 1].map((d) => now - d * 86_400_000);
  for (const [i, start] of starts.entries()) {
    const path = segmentPath('gate', start);
    mkdirSync(dirname(join(data, path)), { recursive: true });
    copyFileSync(clip, join(data, path));
    const row = { id: i + 1, camera: 'gate', start_ms: start, end_ms: start + 60_000, bytes: statSync(join(data, path)).size, path, sha256: await sha256File(join(data, path)) };
    const chain_hash = segmentHashV1(prev, row);
    db.prepare(`INSERT INTO segments (id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, indexed_ms) VALUES
      (@id, @camera, @start_ms, @end_ms, @bytes, @path, @sha256, @prev_hash, @chain_hash, @indexed_ms)`).run({ ...row, prev_hash: prev, chain_hash, indexed_ms: start });
    prev = chain_hash;
  }
  // retention deleted the oldest (the file is gone), one went missing
  db.prepare("UPDATE segments SET state = 'deleted', state_at_ms = ?, state_note = 'retention: older than max_days 25' WHERE id = 1").run(now - 1000);
  rmSync(join(data, (db.prepare('SELECT path FROM segments WHERE id = 1').get() as { path: string }).path));
  db.prepare("UPDATE segments SET state = 'missing', state_at_ms = ?, state_note = 'file not found at start-up' WHERE id = 2").run(now - 500);
  rmSync(join(data, (db.prepare('SELECT path FROM segments WHERE id = 2').get() as { path: string }).path));
  db.prepare("INSERT INTO gaps (camera, start_ms, end_ms, cause, detail) VALUES ('gate', ?, ?, 'camera_unreachable', 'refused')").run(starts[3]! + 60_000, starts[4]!);
  db.prepare("INSERT INTO holds (camera, from_ms, to_ms, reason, created_by, created_ms, released_ms, released_by) VALUES ('gate', ?, ?, 'case 9', 'alice', ?, ?, 'bob')")
    .run(starts[2]!, starts[2]! + 60_000, now - 5000, now - 4000);
  let aprev = GENESIS;
  for (const [id, action] of [[1, 'export'], [2, 'cmd.hold']] as const) {
    const row = { id, at_ms: now - 3000 + id, actor: 'alice', action, camera: 'gate', from_ms: null, to_ms: null, reason: 'case 9', destination: null, details: '{}' };
    const hash = auditHashV1(aprev, row);
    db.prepare(`INSERT INTO audit_log (id, at_ms, actor, action, camera, from_ms, to_ms, reason, destination, details, prev_hash, hash)
      VALUES (@id, @at_ms, @actor, @action, @camera, @from_ms, @to_ms, @reason, @destination, @details, @prev_hash, @hash)`).run({ ...row, prev_hash: aprev, hash });
    aprev = hash;
  }
  db.close();
  return { segments: starts.length };
}

t.test('a schema-3 catalog verifies as it is, migrates, and verifies with the stronger proof from then on', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'));
  const now = Date.now();
  const { segments } = await schema3Catalog(data, clip, now);
  const verify = async () => {
    const r = await runCli(['verify', '--data', data, '--json']);
    return { ...(JSON.parse(r.stdout) as Report), code: r.code };
  };

  let r = await verify();
  t.equal(r.proof.schema_version, 3, 'verify reads the old catalog without migrating it');
  t.same(r.findings.map((f) => f.kind), ['missing'], `the old chain and audit log verify with the v1 formulas; only the missing row is reported\n${JSON.stringify(r.findings)}`);
  t.ok(r.proof.cannot_prove.some((l) => /predates the ledger/.test(l)), 'and it says what an old catalog cannot prove');

  const catalog = Catalog.open(data); // the daemon does this at start
  t.equal(catalog.schemaVersion, SCHEMA_VERSION, 'opening it for writing migrates it to the latest version');
  t.equal(catalog.segmentsV2From, segments + 1, 'new segments are hashed with v2 from the next id');
  const kinds = (catalog.db.prepare('SELECT kind FROM ledger ORDER BY id').all() as Array<{ kind: string }>).map((e) => e.kind);
  t.same(kinds, ['ledger_started', 'gap_opened', 'hold_added', 'hold_released', 'deletion', 'segment_missing'], 'the gap, the hold and both state changes are chained from now on');
  await backdate(data, catalog, clip, 'gate', [now - 60_000]);
  appendAudit(catalog, { actor: 'unix:test', action: 'export', details: {} });
  catalog.close();

  r = await verify();
  t.same(r.findings.map((f) => f.kind), ['missing'], `the migrated catalog verifies (the missing row stays reported)\n${JSON.stringify(r.findings)}`);
  t.equal(r.proof.segments_v2_from, segments + 1);
  t.ok(r.proof.cannot_prove.some((l) => new RegExp(`segments #1\\.\\.#${segments} were hashed with the v1 formula.*from segment #${segments + 1}`).test(l)), 'verify says from which segment the stronger proof holds');
  t.ok(r.proof.cannot_prove.some((l) => /deletions before it cannot be re-checked/.test(l)), 'and that deletions before the migration cannot be re-checked');

  const pristine = join(dir, 'pristine');
  cpSync(data, pristine, { recursive: true });
  const attack = async (what: string, sql: string, kind: string, detail: RegExp) => {
    rmSync(data, { recursive: true, force: true });
    cpSync(pristine, data, { recursive: true });
    const db = new Database(join(data, 'catalog.db'));
    db.exec(sql);
    db.close();
    const after = await verify();
    t.equal(after.code, 1, `${what}: verify fails`);
    t.ok(after.findings.some((f) => f.kind === kind && detail.test(f.detail)), `${what}: named\n${JSON.stringify(after.findings)}`);
  };
  await attack('a v1 row edited', 'UPDATE segments SET end_ms = end_ms + 1 WHERE id = 3', 'chain', /segment #3 was altered/);
  await attack('a gap from before the migration removed', 'DELETE FROM gaps', 'view', /gap #1 .* was removed/);
  await attack('a deletion from before the migration undone', "UPDATE segments SET state = 'ok', state_at_ms = NULL WHERE id = 1", 'view', /the ledger made segment #1 deleted/);
  await attack('a v1 audit entry edited', "UPDATE audit_log SET actor = 'mallory' WHERE id = 1", 'audit', /audit entry #1 was altered/);
  await attack('the first v2 id moved back to v1', "UPDATE meta SET value = '99' WHERE key = 'chain.segments.v2_from'", 'chain', /meta chain\.segments\.v2_from was changed|segment #\d+ was altered/);
});
