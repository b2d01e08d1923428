/**
 * The ledger half of `verify`: walks the ledger's chain, rebuilds from it what the view tables
 * must hold (gaps, holds, each segment's state, quarantined files), re-checks every deletion
 * against its own rule with the facts, the policy and the holds in force at that point of the
 * ledger, and compares the view with what it rebuilt, both ways.
 */
import type { Catalog, GapRow, HoldRow, SegmentRow } from './catalog/catalog.js';
import { ageShift, confirmedCorrections, trueStart, type ClockConfirmedData, type ClockCorrection, type ClockSteppedData } from './catalog/clock-corrections.js';
import { ChainWalker, paged } from './catalog/chain.js';
import { holdOver } from './catalog/holds.js';
import { ledgerHash } from './catalog/hash-chain.js';
import {
  BACKFILL_KINDS, type DeletionData, type GapClosedData, type GapOpenedData, type HoldAddedData, type HoldReleasedData, type LedgerRow,
  type LedgerStartedData, type QuarantinedData, type RetentionPolicyData, type SegmentMissingData,
} from './catalog/ledger.js';

const DAY_MS = 86_400_000;

export interface LedgerFinding {
  kind: 'ledger' | 'view' | 'deletion';
  segment?: number;
  camera?: string;
  path?: string;
  detail: string;
}

export const STATE_OK = 0;
export const STATE_DELETED = 1;
export const STATE_MISSING = 2;
export const STATE_NAMES = ['ok', 'deleted', 'missing'] as const;

export interface LedgerCheck {
  walk: ChainWalker<LedgerRow>['result'];
  started: LedgerStartedData | null;
  findings: LedgerFinding[];
  /** each segment's state as the ledger says (index = segment id): one byte a row */
  expectedState: Uint8Array;
  /** `state_at_ms` the ledger wrote per changed segment */
  expectedStateAt: Map<number, number>;
  quarantined: Map<string, QuarantinedData>;
  deletions: { rechecked: number; notRecheckable: number };
}

const iso = (ms: number) => new Date(ms).toISOString();
const parse = <T>(e: LedgerRow): T => JSON.parse(e.data) as T;

/** `segmentsLength`: how many rows the segments chain has (the ledger may only name those). */
export function checkLedger(catalog: Catalog, segmentsLength: number, at: Iterable<number> = []): LedgerCheck {
  const findings: LedgerFinding[] = [];
  const walker = new ChainWalker<LedgerRow>((e) => ({ id: e.id, prev: e.prev_hash, hash: e.hash }), (e, prev) => ledgerHash(prev, e), { noun: 'ledger entry', at });
  const gaps = new Map<number, GapRow>();
  const holds = new Map<number, HoldRow>();
  const expectedState = new Uint8Array(segmentsLength + 1);
  const expectedStateAt = new Map<number, number>();
  const quarantined = new Map<string, QuarantinedData>();
  let started: LedgerStartedData | null = null;
  /** while the entries right after ledger_started are its backfill (migrations.ts backfillLedger: same time, those kinds) */
  let backfill: { atMs: number; deleted: number } | null = null;
  let policy: RetentionPolicyData | null = null;
  let paused = false;
  const stepped = new Map<number, ClockSteppedData>();
  /** the cameras with segment rows, read once, when a space deletion first needs them */
  let cameras: string[] | undefined;
  const corrections: ClockCorrection[] = [];
  const deletions = { rechecked: 0, notRecheckable: 0 };
  /** the newest segment row an earlier deletion said existed (DeletionData.last_segment) */
  let lastSegment = 0;
  /**
   * One sweep's space deletions (the same time, one after another: a batch split by camera),
   * judged together once the last is read: until then the batch's rows of the next camera look
   * kept (they are deleted by the entry after).
   */
  let sweep: { atMs: number; entries: Array<{ e: LedgerRow; d: DeletionData; holds: HoldRow[]; policy: RetentionPolicyData; corrections: ClockCorrection[] }> } | null = null;
  const judgeSweep = () => {
    for (const s of sweep?.entries ?? []) {
      const live = (id: number) => expectedState[id] === STATE_OK;
      const all = () => (cameras ??= catalog.segmentCameras());
      findings.push(...pastMinimumKept(catalog, s.e, s.d, s.policy, s.holds, s.corrections, live, all));
      findings.push(...olderYoungKept(catalog, s.e, s.d, s.policy, s.holds, s.corrections, live, all));
    }
    sweep = null;
  };

  const setState = (e: LedgerRow, ids: number[], state: number, atMs: number) => {
    for (const id of ids) {
      if (!Number.isSafeInteger(id) || id < 1 || id > segmentsLength) {
        findings.push({ kind: 'ledger', segment: id, detail: `ledger entry #${e.id} (${e.kind}) names segment #${id}, which the chain does not hold` });
        continue;
      }
      expectedState[id] = state;
      expectedStateAt.set(id, atMs);
    }
  };

  for (const e of paged((after, limit) => catalog.ledgerAfter(after, limit))) {
    for (const p of walker.step(e)) findings.push({ kind: 'ledger', detail: p.detail });
    if (backfill && !(e.at_ms === backfill.atMs && BACKFILL_KINDS.has(e.kind))) backfill = null;
    if (sweep && !(e.kind === 'deletion' && e.at_ms === sweep.atMs)) judgeSweep();
    try {
      switch (e.kind) {
        case 'ledger_started':
          if (!started) {
            started = parse<LedgerStartedData>(e);
            backfill = { atMs: e.at_ms, deleted: started.backfilled.deleted };
          }
          break;
        case 'gap_opened': {
          const d = parse<GapOpenedData>(e);
          gaps.set(d.gap, { id: d.gap, camera: e.camera ?? '', start_ms: d.start_ms, end_ms: d.end_ms, cause: d.cause, detail: d.detail });
          break;
        }
        case 'gap_closed': {
          const d = parse<GapClosedData>(e);
          const g = gaps.get(d.gap);
          if (!g) findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} closes gap #${d.gap}, which the ledger never opened` });
          else g.end_ms = d.end_ms;
          break;
        }
        case 'hold_added': {
          const d = parse<HoldAddedData>(e);
          holds.set(d.hold, { id: d.hold, camera: e.camera, from_ms: d.from_ms, to_ms: d.to_ms, reason: d.reason, created_by: d.by, created_ms: d.created_ms, released_ms: null, released_by: null });
          break;
        }
        case 'hold_released': {
          const d = parse<HoldReleasedData>(e);
          const h = holds.get(d.hold);
          if (!h) findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} releases hold #${d.hold}, which the ledger never added` });
          else Object.assign(h, { released_ms: d.released_ms, released_by: d.by });
          break;
        }
        case 'segment_missing': {
          const d = parse<SegmentMissingData>(e);
          setState(e, d.segments, STATE_MISSING, d.state_at_ms);
          break;
        }
        case 'deletion': {
          const d = parse<DeletionData>(e);
          if (d.segments) setState(e, d.segments, STATE_DELETED, d.state_at_ms);
          const active = [...holds.values()].filter((h) => h.released_ms === null);
          const problems = recheckDeletion(catalog, e, d, policy, paused, active, corrections);
          if (d.last_segment !== undefined) {
            // what says which rows existed then (existedAt) must be true: at least the rows it
            // deleted, never fewer than an earlier entry said (ids only grow), at most the chain
            if (!Number.isInteger(d.last_segment) || d.last_segment < Math.max(0, ...(d.segments ?? [])) || d.last_segment < lastSegment || d.last_segment > segmentsLength) {
              problems.push({ kind: 'deletion', camera: e.camera ?? undefined, segment: d.segments?.[0],
                detail: `deletion #${e.id} at ${iso(e.at_ms)} (${d.rule}): says segment #${d.last_segment} was the newest then, which the rows it deleted, an earlier deletion (#${lastSegment}) or the chain (${segmentsLength} rows) contradict` });
            } else lastSegment = d.last_segment;
          }
          if (d.rule === 'space_floor' && policy) {
            sweep ??= { atMs: e.at_ms, entries: [] };
            sweep.entries.push({ e, d, holds: active, policy, corrections: [...corrections] });
          }
          if (d.rule === 'before_ledger') {
            // only the migration that starts the ledger writes these, for the rows deleted before it
            // existed: anywhere else, or for more rows than it counted, one is a deletion that
            // named a rule nothing re-checks (an outside probe deleted held footage so)
            const n = d.segments?.length ?? 0;
            if (!backfill || n > backfill.deleted) {
              problems.push({
                kind: 'deletion', camera: e.camera ?? undefined, segment: d.segments?.[0],
                detail: `deletion #${e.id} at ${iso(e.at_ms)} (before_ledger): only the ledger's start copies deletions made before it, `
                  + (backfill ? `and it counted ${started?.backfilled.deleted ?? 0} deleted rows` : 'in the entries written with ledger_started; this one comes after them'),
              });
            } else backfill.deleted -= n;
            deletions.notRecheckable++;
          } else deletions.rechecked++;
          findings.push(...problems);
          break;
        }
        case 'quarantined': {
          const d = parse<QuarantinedData>(e);
          quarantined.set(d.file, d);
          break;
        }
        case 'retention_policy': {
          policy = parse<RetentionPolicyData>(e);
          // what no config can say (config/rules.ts): a forged policy that lets any deletion be due
          for (const [who, p] of [['the box', policy.box] as const, ...policy.cameras.map((c) => [`camera ${c.camera}`, c] as const)]) {
            if (!(p.min_days > 0) || (p.max_days !== null && !(p.max_days >= p.min_days))) {
              findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} records a retention policy no configuration allows for ${who} (min_days ${p.min_days}, max_days ${p.max_days ?? 'none'}: max_days may not be under min_days)` });
            }
          }
          break;
        }
        case 'retention_paused': paused = true; break;
        case 'retention_resumed': paused = false; break;
        // a mask set, named by its hash in segments' provenance: nothing in the view to compare
        case 'capture_masks': break;
        case 'clock_stepped': {
          const d = parse<ClockSteppedData>(e);
          if (!(d.step_ms > 0) || !Number.isSafeInteger(d.after_segment)) findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} records a clock step that is not a forward step after a segment` });
          else stepped.set(e.id, d);
          break;
        }
        case 'clock_confirmed': {
          // the rows before a confirmed step are aged by it: a deletion after this entry is judged by their true age
          const d = parse<ClockConfirmedData>(e);
          const unknown = d.steps.filter((id) => !stepped.has(id));
          if (unknown.length) findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} confirms clock steps ${unknown.map((id) => `#${id}`).join(', ')} the ledger does not hold` });
          if (!(d.through_segment <= segmentsLength)) findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} names segment #${d.through_segment}, which the chain does not hold` });
          corrections.push(...confirmedCorrections(stepped, d));
          for (const id of d.steps) stepped.delete(id);
          break;
        }
        default:
          findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} has an unknown kind "${String(e.kind)}"` });
      }
    } catch (err) {
      findings.push({ kind: 'ledger', detail: `ledger entry #${e.id} (${e.kind}) cannot be read: ${(err as Error).message}` });
    }
  }
  judgeSweep();
  if (walker.result.entries && !started) findings.push({ kind: 'ledger', detail: 'the ledger has no ledger_started entry: its beginning was removed' });

  compareGaps(catalog, gaps, findings);
  compareHolds(catalog, holds, findings);
  return { walk: walker.result, started, findings, expectedState, expectedStateAt, quarantined, deletions };
}

/** How many of a camera's oldest rows past its minimum `pastMinimumKept` looks at, live now and deleted since. */
const PAST_MINIMUM_SAMPLE = 64;

/**
 * A space deletion that took footage younger than its camera's minimum is due only when no
 * footage past its own camera's minimum was left to take (retention takes that first, whichever
 * camera it is from): names a row, unheld and not yet deleted at that point of the ledger, that
 * was past its minimum then. It looks at each camera's oldest rows still live and its newest
 * deleted ones under the cutoff (those deleted after the entry were there at its time): enough
 * to catch oldest-first across cameras, not a proof that no such row existed.
 */
function pastMinimumKept(catalog: Catalog, e: LedgerRow, d: DeletionData, policy: RetentionPolicyData, activeHolds: HoldRow[], corrections: ClockCorrection[], live: (id: number) => boolean, cameras: () => string[]): LedgerFinding[] {
  const minOf = (camera: string) => policy.cameras.find((c) => c.camera === camera)?.min_days ?? policy.box.min_days;
  const young = catalog.segmentsById(d.segments ?? []).find((r) => r.start_ms + ageShift(r, corrections) > e.at_ms - minOf(r.camera) * DAY_MS);
  if (!young) return [];
  for (const camera of cameras()) {
    const cutoff = e.at_ms - minOf(camera) * DAY_MS;
    const kept = catalog.oldestBefore(camera, cutoff, e.at_ms, PAST_MINIMUM_SAMPLE).find((r) => live(r.id)
      && r.end_ms + ageShift(r, corrections) < cutoff
      && !holdOver(activeHolds, r));
    if (kept) {
      return [{
        kind: 'deletion', camera: e.camera ?? undefined, segment: young.id,
        detail: `deletion #${e.id} at ${iso(e.at_ms)} (space_floor): segment #${young.id} of ${young.camera}, younger than its minimum of ${minOf(young.camera)} days, `
          + `was deleted while segment #${kept.id} of ${kept.camera}, past its own minimum of ${minOf(camera)} days (it ended ${iso(kept.end_ms)}), was kept`,
      }];
    }
  }
  return [];
}

/**
 * Young footage goes for space oldest first, whichever camera it is from (retention.ts: the
 * oldest unheld rows, `oldestDeletable`): a space deletion of young footage is due only when no
 * older row, unheld and not yet deleted at that point of the ledger, was there. Names one that was
 * kept: a deletion that cut a chosen moment out of the recordings (an outside probe deleted a
 * 3-minute-old segment "for space" while older ones stayed). Each camera's oldest rows are looked
 * at, as pastMinimumKept does.
 */
function olderYoungKept(catalog: Catalog, e: LedgerRow, d: DeletionData, policy: RetentionPolicyData, activeHolds: HoldRow[], corrections: ClockCorrection[], live: (id: number) => boolean, cameras: () => string[]): LedgerFinding[] {
  const minOf = (camera: string) => policy.cameras.find((c) => c.camera === camera)?.min_days ?? policy.box.min_days;
  const young = catalog.segmentsById(d.segments ?? []).filter((r) => trueStart(r, corrections) > e.at_ms - minOf(r.camera) * DAY_MS);
  if (!young.length) return [];
  const newest = young.reduce((a, b) => (trueStart(b, corrections) > trueStart(a, corrections) ? b : a));
  const bound = trueStart(newest, corrections);
  for (const camera of cameras()) {
    const kept = catalog.oldestBefore(camera, bound, e.at_ms, PAST_MINIMUM_SAMPLE).find((r) => live(r.id)
      && existedAt(r, e, d) && trueStart(r, corrections) < bound && !holdOver(activeHolds, r));
    if (kept) {
      return [{
        kind: 'deletion', camera: e.camera ?? undefined, segment: newest.id,
        detail: `deletion #${e.id} at ${iso(e.at_ms)} (space_floor): segment #${newest.id} of ${newest.camera} (from ${iso(newest.start_ms)}) was deleted for space while `
          + `segment #${kept.id} of ${kept.camera}, older (from ${iso(kept.start_ms)}) and not held, was kept: space deletion takes the oldest first`,
      }];
    }
  }
  return [];
}

/**
 * Whether a row was in the catalog when deletion `e` was written: by its id where the entry names
 * the newest row then, since a clock stepped back dates rows indexed later before the deletion
 * (an outside probe: 14 deletions of an untouched box read as not due); by the wall clock for
 * the entries written before `last_segment` was.
 */
const existedAt = (r: SegmentRow, e: LedgerRow, d: DeletionData): boolean =>
  d.last_segment !== undefined ? r.id <= d.last_segment : r.indexed_ms <= e.at_ms;

/** A deletion is judged by its own rule, the policy in force, the holds active and the clock. */
function recheckDeletion(catalog: Catalog, e: LedgerRow, d: DeletionData, policy: RetentionPolicyData | null, paused: boolean, activeHolds: HoldRow[], corrections: ClockCorrection[]): LedgerFinding[] {
  const out: LedgerFinding[] = [];
  const bad = (detail: string, segment?: number) => out.push({ kind: 'deletion', camera: e.camera ?? undefined, segment, detail: `deletion #${e.id} at ${iso(e.at_ms)} (${d.rule}): ${detail}` });
  if (d.rule === 'before_ledger') return out;
  const ageRule = d.rule === 'max_days' || d.rule === 'removed_camera' || d.rule === 'exports_max_days';
  if (ageRule) {
    if (paused) bad('an age deletion while retention was paused for the clock');
    if (policy?.age_deletion_needs_clock_sync && d.clock?.synchronized !== true) bad('an age deletion with the clock not known to be synchronised');
  }
  if (d.rule === 'exports_max_days') {
    const days = d.policy?.max_days;
    if (days === null || days === undefined) {
      bad('no exports_max_days recorded');
      return out;
    }
    if (policy && policy.exports_max_days !== days) bad(`exports_max_days ${days} is not the policy in force (${policy.exports_max_days ?? 'none'})`);
    for (const f of d.files ?? []) {
      if (f.created_ms >= e.at_ms - days * DAY_MS) bad(`${f.file} was created ${iso(f.created_ms)}, younger than exports_max_days ${days}`);
    }
    return out;
  }
  const ids = d.segments ?? [];
  if (!ids.length) {
    bad('names no segment');
    return out;
  }
  const rows = new Map(catalog.segmentsById(ids).map((r) => [r.id, r]));
  let maxDays: number | null = null;
  if (d.rule === 'max_days') {
    const configured = policy?.cameras.find((c) => c.camera === e.camera);
    if (policy && !configured) bad(`camera ${e.camera} is not in the retention policy in force`);
    maxDays = d.policy?.max_days ?? null;
    if (configured && configured.max_days !== maxDays) bad(`max_days ${maxDays} is not the policy in force (${configured.max_days ?? 'none'})`);
  } else if (d.rule === 'removed_camera') {
    if (policy?.cameras.some((c) => c.camera === e.camera)) bad(`camera ${e.camera} was configured: its own policy applies, not the box's`);
    maxDays = policy ? policy.box.max_days : d.policy?.max_days ?? null;
  } else if (d.rule === 'space_floor') {
    if (!d.disk || !(d.disk.available_bytes < d.disk.floor_bytes)) bad('a space deletion with no low-space reading (free space at or above the floor)');
    if (policy && d.disk && policy.floor_bytes !== d.disk.floor_bytes) bad(`floor ${d.disk.floor_bytes} bytes is not the policy in force (${policy.floor_bytes})`);
  } else {
    bad(`unknown rule "${String(d.rule)}"`);
  }
  if (ageRuleForSegments(d.rule) && maxDays === null) bad('no max_days in force: nothing could expire');
  for (const [i, id] of ids.entries()) {
    const row = rows.get(id);
    if (!row) continue; // named by checkLedger
    if (row.camera !== e.camera) bad(`segment #${id} is camera ${row.camera}'s, not ${e.camera}'s`, id);
    const recordedEnd = d.ends_ms?.[i];
    if (recordedEnd !== undefined && recordedEnd !== row.end_ms) bad(`segment #${id}: the entry says it ended ${iso(recordedEnd)}, the chain ${iso(row.end_ms)}`, id);
    const shift = ageShift(row, corrections);
    if (ageRuleForSegments(d.rule) && maxDays !== null && row.end_ms + shift >= e.at_ms - maxDays * DAY_MS) {
      const behind = shift ? ` (recorded under a clock ${(shift / DAY_MS).toFixed(2)} days behind, as a confirmed clock step says: it ended ${iso(row.end_ms + shift)})` : '';
      bad(`segment #${id} ended ${iso(row.end_ms)}${behind}, ${((e.at_ms - row.end_ms - shift) / DAY_MS).toFixed(2)} days before: too young for max_days ${maxDays}`, id);
    }
    const hold = holdOver(activeHolds, row);
    if (hold) bad(`segment #${id} was under active hold #${hold.id} (${hold.reason})`, id);
  }
  return out;
}

const ageRuleForSegments = (rule: DeletionData['rule']) => rule === 'max_days' || rule === 'removed_camera';

function compareGaps(catalog: Catalog, ledger: Map<number, GapRow>, findings: LedgerFinding[]): void {
  const view = catalog.db.prepare('SELECT * FROM gaps ORDER BY id').all() as GapRow[];
  const seen = new Set<number>();
  for (const g of view) {
    seen.add(g.id);
    const l = ledger.get(g.id);
    if (!l) {
      findings.push({ kind: 'view', camera: g.camera, detail: `gap #${g.id} (${g.camera}, ${g.cause}, from ${iso(g.start_ms)}) is not in the ledger: inserted behind the box's back` });
      continue;
    }
    const diff = (['camera', 'start_ms', 'end_ms', 'cause', 'detail'] as const).filter((k) => g[k] !== l[k]);
    if (diff.length) findings.push({ kind: 'view', camera: g.camera, detail: `gap #${g.id} was edited: ${diff.map((k) => `${k} ${JSON.stringify(g[k])}, the ledger says ${JSON.stringify(l[k])}`).join('; ')}` });
  }
  for (const l of ledger.values()) {
    if (!seen.has(l.id)) findings.push({ kind: 'view', camera: l.camera, detail: `gap #${l.id} (${l.camera}, ${l.cause}, ${iso(l.start_ms)} .. ${l.end_ms === null ? 'open' : iso(l.end_ms)}) was removed from the gaps table` });
  }
}

function compareHolds(catalog: Catalog, ledger: Map<number, HoldRow>, findings: LedgerFinding[]): void {
  const view = catalog.db.prepare('SELECT * FROM holds ORDER BY id').all() as HoldRow[];
  const seen = new Set<number>();
  for (const h of view) {
    seen.add(h.id);
    const l = ledger.get(h.id);
    if (!l) {
      findings.push({ kind: 'view', camera: h.camera ?? undefined, detail: `hold #${h.id} is not in the ledger: inserted behind the box's back` });
      continue;
    }
    const keys = ['camera', 'from_ms', 'to_ms', 'reason', 'created_by', 'created_ms', 'released_ms', 'released_by'] as const;
    const diff = keys.filter((k) => h[k] !== l[k]);
    if (diff.length) {
      const released = h.released_ms !== null && l.released_ms === null;
      findings.push({ kind: 'view', camera: h.camera ?? undefined, detail: `hold #${h.id} was ${released ? 'released' : 'edited'} behind the box's back: ${diff.map((k) => `${k} ${JSON.stringify(h[k])}, the ledger says ${JSON.stringify(l[k])}`).join('; ')}` });
    }
  }
  for (const l of ledger.values()) {
    if (!seen.has(l.id)) findings.push({ kind: 'view', camera: l.camera ?? undefined, detail: `hold #${l.id} (${l.reason}) was removed from the holds table` });
  }
}
