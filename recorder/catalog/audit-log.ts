import type { Catalog } from './catalog.js';
import { walkChain, type ChainWalk } from './chain.js';
import { auditHash, GENESIS, type AuditFields } from './hash-chain.js';
import { prepared } from './statements.js';
import { wellFormed } from '../../common/well-formed-text.js';

/** One registered access: who, when, why, where it went (the regulations' four questions). */
export interface AuditEntry {
  actor: string;
  /** e.g. export, snapshot, redact, cmd.hold, cmd.reload, cmd.rejected, hold.add, config.reload, daemon.start */
  action: string;
  camera?: string | null;
  from_ms?: number | null;
  to_ms?: number | null;
  reason?: string | null;
  destination?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRow extends AuditFields {
  prev_hash: string;
  hash: string;
}

/** Appends an entry to the hash-chained audit log, atomically with its link; durable when it returns. */
export function appendAudit(catalog: Catalog, e: AuditEntry, atMs = Date.now()): AuditRow {
  const db = catalog.db;
  return catalog.durably(() => db.transaction(() => {
    const head = prepared(db, 'SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1').get() as { id: number; hash: string } | undefined;
    // hashed as SQLite will store it: a lone surrogate (from any caller's free text) becomes U+FFFD
    // before the hash, not after (details is JSON, which escapes it)
    const text = (s: string | null | undefined) => (s == null ? null : wellFormed(s));
    const base: AuditFields = {
      id: (head?.id ?? 0) + 1, at_ms: atMs, actor: wellFormed(e.actor), action: wellFormed(e.action), camera: text(e.camera), from_ms: e.from_ms ?? null,
      to_ms: e.to_ms ?? null, reason: text(e.reason), destination: text(e.destination), details: JSON.stringify(e.details ?? {}),
    };
    const prev_hash = head?.hash ?? GENESIS;
    const row: AuditRow = { ...base, prev_hash, hash: auditHash(prev_hash, base, catalog.auditV2From) };
    prepared(db, `INSERT INTO audit_log (id, at_ms, actor, action, camera, from_ms, to_ms, reason, destination, details, prev_hash, hash)
      VALUES (@id, @at_ms, @actor, @action, @camera, @from_ms, @to_ms, @reason, @destination, @details, @prev_hash, @hash)`).run(row);
    return row;
  }).immediate());
}

export function auditEntries(catalog: Catalog, opts: { sinceMs?: number; limit?: number } = {}): AuditRow[] {
  return catalog.db.prepare('SELECT * FROM audit_log WHERE at_ms >= ? ORDER BY id DESC LIMIT ?')
    .all(opts.sinceMs ?? 0, opts.limit ?? 1000) as AuditRow[];
}

/** The newest entry of `action` for `camera` made at or after `sinceMs`, if any. */
export function lastAuditOf(catalog: Catalog, action: string, camera: string, sinceMs: number): AuditRow | undefined {
  return catalog.db.prepare('SELECT * FROM audit_log WHERE action = ? AND camera = ? AND at_ms >= ? ORDER BY id DESC LIMIT 1')
    .get(action, camera, sinceMs) as AuditRow | undefined;
}

/** Entries per action after `afterId` (a caller keeping running totals reads only what is new). */
export function auditTally(catalog: Catalog, afterId: number): { lastId: number; rows: Array<{ action: string; count: number }> } {
  const rows = catalog.db.prepare('SELECT action, count(*) AS count, max(id) AS last FROM audit_log WHERE id > ? GROUP BY action')
    .all(afterId) as Array<{ action: string; count: number; last: number }>;
  return { lastId: Math.max(afterId, ...rows.map((r) => r.last)), rows: rows.map(({ action, count }) => ({ action, count })) };
}

/** Walks the whole log: a removed, inserted or edited entry is named by its id. Removal of the
 * newest entries shows only against an anchor (`verify --anchors`). */
export function verifyAudit(catalog: Catalog, opts: { at?: Iterable<number> } = {}): ChainWalk & { ok: boolean } {
  const rows = catalog.db.prepare('SELECT * FROM audit_log ORDER BY id').iterate() as IterableIterator<AuditRow>;
  const walk = walkChain(rows, (r) => ({ id: r.id, prev: r.prev_hash, hash: r.hash }), (r, prev) => auditHash(prev, r, catalog.auditV2From),
    { noun: 'audit entry', at: opts.at });
  return { ...walk, ok: walk.problems.length === 0 };
}
