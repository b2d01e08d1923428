import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { boxPublicKey } from '../common/box-key.js';
import { NotRegularFileError, sha256RegularFile } from '../common/file-hash.js';
import { verifyAudit } from './catalog/audit-log.js';
import type { Catalog, SegmentRow } from './catalog/catalog.js';
import { ChainWalker, paged } from './catalog/chain.js';
import { checkAnchors, parseCheckpoint, type ChainName, type Checkpoint } from './catalog/checkpoint.js';
import { segmentHash } from './catalog/hash-chain.js';
import { ChainTimeOrder, clockBacks as clockBacksOf, type ClockForward } from './catalog/time-order.js';
import type { QuarantinedData } from './catalog/ledger.js';
import { QUARANTINE_DIR } from './recovery.js';
import { RECORDINGS_DIR } from './segment-store.js';
import { checkLedger, STATE_DELETED, STATE_MISSING, STATE_NAMES, STATE_OK } from './verify-ledger.js';

/** how long a file found in recordings/ without a row may be waiting for the daemon to index it */
const INDEXING_GRACE_MS = 2000;

export interface VerifyFinding {
  /** modified, missing, inserted: files; chain, ledger, audit: a chain broken; view: a gap, hold or
   * state not as the ledger says; deletion: one that was not due; anchor: a checkpoint not
   * extended; quarantine: a file set aside by recovery, changed or gone; catalog: the catalog
   * file itself is damaged (SQLite's quick_check) */
  kind: 'modified' | 'missing' | 'inserted' | 'chain' | 'ledger' | 'audit' | 'view' | 'deletion' | 'anchor' | 'quarantine' | 'catalog';
  path?: string;
  segment?: number;
  camera?: string;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  /** rows in the segments chain */
  chainLength: number;
  /** files hashed */
  filesChecked: number;
  /** rows whose files retention removed on purpose (each with its ledger entry) */
  deleted: Array<{ segment: number; camera: string; path: string; atMs: number | null; note: string | null }>;
  /** files recovery could not read and set aside */
  quarantined: Array<{ file: string; from: string; reason: string }>;
  findings: VerifyFinding[];
  chainHead: string;
  chains: Record<ChainName, { length: number; head: string }>;
  proof: {
    schema_version: number;
    /** first segment hashed with the v2 formula (canonical JSON, provenance covered); null: catalog not migrated */
    segments_v2_from: number | null;
    audit_v2_from: number | null;
    ledger: boolean;
    anchors_checked: number;
    local_checkpoints_checked: number;
    deletions_rechecked: number;
    deletions_not_recheckable: number;
    /** what this run could not prove, in plain words */
    cannot_prove: string[];
  };
}

export interface VerifyOptions {
  camera?: string;
  /** checkpoints a platform received (`verify --anchors`) */
  anchors?: Array<{ label: string; checkpoint: Checkpoint }>;
  /** re-hash files (default); false checks the catalog alone (benchmarks) */
  files?: boolean;
}

/** SQLite's quick_check of the catalog file: each problem it names (at most 10), none when sound. */
function catalogDamage(catalog: Catalog): VerifyFinding[] {
  let rows: string[];
  try {
    rows = (catalog.db.pragma('quick_check(10)') as Array<{ quick_check: string }>).map((r) => r.quick_check);
  } catch (err) {
    rows = [(err as Error).message];
  }
  return rows.filter((r) => r !== 'ok').map((r) => ({ kind: 'catalog', detail: `the catalog file is damaged: ${r}` }));
}

/**
 * Proves the recordings are what was recorded, and their fate what the box did:
 * - every chain (segments, ledger, audit log) walks from genesis: a row altered, inserted or
 *   removed breaks it;
 * - the view (gaps, holds, each segment's state) is what the ledger says, both ways, and every
 *   deletion was due by its own rule at its time;
 * - every live row's file exists and hashes to the catalogued sha256 (modified, missing), and no
 *   segment file exists that the catalog does not know (inserted); quarantined files are the
 *   ones recovery set aside, unchanged;
 * - the catalog extends every anchor given and every checkpoint it stored: neither truncated nor
 *   rewritten since;
 * - the catalog file itself passes SQLite's quick_check (a damaged page no chain covers).
 */
export async function verifyRecordings(dataDir: string, catalog: Catalog, opts: VerifyOptions = {}): Promise<VerifyReport> {
  // the chains prove the rows they walk; a damaged page elsewhere (the events, an index) is in
  // none of them, and the daemon and `status` fail on it: it was reported OK
  const findings: VerifyFinding[] = catalogDamage(catalog);
  const deleted: VerifyReport['deleted'] = [];
  const known = new Set<string>();
  const files = opts.files ?? true;
  let filesChecked = 0;

  const local = catalog.checkpoints().flatMap((r) => {
    try {
      return [{ label: `local checkpoint #${r.id}`, checkpoint: parseCheckpoint(r.payload) }];
    } catch (err) {
      findings.push({ kind: 'anchor', detail: `local checkpoint #${r.id} cannot be read: ${(err as Error).message}` });
      return [];
    }
  });
  const anchors = [...(opts.anchors ?? []), ...local];
  const wanted = (chain: ChainName) => anchors.map((a) => a.checkpoint.chains[chain].length);

  // the ledger first: it says what state each segment row must be in
  const segLength = catalog.chainHead().id;
  const ledger = catalog.hasLedger ? checkLedger(catalog, segLength, wanted('ledger')) : undefined;
  if (ledger) findings.push(...ledger.findings);

  const seg = new ChainWalker<SegmentRow>((r) => ({ id: r.id, prev: r.prev_hash, hash: r.chain_hash }),
    (r, prev) => segmentHash(prev, r, catalog.segmentsV2From), { noun: 'segment', at: wanted('segments') });
  const clockBacks = clockBacksOf(catalog.db.prepare("SELECT camera, start_ms, end_ms, cause, detail FROM gaps WHERE cause = 'clock_jump'").all() as Array<{ camera: string; start_ms: number; end_ms: number | null; cause: string; detail: string | null }>);
  const clockForward = catalog.hasLedger
    ? (catalog.db.prepare("SELECT data FROM ledger WHERE kind = 'clock_stepped'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as ClockForward)
    : [];
  const timeOrder = new ChainTimeOrder(anchors.map((a) => ({ label: a.label, at_ms: a.checkpoint.at_ms, segments: a.checkpoint.chains.segments.length })), clockBacks, clockForward);
  for (const row of paged((after, limit) => catalog.segmentsAfter(after, limit))) {
    if (files) known.add(row.path);
    for (const detail of timeOrder.step(row)) findings.push({ kind: 'inserted', segment: row.id, camera: row.camera, path: row.path, detail });
    for (const p of seg.step(row)) {
      const detail = p.kind === 'removed' ? `${p.detail} from the catalog` : p.kind === 'inserted' ? `segment #${row.id} does not follow the row before it in the hash chain` : `catalog row of segment #${row.id} was altered`;
      findings.push({ kind: 'chain', segment: row.id, camera: row.camera, path: row.path, detail });
    }
    if (ledger) {
      const expected = row.id <= segLength ? ledger.expectedState[row.id]! : STATE_OK;
      const actual = row.state === 'deleted' ? STATE_DELETED : row.state === 'missing' ? STATE_MISSING : STATE_OK;
      if (expected !== actual) {
        findings.push({
          kind: 'view', segment: row.id, camera: row.camera, path: row.path,
          detail: expected === STATE_OK ? `segment #${row.id} is ${row.state} in the catalog, but the ledger has no entry that made it so`
            : `the ledger made segment #${row.id} ${STATE_NAMES[expected]}, the catalog row says ${row.state}`,
        });
      } else if (actual !== STATE_OK && ledger.expectedStateAt.get(row.id) !== row.state_at_ms) {
        findings.push({ kind: 'view', segment: row.id, camera: row.camera, path: row.path, detail: `segment #${row.id}'s state time was edited (${row.state_at_ms}, the ledger says ${ledger.expectedStateAt.get(row.id)})` });
      }
    }
    if (opts.camera && row.camera !== opts.camera) continue;
    if (row.state === 'deleted') {
      deleted.push({ segment: row.id, camera: row.camera, path: row.path, atMs: row.state_at_ms, note: row.state_note });
      continue;
    }
    if (!files) continue;
    const abs = join(dataDir, row.path);
    if (!existsSync(abs)) {
      findings.push({ kind: 'missing', segment: row.id, camera: row.camera, path: row.path, detail: row.state === 'missing' ? `missing since ${new Date(row.state_at_ms ?? 0).toISOString()}` : 'file not found' });
      continue;
    }
    filesChecked++;
    let actual: string;
    try {
      actual = (await sha256RegularFile(abs)).sha256;
    } catch (err) {
      if (!(err instanceof NotRegularFileError)) throw err;
      findings.push({ kind: 'modified', segment: row.id, camera: row.camera, path: row.path, detail: `${err.what} in the segment's place, not the recorded file` });
      continue;
    }
    if (actual !== row.sha256) {
      findings.push({ kind: 'modified', segment: row.id, camera: row.camera, path: row.path, detail: `sha256 ${actual.slice(0, 16)}… differs from the catalogued ${row.sha256.slice(0, 16)}…` });
    }
  }

  const audit = verifyAudit(catalog, { at: wanted('audit') });
  for (const p of audit.problems) findings.push({ kind: 'audit', detail: p.detail });

  const quarantined: VerifyReport['quarantined'] = [];
  if (files) {
    // A running daemon indexes segments while this pass hashes: a file it moved into recordings/
    // after the rows above were read has its row by now, or within moments (the row follows the
    // rename and its directory fsyncs). Asked again, and once more after a pause, before a file
    // is called inserted: verify on a live box said INSERTED about 1 run in 10.
    const isIndexed = catalog.db.prepare('SELECT 1 FROM segments WHERE path = ?').pluck();
    let unknown = filesUnder(dataDir, RECORDINGS_DIR, opts.camera).filter((rel) => !known.has(rel) && !isIndexed.get(rel));
    if (unknown.length) {
      await new Promise((resolve) => setTimeout(resolve, INDEXING_GRACE_MS));
      unknown = unknown.filter((rel) => !isIndexed.get(rel) && existsSync(join(dataDir, rel)));
    }
    for (const rel of unknown) {
      findings.push({ kind: 'inserted', path: rel, camera: rel.split('/')[1], detail: `${statSync(join(dataDir, rel)).size} bytes not in the catalog` });
    }
    const inLedger = ledger?.quarantined ?? new Map<string, QuarantinedData>();
    for (const rel of filesUnder(dataDir, QUARANTINE_DIR, opts.camera)) {
      const q = inLedger.get(rel);
      if (!q) {
        findings.push({ kind: 'quarantine', path: rel, detail: 'a file in quarantine/ that recovery did not put there (no ledger entry)' });
        continue;
      }
      quarantined.push({ file: rel, from: q.from, reason: q.reason });
      const kept = await sha256RegularFile(join(dataDir, rel)).then((h) => h.sha256, (err: Error) => { if (err instanceof NotRegularFileError) return err.what; throw err; });
      if (kept !== q.sha256) findings.push({ kind: 'quarantine', path: rel, detail: `changed since recovery set it aside (sha256 differs from ${q.sha256.slice(0, 16)}…)` });
    }
    for (const [rel, q] of inLedger) {
      if ((!opts.camera || rel.split('/')[1] === opts.camera) && !existsSync(join(dataDir, rel))) {
        findings.push({ kind: 'quarantine', path: rel, detail: `set aside by recovery (from ${q.from}: ${q.reason}) and since removed` });
      }
    }
  }

  const chains: VerifyReport['chains'] = {
    segments: { length: seg.result.length, head: seg.result.head },
    ledger: { length: ledger?.walk.length ?? 0, head: ledger?.walk.head ?? '0'.repeat(64) },
    audit: { length: audit.length, head: audit.head },
  };
  const at: Record<ChainName, Map<number, string>> = { segments: seg.result.at, ledger: ledger?.walk.at ?? new Map<number, string>(), audit: audit.at };
  for (const f of checkAnchors(anchors, {
    boxKeyPem: boxPublicKey(dataDir),
    boxId: catalog.hasLedger ? catalog.getMeta('box.id') ?? null : null,
    lengths: { segments: chains.segments.length, ledger: chains.ledger.length, audit: chains.audit.length },
    hashAt: (chain, length) => at[chain].get(length),
  })) findings.push({ kind: 'anchor', detail: f.detail });

  const started = ledger?.started ?? null;
  if (started) {
    for (const [key, value] of [['chain.segments.v2_from', started.segments_v2_from], ['chain.audit.v2_from', started.audit_v2_from]] as const) {
      if (Number(catalog.getMeta(key)) !== value) findings.push({ kind: 'chain', detail: `meta ${key} was changed (${catalog.getMeta(key)}; the ledger says ${value})` });
    }
  }
  const cannot: string[] = [];
  if (!catalog.hasLedger) {
    cannot.push(`this catalog predates the ledger (schema ${catalog.schemaVersion}): gaps, holds and state changes are not chained, and rows use the v1 hash formulas; the daemon migrates it at its next start`);
  } else {
    if (catalog.segmentsV2From > 1) cannot.push(`segments #1..#${catalog.segmentsV2From - 1} were hashed with the v1 formula (before the catalog was migrated); the stronger v2 proof holds from segment #${catalog.segmentsV2From}`);
    if (started && started.from_schema > 0) cannot.push(`gaps, holds and deletions before the migration (${started.backfilled.gaps} gaps, ${started.backfilled.holds} holds, ${started.backfilled.deleted} deleted and ${started.backfilled.missing} missing rows) were copied into the ledger as they stood; deletions before it cannot be re-checked against their rule`);
  }
  if (!opts.anchors?.length) {
    cannot.push('without anchors, verify cannot prove that a whole chain was not recomputed, nor that the newest entries were not removed: '
      + 'keep the checkpoints the box publishes (MQTT <prefix>/checkpoint, `edge-nvr checkpoint`) off the box and pass them with --anchors FILE');
  } else {
    const newest = Math.max(...opts.anchors.map((a) => a.checkpoint.at_ms));
    cannot.push(`entries added after the newest anchor (${new Date(newest).toISOString()}) are proven only by the box itself`);
  }

  return {
    ok: findings.length === 0, chainLength: seg.result.entries, filesChecked, deleted, quarantined, findings, chainHead: seg.result.head, chains,
    proof: {
      schema_version: catalog.schemaVersion,
      segments_v2_from: catalog.hasLedger ? catalog.segmentsV2From : null,
      audit_v2_from: catalog.hasLedger ? catalog.auditV2From : null,
      ledger: catalog.hasLedger,
      anchors_checked: opts.anchors?.length ?? 0,
      local_checkpoints_checked: local.length,
      deletions_rechecked: ledger?.deletions.rechecked ?? 0,
      deletions_not_recheckable: ledger?.deletions.notRecheckable ?? 0,
      cannot_prove: cannot,
    },
  };
}

/** Every file under `<dataDir>/<top>/` (one camera's when given), except the backends' staging dirs. */
function filesUnder(dataDir: string, top: string, camera?: string): string[] {
  const root = join(dataDir, top);
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (e.name !== '.staging') walk(join(dir, e.name));
      } else {
        out.push(relative(dataDir, join(dir, e.name)));
      }
    }
  };
  walk(camera ? join(root, camera) : root);
  return out.sort();
}

