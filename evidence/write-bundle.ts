/**
 * Writes an evidence bundle of original recordings (bundle-format.ts) on the box. The order is
 * what makes it proof:
 * 1. the request is checked whole before anything changes;
 * 2. a legal hold is placed on the range (placeHold: hold row, ledger entry, audit entry, event),
 *    so the footage cannot age out while the authority examines the copy;
 * 3. each original segment file is copied byte for byte and hashed again while copying; a file
 *    that no longer has its catalogued hash is left out and listed, never passed off as original;
 * 4. the export is registered in the audit log (agency, officers, approval, reason, destination);
 * 5. a fresh checkpoint is signed, covering that audit entry, the hold and every row shown;
 * 6. the proofs from the range to that checkpoint and the signed manifest are written;
 * 7. the bundle appears under its name only then (it is built under `.<name>.partial-XXXXXX`, made with mkdtemp).
 * Parts of the range that are not on the box (deleted by retention, missing, in a gap, never
 * recorded) are listed with the ledger entry that says so: the rest is exported, never refused whole.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { makeDirs } from '../common/make-dirs.js';
import { boxKey } from '../common/box-key.js';
import { giveToDataOwner, nameTaken, trustedOutputPath } from '../common/data-owner.js';
import { NotRegularFileError, openRegularFile, sha256File } from '../common/file-hash.js';
import { appendAudit } from '../recorder/catalog/audit-log.js';
import type { Catalog, GapRow, HoldRow, SegmentRow } from '../recorder/catalog/catalog.js';
import { proveAudit, proveLedger, proveSegments, takeCheckpoint } from '../recorder/catalog/checkpoint.js';
import { catalogEvents, placeHold, type HoldEventSink } from '../recorder/catalog/holds.js';
import type { LedgerRow } from '../recorder/catalog/ledger.js';
import {
  BUNDLE_SCHEMA, CHECKPOINT_FILE, FILES, MANIFEST_FILE, PARTIAL_MARK, requestProblems, SEGMENTS_DIR, signBody,
  type BundleFile, type BundleManifest, type BundleSegment, type EvidenceRequest, type Unavailable,
} from './bundle-format.js';

/** A request that is wrong rather than failed: the CLI answers it as bad usage, MQTT as invalid. */
export class EvidenceRequestError extends Error {}

export interface EvidenceJob {
  camera: string;
  fromMs: number;
  toMs: number;
  request: EvidenceRequest;
  /** who runs it on the box (cliActor, mqtt:<client>) */
  actor: string;
  /** the bundle directory to create; it must not exist */
  out: string;
  boxId: string;
  via: 'cli' | 'mqtt';
  /** aborted (the command's SIGTERM, Ctrl-C, SIGHUP): the partial bundle is removed, the failure registered */
  signal?: AbortSignal;
}

export interface EvidenceResult {
  out: string;
  bundle_id: string;
  hold_id: number;
  audit_entry: number;
  checkpoint_at_ms: number;
  segments: number;
  bytes: number;
  unavailable: Unavailable[];
  manifest_sha256: string;
}

/** Parts of the range shorter than this between segments are the recorder's seams, not losses. */
const SEAM_MS = 1000;

/** how far past the box's clock a range may end (a requester's clock a little ahead) */
const FUTURE_SLACK_MS = 60_000;

export async function writeEvidenceBundle(catalog: Catalog, dataDir: string, job: EvidenceJob, raise: HoldEventSink = catalogEvents(catalog)): Promise<EvidenceResult> {
  const problems = requestProblems(job.request);
  if (!Number.isSafeInteger(job.fromMs) || !Number.isSafeInteger(job.toMs) || job.toMs <= job.fromMs) problems.push('to must be after from');
  // the bundle's hold covers the whole range: one reaching into the future held footage nobody
  // had exported yet, for as long as the hold stands (a mistyped year, a year's hold: an outside probe)
  else if (job.toMs > Date.now() + FUTURE_SLACK_MS) problems.push(`the range ends in the future (${new Date(job.toMs).toISOString()}): nothing is recorded there yet; end it at most now`);
  if (problems.length) throw new EvidenceRequestError(problems.join('; '));
  const request: EvidenceRequest = {
    agency: job.request.agency.trim(), approval: job.request.approval.trim(), reason: job.request.reason.trim(), destination: job.request.destination.trim(),
    officers: job.request.officers.map((o) => ({ name: o.name.trim(), id: o.id.trim() })),
  };
  let out = resolve(job.out);
  if (nameTaken(out)) throw new EvidenceRequestError(`${out} exists; refusing to overwrite it (give a new directory)`);
  if (!catalog.knowsCamera(job.camera)) throw new EvidenceRequestError(`unknown camera "${job.camera}": the catalog has recordings of ${catalog.cameras().join(', ') || 'no camera'}`);

  const bundleId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
  const audit = { actor: job.actor, camera: job.camera, from_ms: job.fromMs, to_ms: job.toMs, reason: request.reason, destination: request.destination };
  const madeParent = makeDirs(dirname(out));
  const trusted = trustedOutputPath(out, dataDir);
  if ('problem' in trusted) throw new EvidenceRequestError(`${out}: ${trusted.problem}`);
  out = trusted.path;
  // made here, now, under a name nobody can guess (mode 0700): a name with the pid was guessable,
  // and a directory (or a link) another user had made there in advance was used as it was: the
  // bundle of originals ended up in a directory of theirs
  const tmp = mkdtempSync(join(dirname(out), `.${basename(out)}${PARTIAL_MARK}`));
  try {
    mkdirSync(join(tmp, SEGMENTS_DIR));
    mkdirSync(join(tmp, 'catalog'));
    mkdirSync(join(tmp, 'proof'));
    const hold = placeHold(catalog, {
      camera: job.camera, from_ms: job.fromMs, to_ms: job.toMs,
      reason: `evidence ${bundleId} for ${request.agency} (approval ${request.approval}): ${request.reason}`,
    }, job.actor, raise, job.via);
    // Registered before the first original is copied: a kill -9 while copying leaves originals in
    // the partial directory (a USB drive) that no entry named (an outside probe). An entry
    // `evidence.started` without its `evidence` or `evidence.failed` is a copy that never finished.
    appendAudit(catalog, { ...audit, action: 'evidence.started', details: { bundle_id: bundleId, hold_id: hold.id, out, partial: tmp, via: job.via } });

    const rows = catalog.segments(job.camera, job.fromMs, job.toMs);
    const gaps = catalog.gaps(job.camera, job.fromMs, job.toMs);
    const holds = catalog.holds(true).filter((h) => (h.camera === null || h.camera === job.camera) && h.from_ms < job.toMs && h.to_ms > job.fromMs);
    const files: BundleFile[] = [];
    const segments: BundleSegment[] = [];
    const unavailable: Unavailable[] = [];
    const absent: Array<{ r: SegmentRow; why: 'deleted' | 'missing' | 'altered_on_box'; detail: string }> = [];
    /** files found gone now: flagged as start-up and `verify` flag them, so the ledger records it and the bundle cites that entry */
    const vanished: SegmentRow[] = [];

    for (const r of rows) {
      job.signal?.throwIfAborted();
      if (r.state !== 'ok') {
        absent.push({ r, why: r.state === 'deleted' ? 'deleted' : 'missing', detail: `${r.state_note ?? r.state} (${r.state_at_ms ? new Date(r.state_at_ms).toISOString() : 'time unknown'})` });
        continue;
      }
      const file = `${SEGMENTS_DIR}/${String(r.id).padStart(8, '0')}-${basename(r.path)}`;
      let copied: { sha256: string; bytes: number };
      try {
        copied = await copyHashing(join(dataDir, r.path), join(tmp, file));
      } catch (err) {
        if (err instanceof NotRegularFileError) {
          absent.push({ r, why: 'altered_on_box', detail: `${err.what} in the place of ${r.path}: left out, it is not the original` });
          continue;
        }
        // only the original's own absence: an ENOENT on the bundle's side (its folder gone) is the copy failing
        if (!(err instanceof SourceMissingError)) throw err;
        vanished.push(r);
        absent.push({ r, why: 'missing', detail: `the file ${r.path} is not on the box (found at export)` });
        continue;
      }
      if (copied.sha256 !== r.sha256 || copied.bytes !== r.bytes) {
        rmSync(join(tmp, file));
        absent.push({ r, why: 'altered_on_box', detail: `the file ${r.path} no longer has its catalogued sha256 ${r.sha256.slice(0, 16)}…: left out, it is not the original` });
        continue;
      }
      segments.push({ id: r.id, file, start_ms: r.start_ms, end_ms: r.end_ms, bytes: r.bytes, sha256: r.sha256 });
      files.push({ path: file, sha256: r.sha256, bytes: r.bytes });
    }
    if (vanished.length) catalog.flagMissing(vanished, 'the file was not on the box when an evidence bundle was exported');
    const ledger = ledgerAbout(catalog, job.camera, rows, gaps, holds);
    const entryFor = (kind: string, id: number) => ledger.find((e) => e.kind === kind && (JSON.parse(e.data) as { segments?: number[] }).segments?.includes(id))?.id;
    for (const { r, why, detail } of absent) {
      const kind = why === 'deleted' ? 'deletion' : why === 'missing' ? 'segment_missing' : undefined;
      unavailable.push({ from_ms: r.start_ms, to_ms: r.end_ms, segment: r.id, why, ledger_entry: kind && entryFor(kind, r.id), detail });
    }
    for (const g of gaps) {
      const opened = ledger.find((e) => e.kind === 'gap_opened' && (JSON.parse(e.data) as { gap: number }).gap === g.id);
      unavailable.push({
        from_ms: Math.max(g.start_ms, job.fromMs), to_ms: Math.min(g.end_ms ?? job.toMs, job.toMs), why: 'gap', ledger_entry: opened?.id,
        detail: `gap ${g.id}: ${g.cause}${g.detail ? ` (${g.detail})` : ''}${g.end_ms === null ? ', still open' : ''}`,
      });
    }
    for (const [from, to] of uncovered(job.fromMs, job.toMs, [...rows.map((r) => [r.start_ms, r.end_ms] as const), ...gaps.map((g) => [g.start_ms, g.end_ms ?? job.toMs] as const)])) {
      unavailable.push({ from_ms: from, to_ms: to, why: 'not_recorded', detail: 'no segment and no gap in the catalog: before the oldest recording, after the newest, or while the box was off' });
    }
    unavailable.sort((a, b) => a.from_ms - b.from_ms);

    const entry = appendAudit(catalog, {
      ...audit, action: 'evidence',
      details: {
        bundle_id: bundleId, agency: request.agency, officers: request.officers, approval: request.approval, hold_id: hold.id, out, via: job.via,
        segments: segments.length, unavailable: unavailable.length,
      },
    });
    // fresh: it covers the audit entry just written, the hold and every row the bundle shows
    const { checkpoint, line } = takeCheckpoint(catalog, dataDir, job.boxId, 'egress', job.actor);
    const write = (path: string, text: string) => {
      writeFileSync(join(tmp, path), text, { flag: 'wx' });
      files.push({ path, sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text) });
    };
    const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
    write(CHECKPOINT_FILE, line + '\n');
    write(FILES.segmentsRows, json(rows));
    write(FILES.gaps, json(gaps));
    write(FILES.holds, json(holds));
    if (rows.length) {
      // From this camera's row before the range's first (or the chain's start): a verifier then
      // sees that no row of the range was before it. A camera's rows go into the chain in the
      // order they were recorded. From another camera's row (the row just before), the range's
      // first segments could be deleted from the catalog and the bundle still verified.
      const firstId = Math.min(...rows.map((r) => r.id));
      const before = catalog.db.prepare('SELECT max(id) AS id FROM segments WHERE camera = ? AND id < ?').get(job.camera, firstId) as { id: number | null };
      const start = before.id ?? (catalog.db.prepare('SELECT min(id) AS id FROM segments').get() as { id: number }).id;
      const proof = proveSegments(catalog, start, Math.max(...rows.map((r) => r.id)), checkpoint);
      if (!proof) throw new Error(`the segments chain cannot be proven from row #${start} to the checkpoint: run \`edge-nvr verify\``);
      write(FILES.segmentsProof, json({ prev_hash: proof.prev_hash, v2_from: proof.v2_from, rows: proof.rows }));
    }
    write(FILES.ledgerProof, json(proveLedger(catalog, ledger[0]!.id, checkpoint)));
    write(FILES.auditProof, json(proveAudit(catalog, entry.id, checkpoint)));
    write(FILES.howTo, howTo());

    const manifest = signBody<BundleManifest>({
      schema: BUNDLE_SCHEMA, bundle_id: bundleId, box_id: job.boxId, created_ms: Date.now(), camera: job.camera, from_ms: job.fromMs, to_ms: job.toMs,
      request, exported_by: job.actor, hold_id: hold.id, audit_entry: entry.id, segments, unavailable, ledger_entries: ledger.map((e) => e.id),
      files, public_key: checkpoint.public_key,
    }, boxKey(dataDir).privateKey);
    writeFileSync(join(tmp, MANIFEST_FILE), json(manifest), { flag: 'wx' });
    await fsyncPath(join(tmp, MANIFEST_FILE));
    try {
      renameSync(tmp, out);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // another export given the same --out finished first: said plainly, not as a raw ENOTEMPTY
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`${out} appeared while this bundle was written (another export given the same --out?); this one was not kept, give a new directory`);
      throw err;
    }
    giveToDataOwner(dataDir, [madeParent ?? out]);
    return {
      out, bundle_id: bundleId, hold_id: hold.id, audit_entry: entry.id, checkpoint_at_ms: checkpoint.at_ms, segments: segments.length,
      bytes: segments.reduce((s, x) => s + x.bytes, 0), unavailable, manifest_sha256: await sha256File(join(out, MANIFEST_FILE)),
    };
  } catch (caught) {
    const code = (caught as NodeJS.ErrnoException).code;
    // a full or failing drive is named: "ENOSPC: no space left on device, write" did not say which
    const err = job.signal?.aborted ? new Error(`cancelled: ${(job.signal.reason as Error)?.message ?? 'aborted'}; nothing was written`)
      : code === 'ENOSPC' || code === 'EIO' || code === 'EROFS' || code === 'EDQUOT'
        ? new Error(`cannot write the bundle at ${out} (${(caught as Error).message}); nothing was kept there, the hold placed stays`)
        : caught;
    rmSync(tmp, { recursive: true, force: true });
    try {
      appendAudit(catalog, { ...audit, action: 'evidence.failed', details: { bundle_id: bundleId, out, error: (err as Error).message } });
    } catch { /* the original error matters more */ }
    throw err;
  }
}

/** The ledger entries about the range: its gaps, its holds, and the deletions and missing files
 * among its segments, oldest first. */
function ledgerAbout(catalog: Catalog, camera: string, rows: SegmentRow[], gaps: GapRow[], holds: HoldRow[]): LedgerRow[] {
  const segIds = new Set(rows.map((r) => r.id));
  const gapIds = new Set(gaps.map((g) => g.id));
  const holdIds = new Set(holds.map((h) => h.id));
  const all = catalog.db.prepare(`SELECT * FROM ledger WHERE (camera = ? OR camera IS NULL)
    AND kind IN ('gap_opened', 'gap_closed', 'hold_added', 'hold_released', 'deletion', 'segment_missing') ORDER BY id`).all(camera) as LedgerRow[];
  return all.filter((e) => {
    const d = JSON.parse(e.data) as { gap?: number; hold?: number; segments?: number[] };
    if (e.kind === 'gap_opened' || e.kind === 'gap_closed') return gapIds.has(d.gap!);
    if (e.kind === 'hold_added' || e.kind === 'hold_released') return holdIds.has(d.hold!);
    return (d.segments ?? []).some((id) => segIds.has(id));
  });
}

/** Parts of [from, to) that no interval covers, longer than a seam. */
export function uncovered(from: number, to: number, spans: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = from;
  for (const [s, e] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (s - at >= SEAM_MS) out.push([at, Math.min(s, to)]);
    at = Math.max(at, e);
    if (at >= to) break;
  }
  if (to - at >= SEAM_MS) out.push([at, to]);
  return out;
}

/** Copies a recording (a plain file only: see openRegularFile), hashing the bytes as they pass, and makes the copy durable. */
/** The original is not on the box (not: the bundle's side of the copy failed). */
class SourceMissingError extends Error {}

async function copyHashing(src: string, dst: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const fh = await openRegularFile(src).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new SourceMissingError(err.message) : err;
  });
  await pipeline(fh.createReadStream(), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  }, createWriteStream(dst, { flags: 'wx' }));
  await fsyncPath(dst);
  return { sha256: hash.digest('hex'), bytes };
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

function howTo(): string {
  return [
    'This directory is an evidence bundle of original recordings exported by an edge-nvr box.',
    '',
    'To check it, on any computer with Node.js 20 or later and the edge-nvr package:',
    '',
    '  edge-nvr verify-evidence <this directory> --key <the box public key, PEM>',
    '  (or, without installing: node <package>/dist/evidence/verify-cli.js <this directory> --key <PEM>)',
    '',
    'It re-hashes every file, recomputes the hash chains from the segments to the signed',
    'checkpoint, checks the signatures and prints what is proven. Exit status 0: everything',
    'holds; 1: something does not (the report says what). Without --key or --anchors it cannot',
    "tell whose key signed the bundle: get the box's public key from the platform that registered it.",
    '',
  ].join('\n');
}
