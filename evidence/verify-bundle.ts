/**
 * The offline reader of an evidence bundle (bundle-format.ts). It needs nothing of the box:
 * no catalog, no data dir, no npm package beyond this one's own files (node:crypto, common/ and
 * the pure proof functions of recorder/catalog/). What it checks, each independently:
 * - every file listed in the signed manifest is there with its sha256 and size;
 * - the manifest's signature holds, and the checkpoint's, with one and the same key;
 * - the segment rows chain from the first in the range to the checkpoint's head (so no row was
 *   edited, removed or inserted), each original file has the sha256 its row records, and every
 *   row of the camera in the range is either included or listed as unavailable;
 * - the ledger entries (gaps, holds, deletions) and this export's audit entry chain to the
 *   checkpoint's heads, and the audit entry registers the request the manifest states;
 * - with --key or --anchors: the key is the expected box's (without, it says it cannot tell).
 */
import { createPublicKey } from 'node:crypto';
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { keyFingerprint } from '../common/box-key.js';
import { canonicalJson } from '../common/canonical-json.js';
import { sha256File } from '../common/file-hash.js';
import { MAX_RECORD_FILE_BYTES, readRegularFile } from '../common/read-file.js';
import type { AuditRow } from '../recorder/catalog/audit-log.js';
import {
  CHAINS, parseCheckpoint, signatureValid, verifyLogProof, verifySegmentsProof,
  type AuditProof, type ChainName, type Checkpoint, type LedgerProof, type SegmentsProof,
} from '../recorder/catalog/checkpoint.js';
import { GENESIS, segmentHash } from '../recorder/catalog/hash-chain.js';
import { BACKFILL_KINDS, type DeletionData, type GapOpenedData, type HoldAddedData, type HoldReleasedData, type LedgerRow } from '../recorder/catalog/ledger.js';
import { ChainTimeOrder, clockBacks, type ClockForward } from '../recorder/catalog/time-order.js';
import { holdOver } from '../recorder/catalog/holds.js';
import {
  BUNDLE_SCHEMA, CHECKPOINT_FILE, FILES, MANIFEST_FILE, SEGMENTS_DIR, bodySignatureHolds, type BundleManifest, type Unavailable,
} from './bundle-format.js';

export interface KeyCheck {
  fingerprint: string | null;
  /** how the key was compared: with --key, with --anchors, or not at all */
  expected: 'key' | 'anchors' | 'none';
  matches: boolean | null;
}

export interface DeletionShown { ledger_entry: number; at_ms: number; rule: string; note: string; segments: number[] }
export interface GapShown { ledger_entry: number; at_ms: number; start_ms: number; end_ms: number | null; cause: string }

export interface EvidenceReport {
  ok: boolean;
  bundle: string;
  manifest: Omit<BundleManifest, 'files' | 'signature' | 'public_key' | 'segments' | 'unavailable' | 'ledger_entries'> | null;
  key: KeyCheck;
  checkpoint: { at_ms: number; box: string; lengths: Record<ChainName, number> } | null;
  segments: Array<{ id: number; file: string; start_ms: number; end_ms: number; bytes: number; sha256: string }>;
  unavailable: Unavailable[];
  deletions: DeletionShown[];
  gaps: GapShown[];
  /** sentences: what holds */
  proven: string[];
  /** sentences: what this run could not establish */
  cannot_prove: string[];
  /** sentences: what does not hold (any one makes the bundle fail) */
  mismatches: string[];
  /** things seen that do not change what is proven (files added beside the bundle) */
  notes: string[];
}

export interface VerifyOptions {
  /** the expected box public key, PEM text */
  keyPem?: string;
  /** checkpoints the platform received from the box (JSON lines) */
  anchorsText?: string;
}

/** a clock step the box does not call a jump (watchdog's clock_jump is over 2 s) */
const CLOCK_SLACK_MS = 2000;
/** between a bundle's checkpoint and its manifest: the proofs are written (a month of 64 cameras' rows at most) */
const CHECKPOINT_TO_MANIFEST_MS = 10 * 60_000;

/** a time as ISO 8601; one no Date can hold (from an altered file) as its number, never a throw */
const iso = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

export async function verifyEvidenceBundle(dir: string, opts: VerifyOptions = {}): Promise<EvidenceReport> {
  const report: EvidenceReport = {
    ok: false, bundle: dir, manifest: null, key: { fingerprint: null, expected: opts.keyPem ? 'key' : opts.anchorsText ? 'anchors' : 'none', matches: null },
    checkpoint: null, segments: [], unavailable: [], deletions: [], gaps: [], proven: [], cannot_prove: [], mismatches: [], notes: [],
  };
  const bad = (s: string) => report.mismatches.push(s);
  const finish = () => ({ ...report, ok: report.mismatches.length === 0 });

  // the folder itself
  let top;
  try { top = statSync(dir); } catch { top = undefined; }
  if (!top) { bad(`the bundle directory ${dir} does not exist`); return finish(); }
  if (!top.isDirectory()) { bad(`${dir} is not a directory: give the bundle's folder`); return finish(); }

  // the manifest and its signature
  let m: BundleManifest;
  try {
    const notPlain = notAPlainFile(dir, MANIFEST_FILE);
    if (notPlain) throw new Error(notPlain);
    m = parseBundleJson(dir, MANIFEST_FILE) as BundleManifest;
  } catch (err) {
    bad(`${MANIFEST_FILE} cannot be read: ${(err as Error).message}`);
    return finish();
  }
  const schema = (m as { schema?: unknown } | null)?.schema;
  if (schema !== BUNDLE_SCHEMA) {
    bad(`${MANIFEST_FILE} is not an edge-nvr evidence manifest (schema ${JSON.stringify(schema)}, expected "${BUNDLE_SCHEMA}")`);
    return finish();
  }
  const malformed = manifestShapeProblem(m);
  if (malformed) {
    bad(`${MANIFEST_FILE} is not an edge-nvr evidence manifest: ${malformed}`);
    return finish();
  }
  // what is shown is what the box writes, field by field: anything added (a value nested 200,000
  // deep made printing the report overflow the stack) is covered by the signature, never echoed
  const { agency, officers, approval, reason, destination } = m.request;
  report.manifest = {
    schema: m.schema, bundle_id: m.bundle_id, box_id: m.box_id, created_ms: m.created_ms, camera: m.camera, from_ms: m.from_ms, to_ms: m.to_ms,
    request: { agency, officers: officers.map((o) => ({ name: o.name, id: o.id })), approval, reason, destination },
    exported_by: m.exported_by, hold_id: m.hold_id, audit_entry: m.audit_entry,
  };
  // field by field too (a value nested deep inside one overflowed --json's printing)
  report.segments = m.segments.map(({ id, file, start_ms, end_ms, bytes, sha256 }) => ({ id, file, start_ms, end_ms, bytes, sha256 }));
  report.unavailable = m.unavailable.map(({ from_ms, to_ms, why, segment, ledger_entry, detail }) => ({
    from_ms, to_ms, why, ...(segment === undefined ? {} : { segment }), ...(ledger_entry === undefined ? {} : { ledger_entry }), detail,
  }));
  try { report.key.fingerprint = keyFingerprint(m.public_key); } catch { bad('the manifest names a public key that cannot be read'); }
  const selfSigned = bodySignatureHolds(m);
  if (selfSigned) report.proven.push(`The manifest is signed by key ${report.key.fingerprint}, and nothing in it changed since.`);
  else bad('the manifest signature does not hold: the manifest was altered after signing, or not signed by the key it names');
  // Signed by a key other than the one given, its list of files is anyone's: not read (any key
  // can sign a list naming one large file a thousand times). Reported below, with the key.
  const expected = expectedKey(opts.keyPem);
  const signed = selfSigned && (expected === undefined || expected === report.key.fingerprint);

  // every file the manifest lists, and nothing it does not list. Only plain files inside the
  // folder are read (a FIFO, a device or a link out of the bundle is named, never opened), and
  // only files listed here are read later: each has been hashed once, here.
  const listed = new Set<string>();
  /** what each listed plain file holds: its size, and its sha256 when the size is the listed one */
  const found = new Map<string, { bytes: number; sha256: string | null }>();
  let filesOk = true;
  for (const f of m.files) {
    const rel = f.path;
    if (!isBundlePath(rel) || rel === MANIFEST_FILE) { bad(`the manifest lists a file outside the bundle: ${rel}`); filesOk = false; continue; }
    // each file is read once: listed twice, it is named (a box lists each file once)
    if (listed.has(rel)) { bad(`the manifest lists ${rel} more than once`); filesOk = false; continue; }
    listed.add(rel);
    const notPlain = notAPlainFile(dir, rel);
    if (notPlain) { bad(notPlain); filesOk = false; continue; }
    const path = join(dir, rel);
    const size = lstatSync(path).size;
    // an unsigned list proves nothing, and its sizes are anyone's: a 120 KB bundle listing a
    // sparse 16 TiB file would be hashed for hours. Its files are only counted, not read.
    const sha256 = size === f.bytes && signed ? await sha256File(path) : null;
    found.set(rel, { bytes: size, sha256 });
    if (signed && sha256 !== f.sha256) { bad(`${rel} does not match its sha256 in the manifest (altered)`); filesOk = false; }
  }
  if (!signed) {
    filesOk = false;
    report.notes.push(selfSigned
      ? 'The files were not hashed: the manifest is not signed by the key given (--key), so its list of files and their hashes proves nothing.'
      : 'The files were not hashed: the manifest\'s signature does not hold, so its list of files and their hashes proves nothing.');
  }
  const extra: string[] = [];
  for (const [rel, link] of walkFiles(dir)) {
    if (rel === MANIFEST_FILE || listed.has(rel)) continue;
    // a file among the recordings that the box did not export reads as footage to whoever plays
    // the folder (an outside probe planted a segment in a recorded gap: the bundle still read
    // VERIFIED, the file named only in a note): a problem; anything else a note
    if (rel.startsWith(`${SEGMENTS_DIR}/`)) extra.push(rel);
    else report.notes.push(`${rel} ${link ? 'is a symbolic link, ' : ''}is not part of the signed bundle (added after export); it was not examined`);
  }
  for (const rel of firstFew(extra)) bad(`${rel} is among the recordings but not part of the signed bundle: the box did not export it (added afterwards); it is not evidence from this box`);
  if (filesOk) report.proven.push(`All ${m.files.length} files listed in the manifest are present and unaltered (sha256 recomputed).`);
  /** a listed file's JSON; undefined when it is not listed, not there or not JSON (then `why`) */
  const unreadable = new Map<string, string>();
  const readJson = <T>(rel: string): T | undefined => {
    if (!found.has(rel)) return undefined;
    try { return parseBundleJson(dir, rel) as T; } catch (err) { unreadable.set(rel, (err as Error).message); return undefined; }
  };
  /** a chain proof's JSON, when it has the shape one has (else named, and undefined) */
  const readProof = <T>(rel: string): T | undefined => {
    if (!found.has(rel)) return undefined;
    const p = readJson<unknown>(rel);
    if (p === undefined) { bad(`${rel} cannot be read: ${unreadable.get(rel) ?? 'not JSON'}`); return undefined; }
    if (isObject(p) && typeof p.prev_hash === 'string' && Array.isArray(p.rows) && p.rows.every((r) => isObject(r) && Number.isSafeInteger(r.id))) return p as T;
    bad(`${rel} is not a chain proof (prev_hash and rows, each with an id)`);
    return undefined;
  };

  // the checkpoint
  let checkpoint: Checkpoint;
  try {
    if (!listed.has(CHECKPOINT_FILE)) throw new Error('not listed in the manifest');
    if (!found.has(CHECKPOINT_FILE)) throw new Error('not in the bundle as a plain file');
    checkpoint = parseCheckpoint(readBundleText(dir, CHECKPOINT_FILE).trim());
  } catch (err) {
    bad(`${CHECKPOINT_FILE} cannot be read: ${(err as Error).message}`);
    return finish();
  }
  report.checkpoint = { at_ms: checkpoint.at_ms, box: checkpoint.box, lengths: Object.fromEntries(CHAINS.map((c) => [c, checkpoint.chains[c].length])) as Record<ChainName, number> };
  if (!signatureValid(checkpoint)) bad('the checkpoint signature does not hold');
  else if (checkpoint.public_key !== m.public_key) bad('the checkpoint and the manifest are signed by different keys');
  else report.proven.push(`The checkpoint of ${iso(checkpoint.at_ms)} is signed by the same key, for box "${checkpoint.box}".`);
  if (checkpoint.box !== m.box_id) bad(`the checkpoint is for box "${checkpoint.box}", the manifest for "${m.box_id}"`);

  // the segments: chain to the checkpoint, each file its row's hash, every row of the range accounted for
  const hashAt: Record<ChainName, Map<number, string>> = { segments: new Map(), ledger: new Map(), audit: new Map() };
  /** the chained segment rows of the proof, by id: what a deletion's rule is checked against */
  const chained = new Map<number, { start_ms: number; end_ms: number; camera: string }>();
  const proof = readProof<Omit<SegmentsProof, 'checkpoint'>>(FILES.segmentsProof);
  const ledger = readProof<LedgerProof>(FILES.ledgerProof);
  let rowsShown = readJson<Array<Record<string, unknown> & { id: number }>>(FILES.segmentsRows) ?? [];
  if (!Array.isArray(rowsShown) || !rowsShown.every(isObject)) { bad(`${FILES.segmentsRows} is not a list of catalog rows`); rowsShown = []; }
  if (proof) {
    try {
      const v = verifySegmentsProof({ ...proof, checkpoint });
      // one line each for the first few: a proof file already known altered (its hash) could name a
      // million missing rows, a report nobody can read (an outside probe's 77 MB)
      for (const p of firstFew(v.problems)) bad(`segments chain: ${p}`);
      // a camera's rows are chained in the order they were recorded: one appended afterwards with
      // a time already past (root holding the key) is out of that order (time-order.ts)
      const ledgerRows = ledger?.rows ?? [];
      const gapsOpened = ledgerRows.filter((r) => r.kind === 'gap_opened').map((r) => ({ ...(JSON.parse(r.data) as GapOpenedData), camera: r.camera }));
      const order = new ChainTimeOrder([], clockBacks(gapsOpened),
        ledgerRows.filter((r) => r.kind === 'clock_stepped').map((r) => JSON.parse(r.data) as ClockForward));
      for (const p of firstFew(proof.rows.flatMap((r) => order.step(r)))) { bad(`segments chain: ${p}`); v.ok = false; }
      let head = proof.prev_hash;
      for (const r of proof.rows) { head = segmentHash(head, r, proof.v2_from); hashAt.segments.set(r.id, head); }
      const byId = new Map(proof.rows.map((r) => [r.id, r]));
      for (const r of proof.rows) chained.set(r.id, r);
      let segsOk = v.ok;
      const seen = new Set<number>();
      for (const s of m.segments) {
        // listed twice, one file counted twice in the totals a court reads (an outside probe's re-signed manifest)
        if (seen.has(s.id)) { bad(`segment #${s.id} is listed more than once in the manifest`); segsOk = false; continue; }
        seen.add(s.id);
        const r = byId.get(s.id);
        if (!r) { bad(`segment #${s.id} is not in the chain proof`); segsOk = false; continue; }
        if (r.camera !== m.camera || r.start_ms !== s.start_ms || r.end_ms !== s.end_ms || r.bytes !== s.bytes || r.sha256 !== s.sha256) {
          bad(`segment #${s.id}: the manifest's row differs from the chained row`); segsOk = false;
        }
        const file = found.get(s.file);
        if (!listed.has(s.file) || !s.file.startsWith(`${SEGMENTS_DIR}/`)) { bad(`segment #${s.id}: its file ${s.file} is not a file listed in the manifest under ${SEGMENTS_DIR}/`); segsOk = false; }
        else if (!file) { bad(`segment #${s.id}: ${s.file} is not in the bundle as a plain file`); segsOk = false; }
        else if (!signed) segsOk = false; // not hashed (above)
        else if (file.bytes !== r.bytes || file.sha256 !== r.sha256) { bad(`segment #${s.id}: ${s.file} is not the recorded file (its sha256 differs from the chained row)`); segsOk = false; }
      }
      const keys = ['camera', 'start_ms', 'end_ms', 'bytes', 'path', 'sha256', 'provenance'] as const;
      for (const shownRow of rowsShown) {
        const r = byId.get(shownRow.id);
        if (!r || keys.some((k) => canonicalJson(shownRow[k] ?? null) !== canonicalJson(r[k] ?? null))) { bad(`${FILES.segmentsRows}: row #${shownRow.id} differs from the chained row (edited)`); segsOk = false; continue; }
        // the row's stored link is the chain's own, recomputed here (a zeroed one verified: an outside probe)
        if ('chain_hash' in shownRow && shownRow.chain_hash !== hashAt.segments.get(shownRow.id)) { bad(`${FILES.segmentsRows}: row #${shownRow.id}'s chain_hash is not the chain's (edited)`); segsOk = false; }
      }
      // what the rows say of their state, and the gap and hold listings, are the box's word (signed
      // in the manifest, not chained): the report's gaps, holds and deletions come from the ledger proof
      report.notes.push(`${FILES.segmentsRows} (its state fields), ${FILES.gaps} and ${FILES.holds} are the box's listings, signed in the manifest but not chained: the gaps, holds and deletions this report shows are read from the ledger proof instead.`);
      // Rows of the range before the proof's first would be outside it, unseen: the proof starts at
      // the row before the range's first (another camera's, or this one's before the range), or
      // at the chain's very start. Without that, the range's first segments could be deleted
      // from the catalog and the proof begun after them (an outside probe did, and it verified).
      // The proof must begin at this camera's row before the range (a camera's rows are chained in
      // the order they were recorded), or at the chain's very start. Begun at another camera's row,
      // the range's first segments could lie between that row and the next (the catalog's
      // `prev_hash` of the row after them is the box's word): an outside probe deleted one that
      // way on a box with two cameras, and the bundle verified.
      const first = proof.rows[0];
      const fromStart = first?.id === 1 && proof.prev_hash === GENESIS;
      const inRange = (r: { end_ms: number; start_ms: number }) => r.end_ms > m.from_ms && r.start_ms < m.to_ms;
      if (first && !fromStart && (first.camera !== m.camera || inRange(first))) {
        bad(`segments chain: the proof begins at #${first.id}, ${first.camera === m.camera ? 'a row of the range' : `a row of another camera (${first.camera})`}, not at this camera's row before the range: rows of the range before #${first.id} may have been removed`);
        segsOk = false;
      }
      const accounted = new Set([...m.segments.map((s) => s.id), ...report.unavailable.flatMap((u) => (u.segment !== undefined && u.why in SEGMENT_ABSENCE ? [u.segment] : []))]);
      for (const r of proof.rows) {
        if (r.camera === m.camera && r.end_ms > m.from_ms && r.start_ms < m.to_ms && !accounted.has(r.id)) {
          bad(`segment #${r.id} (${iso(r.start_ms)}) of the range is neither included nor listed as unavailable (removed)`); segsOk = false;
        }
      }
      if (segsOk) report.proven.push(`The ${m.segments.length} original segment files are byte for byte the files the box recorded: their rows chain to the signed checkpoint (segments #${proof.rows[0]?.id}..#${checkpoint.chains.segments.length}).`);
    } catch (err) {
      bad(`${FILES.segmentsProof}: the segments cannot be checked (${(err as Error).message})`);
    }
  } else if (m.segments.length) {
    if (!found.has(FILES.segmentsProof)) bad(`${FILES.segmentsProof} is missing: the segments cannot be linked to the checkpoint`);
  } else {
    report.cannot_prove.push('The box had no segment rows in the range: there is no footage to prove.');
  }

  // the ledger: gaps, holds, deletions
  if (!ledger) { if (!found.has(FILES.ledgerProof)) bad(`${FILES.ledgerProof} is missing`); }
  else {
    try {
      const v = verifyLogProof(ledger, checkpoint);
      for (const p of v.problems) bad(`ledger: ${p}`);
      for (const r of ledger.rows) hashAt.ledger.set(r.id, r.hash);
      const byId = new Map(ledger.rows.map((r) => [r.id, r]));
      for (const id of m.ledger_entries ?? []) {
        const e = byId.get(id);
        if (!e) { bad(`ledger entry #${id} named by the manifest is not in the ledger proof`); continue; }
        const d = JSON.parse(e.data) as Record<string, unknown>;
        if (e.kind === 'deletion') {
          const del = d as unknown as DeletionData;
          report.deletions.push({ ledger_entry: e.id, at_ms: e.at_ms, rule: String(del.rule), note: String(del.note), segments: Array.isArray(del.segments) ? del.segments : [] });
          for (const problem of [...deletionTooEarly(e, del, chained), ...deletionAgainstLedger(e, del, ledger.rows, chained)]) bad(problem);
        } else if (e.kind === 'gap_opened') {
          report.gaps.push({ ledger_entry: e.id, at_ms: e.at_ms, start_ms: Number(d.start_ms), end_ms: d.end_ms === null ? null : Number(d.end_ms), cause: String(d.cause) });
        }
      }
      const absences = unprovenAbsences(m, byId);
      for (const problem of absences.problems) bad(problem);
      report.cannot_prove.push(...absences.onTheBoxWord);
      const holdEntry = ledger.rows.find((r) => r.kind === 'hold_added' && (JSON.parse(r.data) as { hold: number }).hold === m.hold_id);
      if (!holdEntry) bad(`the hold #${m.hold_id} the manifest names is not in the ledger`);
      if (v.ok && holdEntry) {
        report.proven.push(`The gaps, holds and deletions shown are entries of the box's ledger chained to the checkpoint, including legal hold #${m.hold_id} placed on the range at export.`);
      }
    } catch (err) {
      bad(`${FILES.ledgerProof}: the ledger cannot be checked (${(err as Error).message})`);
    }
  }

  // the audit entry that registered this export
  const audit = readProof<AuditProof>(FILES.auditProof);
  if (!audit) { if (!found.has(FILES.auditProof)) bad(`${FILES.auditProof} is missing`); }
  else {
    try {
      const v = verifyLogProof(audit, checkpoint);
      for (const p of v.problems) bad(`audit log: ${p}`);
      for (const r of audit.rows) hashAt.audit.set(r.id, r.hash);
      const e = audit.rows.find((r) => r.id === m.audit_entry);
      const mismatch = e ? registrationMismatch(e, m) : `audit entry #${m.audit_entry} is not in the audit proof`;
      if (mismatch) bad(mismatch);
      // The checkpoint is taken right after the export is registered, moments before the manifest
      // is signed: dated before entries it covers, or long before its manifest, it was back-dated
      // (a checkpoint dated before an anchor hides that the chains were cut back since).
      const later = audit.rows.find((r) => r.at_ms > checkpoint.at_ms + CLOCK_SLACK_MS);
      if (later) bad(`the checkpoint of ${iso(checkpoint.at_ms)} covers audit entry #${later.id} of ${iso(later.at_ms)}, written after it: the checkpoint was back-dated`);
      if (m.created_ms < checkpoint.at_ms - CLOCK_SLACK_MS || m.created_ms > checkpoint.at_ms + CHECKPOINT_TO_MANIFEST_MS) {
        bad(`the manifest was signed at ${iso(m.created_ms)}, its checkpoint is dated ${iso(checkpoint.at_ms)}: the box takes the checkpoint moments before it signs the manifest (back-dated)`);
      }
      else if (v.ok) report.proven.push(`The export is registered in the box's audit log as entry #${m.audit_entry} (${iso(e!.at_ms)}, by ${e!.actor}), with the agency, officers, approval, reason and destination above; the checkpoint covers it.`);
    } catch (err) {
      bad(`${FILES.auditProof}: the audit entry cannot be checked (${(err as Error).message})`);
    }
  }

  // whose key
  try {
    checkKey(report, m, opts, expected, hashAt, checkpoint);
  } catch (err) {
    bad(`the signing key cannot be checked: ${(err as Error).message}`);
  }
  return finish();
}

/** The first problems of a list, and how many more: the verdict needs one, a reader a few. */
function firstFew(problems: string[], n = 20): string[] {
  return problems.length <= n ? problems : [...problems.slice(0, n), `and ${problems.length - n} more of the same kind`];
}

/**
 * What the ledger proof itself says against a deletion, as `verify` says it on the box: a segment
 * under a hold active at that point of the ledger (added before it, not released), and a
 * `before_ledger` deletion anywhere but in the entries the ledger's start copied (an outside
 * probe's re-signed bundles verified with both). Holds added before the proof's first entry are
 * not seen here.
 */
function deletionAgainstLedger(e: LedgerRow, d: DeletionData, rows: LedgerRow[], chained: Map<number, { camera: string; start_ms: number; end_ms: number }>): string[] {
  const out: string[] = [];
  const holds = new Map<number, { id: number; camera: string | null; from_ms: number; to_ms: number }>();
  for (const r of rows) {
    if (r.id >= e.id) break;
    if (r.kind === 'hold_added') { const h = JSON.parse(r.data) as HoldAddedData; holds.set(h.hold, { id: h.hold, camera: r.camera, from_ms: h.from_ms, to_ms: h.to_ms }); }
    if (r.kind === 'hold_released') holds.delete((JSON.parse(r.data) as HoldReleasedData).hold);
  }
  for (const id of Array.isArray(d.segments) ? d.segments : []) {
    const row = chained.get(id);
    const hold = row ? holdOver([...holds.values()], row) : undefined;
    if (hold) out.push(`ledger entry #${e.id} deletes segment #${id} (${d.rule}) while hold #${hold.id} covered it: no rule deletes held footage`);
  }
  if (d.rule === 'before_ledger') {
    // the backfill: ledger_started (or the proof's first entry, if it begins inside it) and the
    // entries at its time of the kinds it writes, unbroken
    const first = rows[0];
    let inBlock = !!first && (first.kind === 'ledger_started' || BACKFILL_KINDS.has(first.kind));
    for (const r of rows) {
      if (r.id === e.id) break;
      if (r !== first && !(r.at_ms === first!.at_ms && BACKFILL_KINDS.has(r.kind))) inBlock = false;
    }
    if (!inBlock || e.at_ms !== first?.at_ms) out.push(`ledger entry #${e.id} deletes ${d.segments?.length ?? 0} segment(s) by rule before_ledger, which only the ledger's start writes, for rows deleted before it existed: this one comes after`);
  }
  return out;
}

/** Why a segment row of the range is not in the bundle, and the kind of ledger entry that must record it (null: the box's word only). */
const DAY_MS = 86_400_000;

/**
 * An age deletion (max_days, or a removed camera's box max_days) of a segment that had not
 * reached that age by the deletion's own time and rule: a deletion root wrote into the ledger to
 * hide footage (an outside probe's, of footage 3 minutes old, verified, while `verify` on the box
 * named it). The chain's end time is the one checked; a clock correction the bundle does not
 * carry could only make the segment younger still, so what is too young here is too young.
 */
function deletionTooEarly(e: { id: number; at_ms: number }, d: DeletionData, chained: Map<number, { end_ms: number }>): string[] {
  const maxDays = d.policy?.max_days;
  if ((d.rule !== 'max_days' && d.rule !== 'removed_camera') || typeof maxDays !== 'number' || !Array.isArray(d.segments)) return [];
  const out: string[] = [];
  for (const id of d.segments) {
    const row = chained.get(id);
    if (row && row.end_ms >= e.at_ms - maxDays * DAY_MS) {
      out.push(`ledger entry #${e.id} deletes segment #${id} by ${d.rule} ${maxDays} days, but it ended ${iso(row.end_ms)}, ${((e.at_ms - row.end_ms) / DAY_MS).toFixed(2)} days before: not due by its own rule`);
    }
  }
  return out;
}

const SEGMENT_ABSENCE: Record<string, string | null> = { deleted: 'deletion', missing: 'segment_missing', altered_on_box: null };

/**
 * What the manifest says is not in the bundle, against the ledger. A segment "deleted by the box"
 * must be in a deletion entry (retention writes one with every deletion, in the same
 * transaction), one "missing" in a segment_missing entry (the box flags a vanished file, at
 * start-up, in `verify` and at export), a gap in its gap_opened entry and within the bounds the
 * ledger gives it; a gap or "not recorded" never names a segment, and no other reason exists. A
 * row marked deleted by hand was shown as deleted by the box and verified, and a recorded segment
 * relabelled as a gap (or as anything) in a manifest re-signed with the box's key verified too
 * (outside probes). A file "altered on the box" is left out on the box's word alone: said so.
 */
function unprovenAbsences(m: BundleManifest, ledger: Map<number, LedgerProof['rows'][number]>): { problems: string[]; onTheBoxWord: string[] } {
  const problems: string[] = [];
  const onTheBoxWord: string[] = [];
  const data = (e: LedgerProof['rows'][number] | undefined): Record<string, unknown> => {
    try { return e ? JSON.parse(e.data) as Record<string, unknown> : {}; } catch { return {}; }
  };
  for (const u of m.unavailable) {
    const what = u.segment !== undefined ? `segment #${u.segment}` : `the ${u.why} ${iso(u.from_ms)} to ${iso(u.to_ms)}`;
    const e = u.ledger_entry === undefined ? undefined : ledger.get(u.ledger_entry);
    const cited = u.ledger_entry === undefined ? undefined : e ? e.kind : null;
    if (u.why in SEGMENT_ABSENCE) {
      const kind = SEGMENT_ABSENCE[u.why];
      if (u.segment === undefined) { problems.push(`${what} names no segment, though "${u.why}" is said of a segment`); continue; }
      if (kind === null) {
        onTheBoxWord.push(`That segment #${u.segment} (${iso(u.from_ms)}) was altered on the box: it is left out on the box's word (${u.detail}); its chained row and sha256 are in the proof.`);
        continue;
      }
      if (cited === undefined) {
        problems.push(u.why === 'deleted'
          ? `${what} is listed as deleted by the box, but no ledger entry records its deletion (removed outside retention)`
          : `${what} is listed as missing from the box, but no ledger entry records it missing (withheld)`);
        continue;
      }
      const segments = data(e).segments;
      if (cited !== kind || !(Array.isArray(segments) && segments.includes(u.segment))) {
        problems.push(`${what} cites ledger entry #${u.ledger_entry}, but ${e ? `that entry is not a ${kind} entry naming it` : 'the ledger proof has no such entry'}`);
      }
    } else if (u.why === 'gap') {
      if (u.segment !== undefined) problems.push(`${what} is listed as a gap, but a gap names no segment: a recorded segment withheld as a gap`);
      if (cited === undefined) { problems.push(`${what}: no ledger entry records the gap`); continue; }
      if (cited !== 'gap_opened') { problems.push(`${what} cites ledger entry #${u.ledger_entry}, but ${e ? 'that entry is not a gap_opened entry' : 'the ledger proof has no such entry'}`); continue; }
      const d = data(e);
      const closed = [...ledger.values()].find((r) => r.kind === 'gap_closed' && data(r).gap === d.gap);
      const end = typeof d.end_ms === 'number' ? d.end_ms : closed ? Number(data(closed).end_ms) : null;
      if (u.from_ms < Number(d.start_ms) || (end !== null && u.to_ms > end)) {
        problems.push(`${what} lies outside gap ${String(d.gap)} as the ledger records it (${iso(Number(d.start_ms))} to ${end === null ? 'still open' : iso(end)})`);
      }
    } else if (u.why === 'not_recorded') {
      if (u.segment !== undefined) problems.push(`${what} is listed as not recorded, but names a recorded segment`);
      // the box lists as not recorded only time no segment of the range covers: a manifest
      // re-signed with the box's key said so of footage the same bundle includes (an outside probe)
      const included = m.segments.find((s) => s.start_ms < u.to_ms - NOT_RECORDED_SLACK_MS && s.end_ms > u.from_ms + NOT_RECORDED_SLACK_MS);
      if (included) problems.push(`${what} is listed as not recorded, but the bundle includes segment #${included.id} of that time (${iso(included.start_ms)} to ${iso(included.end_ms)})`);
    } else {
      problems.push(`${what}: "${u.why}" is not a reason the box gives (deleted, missing, altered_on_box, gap, not_recorded)`);
    }
  }
  return { problems, onTheBoxWord };
}

/** a "not recorded" span may touch a segment's edge by this much (the times of one are not the other's to the millisecond) */
const NOT_RECORDED_SLACK_MS = 1000;

/** The audit entry must register what the manifest states. */
function registrationMismatch(e: AuditRow, m: BundleManifest): string | null {
  let d: Record<string, unknown>;
  try { d = JSON.parse(e.details) as Record<string, unknown>; } catch { return `audit entry #${e.id}: details unreadable`; }
  const same = e.action === 'evidence' && d.bundle_id === m.bundle_id && e.camera === m.camera && e.from_ms === m.from_ms && e.to_ms === m.to_ms
    && e.reason === m.request.reason && e.destination === m.request.destination && d.agency === m.request.agency && d.approval === m.request.approval
    && canonicalJson(d.officers) === canonicalJson(m.request.officers) && d.hold_id === m.hold_id && e.actor === m.exported_by;
  return same ? null : `audit entry #${e.id} does not register this export as the manifest states it (agency, officers, approval, reason, destination or range differ)`;
}

function checkKey(
  report: EvidenceReport, m: BundleManifest, opts: VerifyOptions, expected: string | Error | undefined,
  hashAt: Record<ChainName, Map<number, string>>, checkpoint: Checkpoint,
): void {
  const fp = report.key.fingerprint;
  if (expected !== undefined) {
    if (expected instanceof Error) {
      report.mismatches.push(`--key: not a public key (PEM): ${expected.message}`);
      return;
    }
    report.key.matches = expected === fp;
    if (report.key.matches) report.proven.push(`The signing key is the expected box key (${expected}).`);
    else report.mismatches.push(`signed by key ${fp}, not the expected box key ${expected} (another box's key, or a forgery)`);
    report.cannot_prove.push(UNANCHORED);
    return;
  }
  if (opts.anchorsText !== undefined) {
    const anchors: Checkpoint[] = [];
    for (const [i, line] of opts.anchorsText.split('\n').entries()) {
      if (!line.trim()) continue;
      try {
        const c = parseCheckpoint(line.trim());
        if (!signatureValid(c)) report.mismatches.push(`anchor line ${i + 1}: bad signature`);
        else anchors.push(c);
      } catch (err) { report.mismatches.push(`anchor line ${i + 1}: ${(err as Error).message}`); }
    }
    const forBox = anchors.filter((a) => a.box === m.box_id);
    const same = forBox.filter((a) => keyFingerprint(a.public_key) === fp);
    report.key.matches = same.length > 0;
    if (!same.length) {
      report.mismatches.push(`signed by key ${fp}, which none of the ${anchors.length} anchors (checkpoints the platform received) carries for box "${m.box_id}" (another box's key, or a forgery)`);
      return;
    }
    // An anchor of this box under another key is the box's key replaced since (root on the box
    // who removed it, or a reinstall): the bundle's key is tied to none of that history. Filtered
    // out, it had let a recomputed chain under a new key verify beside the old anchors.
    for (const a of forBox.filter((x) => !same.includes(x))) {
      report.key.matches = false;
      report.mismatches.push(`the anchor of ${iso(a.at_ms)} for box "${m.box_id}" is signed by key ${keyFingerprint(a.public_key)}, not the bundle's ${fp}: the box's key was replaced since (root on the box, or a reinstall), and the bundle cannot be tied to the history signed before`);
    }
    // two anchors of one length and different heads: the box signed two histories
    for (const chain of CHAINS) {
      const seen = new Map<number, Checkpoint>();
      for (const a of forBox) {
        const other = seen.get(a.chains[chain].length);
        if (other && other.chains[chain].head !== a.chains[chain].head) {
          report.mismatches.push(`the anchors of ${iso(other.at_ms)} and ${iso(a.at_ms)} disagree on the ${chain} chain at #${a.chains[chain].length}: the box signed two different histories (forked)`);
        } else seen.set(a.chains[chain].length, a);
      }
    }
    // where an anchor's chain length falls inside the bundle's proofs, the hashes must agree; a
    // chain cannot be shorter than it was at an anchor taken before the bundle's checkpoint
    // counted per chain: one anchor inside the ledger's proof (a hold placed before the footage
    // was recorded) had let a segments proof compared with nothing read as compared (an outside
    // probe's rewritten segment verified with no caveat). `newest`: the last entry compared.
    const compared = new Map<ChainName, { points: number; newest: number }>();
    const count = (chain: ChainName, at: number) => {
      const c = compared.get(chain) ?? { points: 0, newest: 0 };
      compared.set(chain, { points: c.points + 1, newest: Math.max(c.newest, at) });
    };
    for (const a of same) {
      for (const chain of CHAINS) {
        const [had, has] = [a.chains[chain].length, checkpoint.chains[chain].length];
        if (a.at_ms <= checkpoint.at_ms && had > has) {
          count(chain, has);
          report.mismatches.push(`the ${chain} chain in the bundle ends at #${has}, but the anchor of ${iso(a.at_ms)} already had #${had} (entries removed: the chain was cut back)`);
          continue;
        }
        const h = hashAt[chain].get(a.chains[chain].length);
        if (h === undefined) continue;
        count(chain, a.chains[chain].length);
        if (h !== a.chains[chain].head) report.mismatches.push(`the ${chain} chain in the bundle differs from the anchor of ${iso(a.at_ms)} at entry #${a.chains[chain].length} (rewritten)`);
      }
    }
    const points = [...compared.values()].reduce((n, c) => n + c.points, 0);
    report.proven.push(`The signing key is the one in ${same.length} anchor(s) the platform holds for box "${m.box_id}"${points ? `, and the bundle's chains agree with them at ${points} point(s) (${[...compared].map(([chain, c]) => `${chain} ${c.points}`).join(', ')})` : ''}.`);
    for (const chain of CHAINS) {
      const proof = [...hashAt[chain].keys()];
      if (!proof.length) continue;
      const [first, last] = [Math.min(...proof), Math.max(...proof)];
      const c = compared.get(chain);
      if (!c) {
        report.cannot_prove.push(`That the ${chain} chain (#${first}-#${last} in the bundle) is the one the platform saw: none of the ${same.length} anchor(s) falls inside its proof (each is older than its first entry or newer than the bundle's checkpoint), so nothing of it was compared; someone holding the box's key could have rewritten it. Anchors received between the range and the export can be compared.`);
      } else if (c.newest < last) {
        report.cannot_prove.push(`That the ${chain} chain's entries after #${c.newest} (to #${last}), after the newest anchor compared, were not rewritten by someone holding the box's key: no anchor the platform holds covers them.`);
      }
    }
    return;
  }
  report.cannot_prove.push(UNANCHORED);
  report.cannot_prove.push(`Whose key signed the bundle: it is key ${fp}, but without --key or --anchors this check cannot tell whether that is the box's key. Get the box's public key (or the checkpoints it published) from the platform that registered the box, and run again with --key or --anchors.`);
}

const UNANCHORED = 'That the chains were not rewritten or cut back by someone holding the box\'s key (root on the box): the bundle\'s checkpoint is the box\'s word. Give the checkpoints the platform received from the box (--anchors) to compare them.';

/** --key's fingerprint; the error when it is not a public key (reported by checkKey); undefined without --key */
function expectedKey(keyPem: string | undefined): string | Error | undefined {
  if (keyPem === undefined) return undefined;
  try {
    return keyFingerprint(createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }) as string);
  } catch (err) {
    return err as Error;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A path as the box writes them in a manifest: relative, '/'-separated, canonical, inside the
 * bundle (no '..', no '.', no backslash that Windows would read as a separator, no NUL). */
function isBundlePath(p: unknown): p is string {
  return typeof p === 'string' && p !== '' && !p.includes('\\') && !p.includes('\0') && !posix.isAbsolute(p)
    && posix.normalize(p) === p && !p.split('/').some((c) => c === '..' || c === '.' || c === '');
}

/** A bundle's JSON or checkpoint file as text: a plain file of a bounded size (a bundle is hostile input). */
function readBundleText(dir: string, rel: string): string {
  return readRegularFile(join(dir, rel), MAX_RECORD_FILE_BYTES, 'not a file an evidence bundle holds').toString('utf8');
}

/** Past this many objects and arrays, a JSON file must average MIN_BYTES_PER_CONTAINER bytes each. */
const DENSE_AFTER = 1_000_000;
/** The box's densest JSON (a chain proof's rows: two hashes each) has hundreds of bytes an object. */
const MIN_BYTES_PER_CONTAINER = 24;

/**
 * A bundle's JSON file, parsed, unless it is denser than anything a box writes. The size bound
 * alone does not bound the memory: 240 MB of `{},` parsed for 8 minutes into 6.5 GB before the
 * verifier died out of memory with V8's stack trace (an outside probe); an object costs V8 about
 * 25 times its 3 bytes. Counting the brackets first (inside strings too: an upper bound) costs
 * one pass over the bytes.
 */
function parseBundleJson(dir: string, rel: string): unknown {
  const bytes = readRegularFile(join(dir, rel), MAX_RECORD_FILE_BYTES, 'not a file an evidence bundle holds');
  let containers = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x7b || b === 0x5b) containers++;
  }
  if (containers > DENSE_AFTER && containers * MIN_BYTES_PER_CONTAINER > bytes.length) {
    throw new Error(`${containers} objects and arrays in ${bytes.length} bytes, denser than any file a box writes (made to exhaust the verifier's memory?); not parsed`);
  }
  return JSON.parse(bytes.toString('utf8'));
}

/** Why `rel` is not a plain file of the bundle (each folder on its way a real one, not a link
 * that may lead out of it), or null when it is one. A box writes plain files and folders only. */
function notAPlainFile(dir: string, rel: string): string | null {
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const at = parts.slice(0, i).join('/');
    let st;
    try { st = lstatSync(join(dir, at)); } catch { return `${rel} is missing (removed from the bundle)`; }
    const what = i === parts.length ? rel : `${rel}: ${at}`;
    if (st.isSymbolicLink()) return `${what} is a symbolic link (a bundle holds plain files only; a link may lead out of it)`;
    if (i < parts.length) { if (!st.isDirectory()) return `${rel} is missing (${at} is not a directory)`; continue; }
    if (st.isDirectory()) return `${rel} is a directory, not a file`;
    if (!st.isFile()) return `${rel} is not a regular file (a FIFO, device or socket in its place)`;
  }
  return null;
}

/** What in a manifest is not of the shape the box writes, or null: a manifest must be read
 * whole, and reported, before anything in it is trusted to be a number, a list or a text. */
function manifestShapeProblem(m: BundleManifest): string | null {
  const str = (v: unknown) => typeof v === 'string';
  const int = (v: unknown) => Number.isSafeInteger(v);
  // times a Date can show (±8.64e15 ms), as every time the report prints must be
  const time = (v: unknown) => int(v) && Math.abs(v as number) <= 8.64e15;
  const obj = isObject;
  const list = (v: unknown, each: (x: unknown) => boolean) => Array.isArray(v) && v.every(each);
  for (const k of ['bundle_id', 'box_id', 'camera', 'exported_by', 'public_key', 'signature'] as const) if (!str(m[k])) return `${k} is not a text`;
  for (const k of ['created_ms', 'from_ms', 'to_ms'] as const) if (!time(m[k])) return `${k} is not a time in milliseconds`;
  for (const k of ['hold_id', 'audit_entry'] as const) if (!int(m[k])) return `${k} is not a number`;
  const r = m.request as unknown;
  if (!obj(r) || !['agency', 'approval', 'reason', 'destination'].every((k) => str(r[k]))
    || !list(r.officers, (o) => obj(o) && str(o.name) && str(o.id))) return 'request is not {agency, officers [{name, id}], approval, reason, destination}';
  if (!list(m.segments, (s) => obj(s) && int(s.id) && str(s.file) && time(s.start_ms) && time(s.end_ms) && int(s.bytes) && str(s.sha256))) {
    return 'segments is not a list of {id, file, start_ms, end_ms, bytes, sha256}';
  }
  if (!list(m.unavailable, (u) => obj(u) && time(u.from_ms) && time(u.to_ms) && str(u.why) && str(u.detail)
    && (u.segment === undefined || int(u.segment)) && (u.ledger_entry === undefined || int(u.ledger_entry)))) {
    return 'unavailable is not a list of {from_ms, to_ms, why, detail}';
  }
  if (!list(m.ledger_entries, int)) return 'ledger_entries is not a list of entry numbers';
  if (!list(m.files, (f) => obj(f) && str(f.path) && str(f.sha256) && int(f.bytes))) return 'files is not a list of {path, sha256, bytes}';
  return null;
}

/** every file of the folder (not followed into links) and whether it is a symbolic link */
function walkFiles(dir: string, base = dir): Array<[string, boolean]> {
  const out: Array<[string, boolean]> = [];
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walkFiles(p, base));
    else out.push([relative(base, p).split(sep).join('/'), e.isSymbolicLink()]);
  }
  return out;
}
