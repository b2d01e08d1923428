/**
 * The ledger: one hash-chained log of every change to the evidence that is not a segment
 * (gaps, holds, state changes, deletions and the facts that made them due, files set aside by
 * recovery, the retention policy in force and its pauses). The tables `gaps`, `holds` and
 * `segments.state` stay the queryable view; each write to them appends its ledger entry in the
 * same transaction, and `verify` cross-checks the view against the ledger both ways.
 *
 * hash = sha256(canonicalJson({prev, id, at_ms, kind, camera, data})), `data` being the
 * canonical JSON text stored (see hash-chain.ts).
 */
import type { Database } from 'better-sqlite3';
import { canonicalJson } from '../../common/canonical-json.js';
import { prepared } from './statements.js';
import { GENESIS, ledgerHash, type LedgerFields } from './hash-chain.js';

export type LedgerKind =
  | 'ledger_started' | 'gap_opened' | 'gap_closed' | 'hold_added' | 'hold_released' | 'segment_missing' | 'deletion'
  | 'quarantined' | 'retention_policy' | 'retention_paused' | 'retention_resumed' | 'capture_masks'
  // footage dated under a clock that was behind (clock-corrections.ts)
  | 'clock_stepped' | 'clock_confirmed';

export interface LedgerRow extends LedgerFields {
  kind: LedgerKind;
  prev_hash: string;
  hash: string;
}

/** Why a batch of segments (or exported files) was deleted. */
export type DeletionRule = 'max_days' | 'space_floor' | 'removed_camera' | 'exports_max_days' | 'before_ledger';

export interface ClockFacts {
  synchronized: boolean | null;
  source: string;
}

/** What a `deletion` entry records: enough for `verify` to re-check the rule on its own. */
export interface DeletionData {
  rule: DeletionRule;
  /** segment ids (segment rules) */
  segments?: number[];
  /** each segment's end, in the order of `segments` */
  ends_ms?: number[];
  /** exported files (exports_max_days), relative to the data dir */
  files?: Array<{ file: string; created_ms: number; bytes: number }>;
  /** written into each row's `state_at_ms` */
  state_at_ms: number;
  /**
   * the newest segment row when the batch was deleted (segment rules; absent before it was
   * written): the rows that existed then are those up to it, since ids only grow while the wall
   * clock may step back and date later rows earlier
   */
  last_segment?: number;
  /** written into each row's `state_note` */
  note: string;
  /** the policy in force for these segments: days, or null for none */
  policy: { min_days: number | null; max_days: number | null };
  /** the measurement a space deletion acted on */
  disk?: { available_bytes: number; floor_bytes: number; unaccounted_bytes: number | null };
  /** the ids of the holds active when the batch was chosen */
  holds_checked: number[];
  clock: ClockFacts | null;
}

export interface GapOpenedData { gap: number; start_ms: number; end_ms: number | null; cause: string; detail: string | null }
export interface GapClosedData { gap: number; end_ms: number }
export interface HoldAddedData { hold: number; from_ms: number; to_ms: number; reason: string; by: string; created_ms: number }
export interface HoldReleasedData { hold: number; by: string; released_ms: number }
export interface SegmentMissingData { segments: number[]; state_at_ms: number; note: string }
export interface QuarantinedData { file: string; from: string; bytes: number; sha256: string; reason: string }
export interface RetentionPolicyData {
  floor_bytes: number;
  box: { min_days: number; max_days: number | null };
  cameras: Array<{ camera: string; min_days: number; max_days: number | null }>;
  exports_max_days: number | null;
  age_deletion_needs_clock_sync: boolean;
}
/** why age deletion paused or resumed; `sync_not_required`: resumed with the clock not known to be synchronised, the config not asking for it */
export interface RetentionPauseData { reason: 'clock_unsynced' | 'clock_step' | 'clock_synced' | 'sync_not_required'; clock: ClockFacts | null; step_ms?: number }
export interface LedgerStartedData {
  /** the schema version the catalog had before the ledger (0: created with it) */
  from_schema: number;
  segments_v2_from: number;
  audit_v2_from: number;
  /** what was copied into the ledger from the view as it stood */
  backfilled: { gaps: number; holds: number; deleted: number; missing: number };
}

/**
 * What the migration that starts the ledger writes right after ledger_started, in the same
 * transaction and at its time (migrations.ts backfillLedger): the only place a `before_ledger`
 * deletion may stand.
 */
export const BACKFILL_KINDS: ReadonlySet<string> = new Set(['gap_opened', 'gap_closed', 'hold_added', 'hold_released', 'segment_missing', 'deletion']);

const headSql = 'SELECT id, hash FROM ledger ORDER BY id DESC LIMIT 1';
const insertSql = 'INSERT INTO ledger (id, at_ms, kind, camera, data, prev_hash, hash) VALUES (@id, @at_ms, @kind, @camera, @data, @prev_hash, @hash)';

/**
 * Appends an entry. Callers run it inside the transaction that changes the view, so the view
 * never holds a change the ledger does not (a nested call becomes a savepoint).
 */
export function appendLedger(db: Database, kind: LedgerKind, camera: string | null, data: object, atMs = Date.now()): LedgerRow {
  return db.transaction(() => {
    const head = prepared(db, headSql).get() as { id: number; hash: string } | undefined;
    const fields: LedgerFields = { id: (head?.id ?? 0) + 1, at_ms: atMs, kind, camera, data: canonicalJson(data) };
    const prev_hash = head?.hash ?? GENESIS;
    const row: LedgerRow = { ...fields, kind, prev_hash, hash: ledgerHash(prev_hash, fields) };
    prepared(db, insertSql).run(row);
    return row;
  }).immediate();
}

export function ledgerHead(db: Database): { id: number; hash: string } {
  return (db.prepare(headSql).get() as { id: number; hash: string } | undefined) ?? { id: 0, hash: GENESIS };
}
