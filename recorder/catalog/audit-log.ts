import { createHash } from 'node:crypto';
import type { Catalog } from './catalog.js';
import { GENESIS } from './hash-chain.js';

/** One registered access: who, when, why, where it went (the regulations' four questions). */
export interface AuditEntry {
  actor: string;
  /** e.g. export, snapshot, redact, cmd.hold, cmd.reload, cmd.rejected */
  action: string;
  camera?: string | null;
  from_ms?: number | null;
  to_ms?: number | null;
  reason?: string | null;
  destination?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRow {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  camera: string | null;
  from_ms: number | null;
  to_ms: number | null;
  reason: string | null;
  destination: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export function auditHash(prev: string, r: Omit<AuditRow, 'prev_hash' | 'hash'>): string {
  const fields = [prev, r.id, r.at_ms, r.actor, r.action, r.camera ?? '', r.from_ms ?? '', r.to_ms ?? '', r.reason ?? '', r.destination ?? '', r.details];
  return createHash('sha256').update(fields.join('\n')).digest('hex');
}

/** Appends an entry to the hash-chained audit log, atomically with its link. */
export function appendAudit(catalog: Catalog, e: AuditEntry, atMs = Date.now()): AuditRow {
  const db = catalog.db;
  return db.transaction(() => {
    const head = db.prepare('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1').get() as { id: number; hash: string } | undefined;
    const base = {
      id: (head?.id ?? 0) + 1, at_ms: atMs, actor: e.actor, action: e.action, camera: e.camera ?? null, from_ms: e.from_ms ?? null,
      to_ms: e.to_ms ?? null, reason: e.reason ?? null, destination: e.destination ?? null, details: JSON.stringify(e.details ?? {}),
    };
    const prev_hash = head?.hash ?? GENESIS;
    const row: AuditRow = { ...base, prev_hash, hash: auditHash(prev_hash, base) };
    db.prepare(`INSERT INTO audit_log (id, at_ms, actor, action, camera, from_ms, to_ms, reason, destination, details, prev_hash, hash)
      VALUES (@id, @at_ms, @actor, @action, @camera, @from_ms, @to_ms, @reason, @destination, @details, @prev_hash, @hash)`).run(row);
    return row;
  }).immediate();
}

export function auditEntries(catalog: Catalog, opts: { sinceMs?: number; limit?: number } = {}): AuditRow[] {
  return catalog.db.prepare('SELECT * FROM audit_log WHERE at_ms >= ? ORDER BY id DESC LIMIT ?')
    .all(opts.sinceMs ?? 0, opts.limit ?? 1000) as AuditRow[];
}

/** Entries per action after `afterId` (a caller keeping running totals reads only what is new). */
export function auditTally(catalog: Catalog, afterId: number): { lastId: number; rows: Array<{ action: string; count: number }> } {
  const rows = catalog.db.prepare('SELECT action, count(*) AS count, max(id) AS last FROM audit_log WHERE id > ? GROUP BY action')
    .all(afterId) as Array<{ action: string; count: number; last: number }>;
  return { lastId: Math.max(afterId, ...rows.map((r) => r.last)), rows: rows.map(({ action, count }) => ({ action, count })) };
}

/** Walks the whole log: a removed, inserted or edited entry is named by its id. */
export function verifyAudit(catalog: Catalog): { ok: boolean; entries: number; head: string; problems: Array<{ id: number; detail: string }> } {
  const problems: Array<{ id: number; detail: string }> = [];
  let prev = GENESIS;
  let expected = 1;
  let entries = 0;
  for (const row of catalog.db.prepare('SELECT * FROM audit_log ORDER BY id').iterate() as IterableIterator<AuditRow>) {
    entries++;
    if (row.id !== expected) problems.push({ id: row.id, detail: `entry #${expected}${row.id > expected + 1 ? `..#${row.id - 1}` : ''} removed` });
    if (row.prev_hash !== prev) problems.push({ id: row.id, detail: `entry #${row.id} does not follow the entry before it` });
    else if (auditHash(prev, row) !== row.hash) problems.push({ id: row.id, detail: `entry #${row.id} was altered` });
    prev = row.hash;
    expected = row.id + 1;
  }
  return { ok: problems.length === 0, entries, head: prev, problems };
}
