/**
 * Signed checkpoints: the box's word, signed with its Ed25519 key, on the length and head hash
 * of every chained log at a moment. A platform that keeps them (MQTT `<prefix>/checkpoint`,
 * `edge-nvr checkpoint`) holds what the box cannot rewrite afterwards: `verify --anchors`
 * fails when the catalog does not extend each of them.
 *
 *   { schema: "edge-nvr/checkpoint@1", box, at_ms, public_key (PEM),
 *     chains: { segments: {length, head}, ledger: {length, head}, audit: {length, head} },
 *     signature: base64 Ed25519 over the canonical JSON of all the rest }
 *
 * The payload is the canonical JSON of the whole object: one line, the same bytes stored,
 * published and printed. Signing, checking and the proofs are pure (node:crypto and common/;
 * the catalog is a type only), so an offline verifier imports this module alone.
 */
import type { KeyObject } from 'node:crypto';
import { boxKey, keyFingerprint } from '../../common/box-key.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { jsonSignatureHolds, signJson } from '../../common/signed-json.js';
import { appendAudit } from './audit-log.js';
import type { Catalog, ChainHead, CheckpointRow } from './catalog.js';
import type { AuditRow } from './audit-log.js';
import { ChainWalker } from './chain.js';
import { auditHash, ledgerHash, segmentHash, type ChainedFields } from './hash-chain.js';
import type { LedgerRow } from './ledger.js';

export const CHECKPOINT_SCHEMA = 'edge-nvr/checkpoint@1';
export const CHAINS = ['segments', 'ledger', 'audit'] as const;
export type ChainName = (typeof CHAINS)[number];

export interface Checkpoint {
  schema: typeof CHECKPOINT_SCHEMA;
  box: string;
  at_ms: number;
  public_key: string;
  chains: Record<ChainName, ChainHead>;
  signature: string;
}

export type CheckpointReason = 'interval' | 'egress' | 'stop' | 'start' | 'cli';

export function signCheckpoint(body: Omit<Checkpoint, 'signature'>, privateKey: KeyObject): Checkpoint {
  return signJson(body, privateKey);
}

/** The exact bytes stored, published on MQTT and printed by `edge-nvr checkpoint`. */
export function checkpointLine(c: Checkpoint): string {
  return canonicalJson(c);
}

export function signatureValid(c: Checkpoint): boolean {
  return jsonSignatureHolds(c, c.public_key);
}

const isHead = (h: unknown): h is ChainHead =>
  typeof h === 'object' && h !== null && Number.isSafeInteger((h as ChainHead).length) && (h as ChainHead).length >= 0
  && typeof (h as ChainHead).head === 'string' && /^[0-9a-f]{64}$/.test((h as ChainHead).head);

/** Reads one checkpoint (a line a platform received); throws with what is wrong. */
export function parseCheckpoint(text: string): Checkpoint {
  let c: Partial<Checkpoint>;
  try {
    c = JSON.parse(text) as Partial<Checkpoint>;
  } catch {
    throw new Error('not JSON');
  }
  if (typeof c !== 'object' || c === null) throw new Error('not a JSON object');
  if (c.schema !== CHECKPOINT_SCHEMA) throw new Error(`schema is ${JSON.stringify(c.schema)}, expected "${CHECKPOINT_SCHEMA}"`);
  if (typeof c.box !== 'string' || !Number.isSafeInteger(c.at_ms) || typeof c.public_key !== 'string' || typeof c.signature !== 'string') {
    throw new Error('box, at_ms, public_key or signature missing or of the wrong type');
  }
  // every time of a checkpoint is shown as a date: one no date can hold (±8.64e15 ms) ended `verify` in "Invalid time value"
  if (Math.abs(c.at_ms!) > 8.64e15) throw new Error(`at_ms ${c.at_ms} is no time a date can hold`);
  for (const name of CHAINS) if (!isHead(c.chains?.[name])) throw new Error(`chains.${name}: expected {length, head}`);
  return c as Checkpoint;
}

/* ------------------------------------------------------------------ taking them on the box */

const KEY_META = 'box.key_fingerprint';
/** the newest this many checkpoints are kept, and before them the first of each UTC day */
export const KEEP_RECENT = 2016;

export interface Taken { checkpoint: Checkpoint; line: string; row: CheckpointRow; fresh: boolean }

/**
 * Signs the chains' heads now and stores the checkpoint, unless the newest stored one already
 * has the same heads (then that one is returned, `fresh` false). A key the audit log has not
 * seen (created now, or replaced on disk) is audited first, so it is covered by this checkpoint.
 */
/**
 * The box key, created when there is none, and audited when the audit log has not seen it
 * (`key.created`, `key.changed` for a key replaced on disk, `key.first_seen` for one from before
 * keys were audited). Whatever signs with the key calls this first, so the audit entry comes
 * before anything the key signs.
 */
export function auditedBoxKey(catalog: Catalog, dataDir: string, actor = 'edge-nvr'): ReturnType<typeof boxKey> {
  const key = boxKey(dataDir);
  const fingerprint = keyFingerprint(key.publicPem);
  const known = catalog.getMeta(KEY_META);
  if (known !== fingerprint) {
    const action = key.created ? 'key.created' : known ? 'key.changed' : 'key.first_seen';
    catalog.db.transaction(() => {
      appendAudit(catalog, { actor, action, details: { fingerprint, previous: known ?? null, public_key: key.publicPem } });
      catalog.setMeta(KEY_META, fingerprint);
    }).immediate();
  }
  return key;
}

export function takeCheckpoint(catalog: Catalog, dataDir: string, box: string, reason: CheckpointReason, actor = 'edge-nvr'): Taken {
  const { privateKey, publicPem } = auditedBoxKey(catalog, dataDir, actor);
  const newest = catalog.newestCheckpoint();
  const chains = catalog.chainHeads();
  if (newest) {
    // the newest stored one again when nothing moved, only if it holds: a row altered in the
    // catalog (another date, a broken signature) was handed out as an anchor
    let old: Checkpoint | undefined;
    try { old = parseCheckpoint(newest.payload); } catch { old = undefined; }
    if (old && signatureValid(old) && old.box === box && old.public_key === publicPem
      && CHAINS.every((c) => old.chains[c].length === chains[c].length && old.chains[c].head === chains[c].head)) {
      return { checkpoint: old, line: newest.payload, row: newest, fresh: false };
    }
  }
  const checkpoint = signCheckpoint({ schema: CHECKPOINT_SCHEMA, box, at_ms: Date.now(), public_key: publicPem, chains }, privateKey);
  const line = checkpointLine(checkpoint);
  const row = catalog.db.transaction(() => {
    const r = catalog.addCheckpoint({
      at_ms: checkpoint.at_ms, reason, segments_length: chains.segments.length, ledger_length: chains.ledger.length, audit_length: chains.audit.length, payload: line,
    });
    catalog.db.prepare(`DELETE FROM checkpoints WHERE id <= ? - ${KEEP_RECENT}
      AND id NOT IN (SELECT min(id) FROM checkpoints GROUP BY at_ms / 86400000)`).run(r.id);
    return r;
  }).immediate();
  return { checkpoint, line, row, fresh: true };
}

/* ------------------------------------------------------------------ anchors */

export interface AnchorContext {
  /** this box's public key (PEM), null when it has none */
  boxKeyPem: string | null;
  /** the box id the catalog records, null when unknown */
  boxId: string | null;
  /** each chain's length in the catalog */
  lengths: Record<ChainName, number>;
  /** the hash of a chain's entry `length` in the catalog, as walked */
  hashAt: (chain: ChainName, length: number) => string | undefined;
}

export interface AnchorFinding { anchor: string; detail: string }

/**
 * What keeps the catalog from extending anchors (checkpoints a platform received, or the box's
 * own stored ones): a bad signature, another key or box, a chain shorter than anchored
 * (truncated), another hash at the anchored length (rewritten), anchors that disagree with each
 * other (forked). `label` names each anchor in the findings ("anchor line 3").
 */
export function checkAnchors(anchors: Array<{ label: string; checkpoint: Checkpoint }>, ctx: AnchorContext): AnchorFinding[] {
  const out: AnchorFinding[] = [];
  const when = (c: Checkpoint) => new Date(c.at_ms).toISOString();
  const boxPrint = ctx.boxKeyPem ? keyFingerprint(ctx.boxKeyPem) : null;
  const seen = new Map<string, { label: string; head: string }>();
  for (const { label, checkpoint: c } of anchors) {
    const bad = (detail: string) => out.push({ anchor: label, detail });
    if (!signatureValid(c)) {
      bad(`${label} (${when(c)}): bad signature: the checkpoint was altered or not signed by the key it names`);
      continue;
    }
    let print: string;
    try { print = keyFingerprint(c.public_key); } catch { print = 'unreadable'; }
    if (boxPrint === null) bad(`${label}: this data dir has no box key: cannot tell whether key ${print} is this box's`);
    else if (print !== boxPrint) bad(`${label} (${when(c)}): signed by key ${print}, not this box's key ${boxPrint} (another key: the key changed, or the anchor is another box's)`);
    if (ctx.boxId !== null && c.box !== ctx.boxId) bad(`${label}: for box "${c.box}", this catalog is box "${ctx.boxId}"`);
    for (const chain of CHAINS) {
      const a = c.chains[chain];
      const key = `${chain}:${a.length}`;
      const other = seen.get(key);
      if (other && other.head !== a.head) bad(`${other.label} and ${label}: forked: both signed, with different ${chain} heads at length ${a.length}`);
      else if (!other) seen.set(key, { label, head: a.head });
      if (a.length === 0) continue;
      if (ctx.lengths[chain] < a.length) {
        bad(`${chain} chain truncated: the catalog has ${ctx.lengths[chain]} entries, ${label} of ${when(c)} saw ${a.length}`);
      } else if (ctx.hashAt(chain, a.length) !== a.head) {
        bad(`${chain} chain rewritten: entry #${a.length} hashes to ${ctx.hashAt(chain, a.length)?.slice(0, 16) ?? 'nothing'}…, ${label} of ${when(c)} signed ${a.head.slice(0, 16)}…`);
      }
    }
  }
  return out;
}

/* ------------------------------------------------------------------ proofs for evidence exports */

/** Rows `from`..`checkpoint.chains.segments.length` of the segments chain, with the link into
 * the first, so that anyone holding the signed checkpoint can recompute its head. */
export interface SegmentsProof {
  checkpoint: Checkpoint;
  /** prev_hash of row `from` */
  prev_hash: string;
  v2_from: number;
  rows: Array<ChainedFields & { provenance: string | null }>;
}

/** Proof that segment rows `fromId`..`toId` lead to the head of a checkpoint: `at` (one just
 * taken, as an evidence export does), else the oldest stored one covering `toId`. Undefined when
 * no checkpoint covers `toId` yet. */
export function proveSegments(catalog: Catalog, fromId: number, toId: number, at?: Checkpoint): SegmentsProof | undefined {
  let checkpoint = at;
  if (!checkpoint) {
    const row = catalog.checkpointCovering(toId);
    if (!row) return undefined;
    checkpoint = parseCheckpoint(row.payload);
  }
  if (checkpoint.chains.segments.length < toId) return undefined;
  const first = catalog.segment(fromId);
  if (!first) return undefined;
  const rows = catalog.db.prepare('SELECT id, camera, start_ms, end_ms, bytes, path, sha256, provenance FROM segments WHERE id >= ? AND id <= ? ORDER BY id')
    .all(fromId, checkpoint.chains.segments.length) as SegmentsProof['rows'];
  return { checkpoint, prev_hash: first.prev_hash, v2_from: catalog.segmentsV2From, rows };
}

/** Recomputes a proof: the rows chain from `prev_hash` to the checkpoint's head, and the
 * checkpoint's signature holds. It does not say whose key signed: compare it with an anchor. */
export function verifySegmentsProof(p: SegmentsProof): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  if (!signatureValid(p.checkpoint)) problems.push('the checkpoint signature does not hold');
  const target = p.checkpoint.chains.segments;
  let head = p.prev_hash;
  let expected = p.rows[0]?.id ?? 0;
  for (const r of p.rows) {
    if (r.id !== expected) problems.push(`row #${expected} is missing from the proof`);
    head = segmentHash(head, r, p.v2_from);
    expected = r.id + 1;
  }
  const last = p.rows.at(-1)?.id ?? 0;
  // the head commits to every row before it: a forged prev_hash cannot reach it
  if (last !== target.length) problems.push(`the rows end at #${last}, the checkpoint at #${target.length}`);
  else if (head !== target.head) problems.push(`the rows lead to ${head.slice(0, 16)}…, not the checkpoint's head ${target.head.slice(0, 16)}…`);
  return { ok: problems.length === 0, problems };
}

/** Rows `from`..`checkpoint.chains[chain].length` of the ledger or the audit log, with the link
 * into the first: what an evidence bundle carries to show its ledger entries (gaps, holds,
 * deletions) and its own audit entry are among those the checkpoint signed. */
export interface LogProof<R> {
  chain: 'ledger' | 'audit';
  /** prev_hash of the first row */
  prev_hash: string;
  /** the audit log's first v2 id (hash-chain.ts); unused for the ledger */
  v2_from: number;
  rows: R[];
}
export type LedgerProof = LogProof<LedgerRow>;
export type AuditProof = LogProof<AuditRow>;

/** Proof that ledger rows from `fromId` on lead to `checkpoint`'s ledger head. */
export function proveLedger(catalog: Catalog, fromId: number, checkpoint: Checkpoint): LedgerProof | undefined {
  const rows = catalog.db.prepare('SELECT * FROM ledger WHERE id >= ? AND id <= ? ORDER BY id').all(fromId, checkpoint.chains.ledger.length) as LedgerRow[];
  if (!rows.length || rows[0]!.id !== fromId) return undefined;
  return { chain: 'ledger', prev_hash: rows[0]!.prev_hash, v2_from: 1, rows };
}

/** Proof that audit entries from `fromId` on lead to `checkpoint`'s audit head. */
export function proveAudit(catalog: Catalog, fromId: number, checkpoint: Checkpoint): AuditProof | undefined {
  const rows = catalog.db.prepare('SELECT * FROM audit_log WHERE id >= ? AND id <= ? ORDER BY id').all(fromId, checkpoint.chains.audit.length) as AuditRow[];
  if (!rows.length || rows[0]!.id !== fromId) return undefined;
  return { chain: 'audit', prev_hash: rows[0]!.prev_hash, v2_from: catalog.auditV2From, rows };
}

/** Recomputes a ledger or audit proof with the one chain walker: every row hashes as it
 * claims, follows the one before, and the last is the checkpoint's head. Pure, like
 * verifySegmentsProof; the checkpoint's signature is checked there, not here. */
export function verifyLogProof<R extends LedgerRow | AuditRow>(p: LogProof<R>, checkpoint: Checkpoint): { ok: boolean; problems: string[] } {
  const first = p.rows[0];
  if (!first) return { ok: false, problems: [`the ${p.chain} proof has no rows`] };
  const recompute = p.chain === 'ledger'
    ? (r: R, prev: string) => ledgerHash(prev, r as LedgerRow)
    : (r: R, prev: string) => auditHash(prev, r as AuditRow, p.v2_from);
  const walker = new ChainWalker<R>((r) => ({ id: r.id, prev: r.prev_hash, hash: r.hash }), recompute,
    { noun: p.chain === 'ledger' ? 'ledger entry' : 'audit entry' }).resumeAfter(first.id - 1, p.prev_hash);
  for (const r of p.rows) walker.step(r);
  const problems = walker.result.problems.map((x) => x.detail);
  const target = checkpoint.chains[p.chain];
  if (walker.result.length !== target.length) problems.push(`the ${p.chain} rows end at #${walker.result.length}, the checkpoint at #${target.length}`);
  else if (walker.result.head !== target.head) problems.push(`the ${p.chain} rows lead to ${walker.result.head.slice(0, 16)}…, not the checkpoint's head ${target.head.slice(0, 16)}…`);
  return { ok: problems.length === 0, problems };
}
