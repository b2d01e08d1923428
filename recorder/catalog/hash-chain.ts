/**
 * The hash formulas of every chained log in the catalog: segments, the ledger and the audit
 * log. Pure functions over rows (node:crypto and common/ only), so an offline verifier can
 * import them without SQLite or the daemon.
 *
 * v1 (segments and audit entries written before migration 4) joined fields with "\n": a field
 * holding a newline, or a null written as "", could make two different rows hash alike. v2
 * hashes canonical JSON (keys sorted, null distinct from "" and from a missing member), and
 * covers the segment's `provenance`. Rows keep the formula they were written with; the catalog
 * records the first v2 id of each chain (meta `chain.segments.v2_from`, `chain.audit.v2_from`).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../common/canonical-json.js';

/** Every chain's first `prev_hash`. */
export const GENESIS = '0'.repeat(64);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The fields of a segment row that the chain protects. State changes (missing, deleted) are not
 * among them: they are ledger entries of their own. */
export interface ChainedFields {
  id: number;
  camera: string;
  start_ms: number;
  end_ms: number;
  bytes: number;
  path: string;
  sha256: string;
  /** canonical JSON about how the segment was recorded (capture masks, camera identity), or null */
  provenance?: string | null;
}

/** Before migration 4: fields joined by "\n" (provenance did not exist). */
export function segmentHashV1(prev: string, s: ChainedFields): string {
  return sha256([prev, s.id, s.camera, s.start_ms, s.end_ms, s.bytes, s.path, s.sha256].join('\n'));
}

export function segmentHashV2(prev: string, s: ChainedFields): string {
  return sha256(canonicalJson({
    v: 2, prev, id: s.id, camera: s.camera, start_ms: s.start_ms, end_ms: s.end_ms, bytes: s.bytes, path: s.path, sha256: s.sha256,
    provenance: s.provenance ?? null,
  }));
}

/** The formula a segment row was written with: v2 from `v2From` on. */
export function segmentHash(prev: string, s: ChainedFields, v2From: number): string {
  return s.id >= v2From ? segmentHashV2(prev, s) : segmentHashV1(prev, s);
}

/** The fields of an audit entry that its hash covers. */
export interface AuditFields {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  camera: string | null;
  from_ms: number | null;
  to_ms: number | null;
  reason: string | null;
  destination: string | null;
  /** JSON text, as stored */
  details: string;
}

/** Before migration 4: a null was written as "", indistinguishable from an empty string. */
export function auditHashV1(prev: string, r: AuditFields): string {
  return sha256([prev, r.id, r.at_ms, r.actor, r.action, r.camera ?? '', r.from_ms ?? '', r.to_ms ?? '', r.reason ?? '', r.destination ?? '', r.details].join('\n'));
}

export function auditHashV2(prev: string, r: AuditFields): string {
  return sha256(canonicalJson({
    v: 2, prev, id: r.id, at_ms: r.at_ms, actor: r.actor, action: r.action, camera: r.camera, from_ms: r.from_ms, to_ms: r.to_ms,
    reason: r.reason, destination: r.destination, details: r.details,
  }));
}

export function auditHash(prev: string, r: AuditFields, v2From: number): string {
  return r.id >= v2From ? auditHashV2(prev, r) : auditHashV1(prev, r);
}

/** The fields of a ledger entry that its hash covers; `data` is canonical JSON text. */
export interface LedgerFields {
  id: number;
  at_ms: number;
  kind: string;
  camera: string | null;
  data: string;
}

export function ledgerHash(prev: string, e: LedgerFields): string {
  return sha256(canonicalJson({ prev, id: e.id, at_ms: e.at_ms, kind: e.kind, camera: e.camera, data: e.data }));
}
