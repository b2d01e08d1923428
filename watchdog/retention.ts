import { readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Catalog, Deletion, SegmentRow } from '../recorder/catalog/catalog.js';
import { holdOver } from '../recorder/catalog/holds.js';
import { canonicalJson } from '../common/canonical-json.js';
import type { ClockFacts, DeletionRule, RetentionPauseData, RetentionPolicyData } from '../recorder/catalog/ledger.js';
import { trueStart, type ClockCorrection } from '../recorder/catalog/clock-corrections.js';
import { QUARANTINE_DIR } from '../recorder/recovery.js';
import type { RaiseEvent } from './events.js';
import { groupBy } from '../common/group-by.js';
import { EXPORTS_DIR, listExports } from '../evidence/exports-dir.js';
import { dirBytes, fileBytes } from '../common/disk-usage.js';
import { RESERVE_FILE } from './disk-reserve.js';
import { HELD_FILE } from './held-while-full.js';
import { STILLS_DIR } from './tamper-monitor.js';

export const DAY_MS = 86_400_000;

export interface CameraRetention {
  camera: string;
  minDays: number;
  maxDays: number | null;
}

export interface RetentionPolicy {
  /** keep at least this much free on the data disk */
  floorBytes: number;
  cameras: CameraRetention[];
  /** the box's own policy, for cameras with recordings that the config no longer names
   * (default: 30 days minimum, no maximum) */
  box?: { minDays: number; maxDays: number | null };
  /** files in exports/ older than this many days go; null keeps them */
  exportsMaxDays?: number | null;
  /** age deletion waits while the clock is not known synchronised (default true) */
  ageNeedsClockSync?: boolean;
}

/** What the health monitor knows about the clock (see HealthMonitor.clockView). */
export interface ClockView extends ClockFacts {
  /** a forward step no synchronised reading has confirmed since, ms; null when none */
  unconfirmedStepMs: number | null;
  /** false until the clock's sync state was first read (start-up): age deletion waits, quietly */
  read?: boolean;
}

export const UNKNOWN_CLOCK: ClockView = { synchronized: null, source: 'unknown', unconfirmedStepMs: null };

export interface DiskSpace {
  total_bytes: number;
  available_bytes: number;
  /** free including the blocks reserved for root; `available` when not known */
  free_bytes?: number;
}

export interface SweepResult {
  deletedForAge: number;
  deletedForSpace: number;
  deletedExports: number;
  /** cameras that lost recordings younger than their minimum */
  atRisk: string[];
  /** the floor is crossed and nothing more may be deleted (all held) */
  stuck: boolean;
  /** age deletion is paused (the clock), with why */
  paused: RetentionPauseData['reason'] | null;
  /** bytes on the data disk that are not the box's own, when the floor was crossed */
  unaccountedBytes: number | null;
  /** recordings younger than their minimum kept although the floor is crossed: something else filled the disk */
  youngKept: boolean;
  disk: DiskSpace;
}

export interface CameraRetentionStatus {
  camera: string;
  oldest_ms: number | null;
  days_held: number;
  min_days: number;
  max_days: number | null;
}

export interface RetentionStatus {
  cameras: CameraRetentionStatus[];
  disk: DiskSpace & { floor_bytes: number };
  /** days of recordings the disk holds at the last hour's rate; null before there is a rate */
  forecast_days: number | null;
  /** the largest minimum any camera needs: what the whole box must hold */
  min_required_days: number;
}

const BATCH = 200;
/** at most this many batches per rule and sweep: a sweep never runs long, the next one goes on */
const MAX_BATCHES = 10;
const SPACE_BATCH = 20;
const SPACE_ROUNDS = 25;
const ALARM_REPEAT_MS = 10 * 60_000;
const REPORT_EVERY_MS = 60 * 60_000;
const EXPORTS_EVERY_MS = 60 * 60_000;
const BASELINE_META = 'disk.unaccounted_per_hour';
/** the least growth of bytes that are not the box's taken as something else filling the disk */
const FOREIGN_MIN_BYTES = 16 * 2 ** 20;
const BASELINE_HOURS = 24;

/** Age deletion's pause on record: the ledger's last pause, when no resume came after it. */
export function agePauseInForce(catalog: Catalog): { since_ms: number; reason: RetentionPauseData['reason'] } | null {
  const last = [catalog.lastLedger('retention_paused'), catalog.lastLedger('retention_resumed')]
    .filter((e) => e !== undefined).sort((a, b) => b.id - a.id)[0];
  return last?.kind === 'retention_paused' ? { since_ms: last.at_ms, reason: (JSON.parse(last.data) as RetentionPauseData).reason } : null;
}

/**
 * Deletes what the law lets go and nothing it protects, and writes down why:
 * - age: a camera's segments older than its `max_days` (personal images must go once the
 *   period has passed); a camera removed from the config by the box's `max_days`. Age deletion
 *   pauses while the clock is not known synchronised and after a forward step until a
 *   synchronised reading confirms it: a clock set a year ahead must not make a year "old";
 * - space: while free space is under the floor, the oldest segments already past their own
 *   camera's `min_days`, any camera; only when none is left, the oldest of any camera. Losing a
 *   segment younger than its camera's `min_days` this way is an alarm (`retention_at_risk`),
 *   never silent; recording the present wins over keeping the past. When the shortage is bytes
 *   that are not the box's (something else filled the disk), `disk_filled_externally` names
 *   them first, and young footage is kept while half the floor is still free;
 * - exports: files in exports/ older than `storage.exports_max_days`;
 * - never a segment under an active legal hold; every sweep deletes in bounded batches.
 * Each batch is one ledger entry (rule, ids, the facts: segment ends, policy, disk, holds, clock)
 * written with the rows' state, so `verify` re-checks it against its own rule. The row is marked
 * before the file goes: a crash in between leaves a file retention removes again, never a row
 * claiming a file that was lost.
 */
export class Retention {
  private lastAlarm = new Map<string, number>();
  /** live bytes retention may free (not held) */
  private liveBytesCache?: { atMs: number; bytes: number };
  /** deletions not yet reported, per camera and reason */
  private unreported = new Map<string, { camera: string; reason: string; segments: number; bytes: number; from: number; to: number; lastMs: number }>();
  private removedCameras: string[] = [];
  private paused: RetentionPauseData['reason'] | null;
  private lastExportsSweep = 0;

  constructor(
    private readonly dataDir: string,
    private readonly catalog: Catalog,
    private policy: RetentionPolicy,
    private readonly diskSpace: (path: string) => Promise<DiskSpace>,
    private readonly log: Logger,
    private readonly raise: RaiseEvent,
    private readonly now: () => number = Date.now,
    private readonly clock: () => ClockView = () => UNKNOWN_CLOCK,
  ) {
    this.paused = catalog.readonly ? null : agePauseInForce(catalog)?.reason ?? null;
    if (!catalog.readonly) {
      this.finishInterrupted();
      this.applyPolicy();
    }
  }

  /**
   * A batch's rows are marked deleted before its files are unlinked: a daemon killed in between
   * left the rest of the batch's files on disk for good, past their period, and `verify` said
   * nothing (an outside probe killed it at the 15th of 200 unlinks). Each camera's last batch is
   * finished at start-up, before any new batch is marked: a kill interrupts only the batch being
   * removed, and that one is each camera's last until the next start has finished it.
   */
  private finishInterrupted(): void {
    let removed = 0;
    for (const { camera, data } of this.catalog.lastDeletionPerCamera()) {
      const ids = (JSON.parse(data) as { segments?: unknown }).segments;
      if (!Array.isArray(ids)) continue;
      for (const path of this.catalog.deletedPaths(camera, ids.filter((id): id is number => Number.isSafeInteger(id)))) {
        if (this.unlinkSegment(path)) removed++;
      }
    }
    if (removed) this.log.warn({ files: removed }, 'files of a deletion batch a killed run had not removed are removed now');
  }

  setPolicy(policy: RetentionPolicy): void {
    this.policy = policy;
    this.applyPolicy();
  }

  private get box() {
    return this.policy.box ?? { minDays: 30, maxDays: null };
  }

  /** Records the policy in the ledger when it changed (verify judges each deletion by the one in
   * force), and finds the cameras that have recordings but no config. */
  private applyPolicy(): void {
    const data: RetentionPolicyData = {
      floor_bytes: this.policy.floorBytes,
      box: { min_days: this.box.minDays, max_days: this.box.maxDays },
      cameras: this.policy.cameras.map((c) => ({ camera: c.camera, min_days: c.minDays, max_days: c.maxDays })),
      exports_max_days: this.policy.exportsMaxDays ?? null,
      age_deletion_needs_clock_sync: this.policy.ageNeedsClockSync ?? true,
    };
    const last = this.catalog.lastLedger('retention_policy');
    if (!last || last.data !== canonicalJson(data)) this.catalog.ledgerEntry('retention_policy', null, data);
    this.removedCameras = this.catalog.camerasWithLiveSegmentsBesides(this.policy.cameras.map((c) => c.camera));
    if (this.removedCameras.length) {
      this.log.info({ cameras: this.removedCameras, maxDays: this.box.maxDays }, 'cameras no longer configured: their recordings follow the box retention');
    }
  }

  async sweep(): Promise<SweepResult> {
    const now = this.now();
    const clock = this.clock();
    const result: SweepResult = {
      deletedForAge: 0, deletedForSpace: 0, deletedExports: 0, atRisk: [], stuck: false, paused: clock.read === false ? null : this.pauseFor(clock),
      unaccountedBytes: null, youngKept: false, disk: await this.diskSpace(this.dataDir),
    };
    const ageWaits = result.paused !== null || clock.read === false;
    const facts: ClockFacts = { synchronized: clock.synchronized, source: clock.source };
    const holds = this.catalog.holds().map((h) => h.id);
    // footage dated under a clock that was behind is aged from when it was really recorded
    const corrections = this.catalog.clockCorrections();

    if (!ageWaits) {
      const aged = [...this.policy.cameras.map((c) => ({ ...c, rule: 'max_days' as DeletionRule })),
        ...this.removedCameras.map((camera) => ({ camera, ...this.box, rule: 'removed_camera' as DeletionRule }))];
      for (const cam of aged) {
        if (cam.maxDays === null) continue;
        const cutoff = now - cam.maxDays * DAY_MS;
        const note = cam.rule === 'max_days' ? `retention: older than max_days ${cam.maxDays}`
          : `retention: camera removed from the config, older than the box's max_days ${cam.maxDays}`;
        for (let i = 0; i < MAX_BATCHES; i++) {
          const rows = this.catalog.expiredSegments(cam.camera, cutoff, BATCH, corrections);
          if (!rows.length) break;
          result.deletedForAge += this.remove(cam.camera, rows, {
            rule: cam.rule, note, policy: { min_days: cam.minDays, max_days: cam.maxDays }, holds_checked: holds, clock: facts,
          }, now);
        }
      }
    }

    // measured on every sweep, so the baseline is known before something fills the disk
    const acc = this.accounting(result.disk, now);
    if (result.disk.available_bytes < this.policy.floorBytes) await this.freeSpace(result, now, holds, facts, acc, corrections);

    if (result.deletedForAge || result.deletedForSpace) {
      this.log.info({ forAge: result.deletedForAge, forSpace: result.deletedForSpace, availableBytes: result.disk.available_bytes }, 'retention deleted segments');
    }
    if (result.stuck) {
      // at most every 10 minutes, like the other alarms: a sweep runs every 5 s, and a disk held
      // full raised (and stored, and published) this 17,000 times a day
      this.alarm('disk_low', null, now, () => {
        // nothing deletable is left: either everything left is held, or nothing is left at all
        // (the disk filled by other files), and the operator's remedy differs
        const held = this.catalog.liveBytes() > 0; // the catalog's counter: no scan
        this.log.error({ availableBytes: result.disk.available_bytes, floorBytes: this.policy.floorBytes },
          held ? 'data disk under its floor and everything left is held' : 'data disk under its floor and no recordings are left to delete');
        return { available_bytes: result.disk.available_bytes, floor_bytes: this.policy.floorBytes, all_remaining_held: held };
      });
    }
    if (!ageWaits && now - this.lastExportsSweep >= EXPORTS_EVERY_MS) {
      this.lastExportsSweep = now;
      result.deletedExports = this.sweepExports(now, holds, facts);
    }
    return result;
  }

  /** Age deletion pauses (and resumes) on the clock; each change is a ledger entry and an event. */
  private pauseFor(clock: ClockView): RetentionPauseData['reason'] | null {
    const reason = clock.unconfirmedStepMs !== null ? 'clock_step'
      : (this.policy.ageNeedsClockSync ?? true) && clock.synchronized !== true ? 'clock_unsynced' : null;
    if (reason === this.paused) return reason;
    const facts: ClockFacts = { synchronized: clock.synchronized, source: clock.source };
    if (reason) {
      const data: RetentionPauseData = { reason, clock: facts, ...(clock.unconfirmedStepMs !== null ? { step_ms: clock.unconfirmedStepMs } : {}) };
      this.catalog.ledgerEntry('retention_paused', null, data);
      this.log.warn(data, reason === 'clock_step'
        ? 'age deletion paused: the clock stepped forward; it resumes once a synchronised clock confirms the time'
        : 'age deletion paused: the clock is not known to be synchronised');
      this.raise('retention_paused', null, { ...data });
    } else {
      // said as it is: resumed on a synchronised clock, or with the config not asking for one
      const data: RetentionPauseData = { reason: clock.synchronized === true ? 'clock_synced' : 'sync_not_required', clock: facts };
      this.catalog.ledgerEntry('retention_resumed', null, data);
      this.log.info(data, clock.synchronized === true ? 'age deletion resumed: the clock is synchronised' : 'age deletion resumed: the clock is not known to be synchronised, and integrity.age_deletion_needs_clock_sync is false');
      this.raise('retention_resumed', null, { ...data });
    }
    this.paused = reason;
    return reason;
  }

  /**
   * Under the floor: the oldest unheld segments go, in bounded batches. When bytes that are not
   * the box's explain the shortage, the alarm comes first and footage younger than its minimum
   * is kept while more than half the floor is free (the floor is the reserve recording eats
   * into meanwhile); past that, recording the present wins.
   */
  private async freeSpace(result: SweepResult, now: number, holds: number[], clock: ClockFacts, acc: { unaccounted: number; baseline: number; grown: number }, corrections: ClockCorrection[]): Promise<void> {
    const floor = this.policy.floorBytes;
    result.unaccountedBytes = acc.unaccounted;
    // the growth must be news, not the drift of what else the box writes (directories, keys, the
    // catalog between checkpoints): 260 KB of it, against a 4 MB floor's 140 KB shortfall, was
    // taken for a foreign file, young footage was kept, and the recorders filled the disk until
    // the catalog could record no deletion (an outside probe)
    const foreign = acc.grown >= Math.max(FOREIGN_MIN_BYTES, floor - result.disk.available_bytes);
    if (foreign) {
      this.alarm('disk_filled_externally', null, now, () => {
        this.log.error({ unaccountedBytes: acc.unaccounted, grownBytes: acc.grown, availableBytes: result.disk.available_bytes, floorBytes: floor },
          'the data disk is filling with files that are not recordings');
        return {
          unaccounted_bytes: acc.unaccounted, grown_bytes: acc.grown, baseline_bytes: acc.baseline, available_bytes: result.disk.available_bytes,
          floor_bytes: floor, cause: `${fmtBytes(acc.grown)} more on the data disk than the box's own files account for (recordings, catalog, exports)`,
        };
      });
    }
    const minDays = new Map([...this.policy.cameras.map((c) => [c.camera, c.minDays] as const), ...this.removedCameras.map((c) => [c, this.box.minDays] as const)]);
    const young = (r: SegmentRow) => trueStart(r, corrections) > now - (minDays.get(r.camera) ?? this.box.minDays) * DAY_MS;
    const atRisk = new Set<string>();
    for (let round = 0; round < SPACE_ROUNDS && result.disk.available_bytes < floor; round++) {
      const protectYoung = foreign && result.disk.available_bytes >= floor / 2;
      // footage past its own minimum goes first, whichever camera's is oldest: oldest-first across
      // cameras had deleted a 60-day camera's 45-day-old footage while another's 40-day-old
      // footage, past its 30, stayed (an outside probe)
      const past = this.oldestPastMinimum(now, minDays, corrections);
      const candidates = past.length || protectYoung ? past : this.catalog.oldestDeletable(SPACE_BATCH, corrections);
      // no more than the shortfall: back to the floor, or (young footage, foreign bytes) to half of it
      const target = foreign && !protectYoung ? floor / 2 : floor;
      const rows = upTo(candidates, target - result.disk.available_bytes);
      if (rows.length === 0) {
        if (protectYoung) result.youngKept = true;
        else result.stuck = true;
        break;
      }
      for (const r of rows) if (young(r)) atRisk.add(r.camera);
      for (const [camera, batch] of groupBy(rows, (r) => r.camera)) {
        result.deletedForSpace += this.remove(camera, batch, {
          rule: 'space_floor', note: 'retention: free space under the floor',
          policy: { min_days: minDays.get(camera) ?? this.box.minDays, max_days: this.policy.cameras.find((c) => c.camera === camera)?.maxDays ?? this.box.maxDays },
          disk: { available_bytes: result.disk.available_bytes, floor_bytes: floor, unaccounted_bytes: acc.unaccounted }, holds_checked: holds, clock,
        }, now);
      }
      result.disk = await this.diskSpace(this.dataDir);
    }
    if (result.youngKept) {
      this.log.warn({ availableBytes: result.disk.available_bytes, floorBytes: floor }, 'under the floor, keeping recordings younger than their minimum: something else filled the disk');
    }
    // the status costs a scan of the catalog: only when an alarm is due, not on every sweep at the floor
    const due = [...atRisk].filter((camera) => now - (this.lastAlarm.get(`at_risk:${camera}`) ?? 0) >= ALARM_REPEAT_MS);
    const status = due.length ? this.status(result.disk) : undefined;
    for (const camera of due) {
      this.alarm('retention_at_risk', camera, now, () => {
        const s = status!.cameras.find((c) => c.camera === camera);
        this.log.warn({ camera, daysHeld: s?.days_held, minDays: s?.min_days }, 'retention at risk: the disk cannot hold the legal minimum');
        return { days_held: s?.days_held ?? 0, min_days: s?.min_days ?? null, forecast_days: status!.forecast_days, cause: foreign ? 'foreign_files' : 'recordings', unaccounted_bytes: acc.unaccounted };
      }, `at_risk:${camera}`);
    }
    result.atRisk = [...atRisk];
  }

  /** The oldest unheld segments already past their camera's minimum, any camera. */
  private oldestPastMinimum(now: number, minDays: Map<string, number>, corrections: ClockCorrection[]): SegmentRow[] {
    const rows = [...minDays].flatMap(([camera, days]) => this.catalog.expiredSegments(camera, now - days * DAY_MS, SPACE_BATCH, corrections));
    return rows.sort((a, b) => trueStart(a, corrections) - trueStart(b, corrections)).slice(0, SPACE_BATCH);
  }

  /**
   * Bytes in use on the data disk that are not the box's own (recordings, staging, catalog,
   * exports, quarantine), and how much that grew over the lowest measured in the last 24 hours
   * (the baseline, kept in the catalog per hour): an OS sharing the partition, or the slow drift
   * of block rounding, is not news; a file growing beside the recordings is, for a day.
   */
  private accounting(disk: DiskSpace, now: number): { unaccounted: number; baseline: number; grown: number } {
    const used = disk.total_bytes - (disk.free_bytes ?? disk.available_bytes);
    const own = this.catalog.liveBytes() + dirBytes(join(this.dataDir, EXPORTS_DIR)) + dirBytes(join(this.dataDir, QUARANTINE_DIR))
      + fileBytes(this.catalog.path) + fileBytes(`${this.catalog.path}-wal`) + fileBytes(`${this.catalog.path}-shm`) + this.stagingBytes()
      + fileBytes(join(this.dataDir, RESERVE_FILE)) + fileBytes(join(this.dataDir, HELD_FILE)) + dirBytes(join(this.dataDir, STILLS_DIR));
    const unaccounted = Math.max(0, used - own);
    const hour = Math.floor(now / 3_600_000);
    let perHour: Record<string, number> = {};
    try { perHour = JSON.parse(this.catalog.getMeta(BASELINE_META) ?? '{}') as Record<string, number>; } catch { /* start again */ }
    const kept = Object.fromEntries(Object.entries(perHour).filter(([h]) => Number(h) > hour - BASELINE_HOURS));
    if (!(kept[hour] <= unaccounted)) {
      kept[hour] = unaccounted;
      this.catalog.setMeta(BASELINE_META, JSON.stringify(kept));
    }
    const baseline = Math.min(...Object.values(kept));
    return { unaccounted, baseline, grown: unaccounted - baseline };
  }

  private stagingBytes(): number {
    let n = 0;
    for (const camera of safeReaddir(join(this.dataDir, 'recordings'))) n += dirBytes(join(this.dataDir, 'recordings', camera, '.staging'));
    return n;
  }

  /** An alarm event at most every 10 minutes per key; `build` logs and returns the event's data. */
  private alarm(type: 'disk_low' | 'disk_filled_externally' | 'retention_at_risk', camera: string | null, now: number, build: () => Record<string, unknown>, key: string = type): void {
    if (now - (this.lastAlarm.get(key) ?? 0) < ALARM_REPEAT_MS) return;
    this.lastAlarm.set(key, now);
    this.raise(type, camera, build());
  }

  /** Whether the file of a deleted row was there and is gone now; one already gone is no error. */
  private unlinkSegment(path: string): boolean {
    try {
      unlinkSync(join(this.dataDir, path));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err, path }, 'cannot delete a segment file');
      return false;
    }
  }

  /** Marks one camera's batch deleted (with its ledger entry), then unlinks the files. */
  private remove(camera: string, rows: SegmentRow[], why: Deletion, now: number): number {
    const ids = new Set(this.catalog.markDeleted(camera, rows, why, now));
    const done = rows.filter((r) => ids.has(r.id));
    for (const r of done) this.unlinkSegment(r.path);
    if (done.length) {
      this.report(camera, why.note, {
        count: done.length, bytes: done.reduce((s, r) => s + r.bytes, 0),
        oldest: Math.min(...done.map((r) => r.start_ms)), newest: Math.max(...done.map((r) => r.end_ms)),
      });
    }
    return done.length;
  }

  /** Exports, redacted copies and evidence bundles past `exports_max_days` (by their signed
   * manifest's time, else the file's), unless an active hold covers their camera and range (an
   * evidence export holds its own range, so its bundle stays while the hold does). What an export
   * is comes from evidence/exports-dir.ts, which `edge-nvr exports` lists. The stills of tamper
   * events go by the same rule (they were never deleted: a camera whose alarm came and went for
   * months filled the disk with them). One ledger entry a sweep. */
  private sweepExports(now: number, holds: number[], clock: ClockFacts): number {
    const days = this.policy.exportsMaxDays ?? null;
    if (days === null) return 0;
    const active = this.catalog.holds();
    const files: Array<{ file: string; created_ms: number; bytes: number }> = [];
    for (const e of listExports(this.dataDir)) {
      const covered = e.camera !== null && e.from_ms !== null && e.to_ms !== null
        && holdOver(active, { camera: e.camera, start_ms: e.from_ms, end_ms: e.to_ms }) !== undefined;
      if (covered || e.created_ms >= now - days * DAY_MS) continue;
      files.push({ file: e.path, created_ms: e.created_ms, bytes: e.bytes - (e.manifest ? fileBytes(join(this.dataDir, e.manifest)) : 0) });
      if (e.manifest) files.push({ file: e.manifest, created_ms: e.created_ms, bytes: fileBytes(join(this.dataDir, e.manifest)) });
    }
    files.push(...this.stillsBefore(now - days * DAY_MS, active));
    if (!files.length) return 0;
    const note = `retention: exports and tamper stills older than exports_max_days ${days}`;
    this.catalog.ledgerEntry('deletion', null, {
      rule: 'exports_max_days', files, state_at_ms: now, note, policy: { min_days: null, max_days: days }, holds_checked: holds, clock,
    }, now);
    for (const f of files) {
      try { rmSync(join(this.dataDir, f.file), { recursive: true }); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err, path: f.file }, 'cannot delete an export');
      }
    }
    this.log.info({ files: files.map((f) => f.file) }, 'retention deleted exports');
    this.raise('retention_deletion', null, { reason: note, files: files.length, bytes: files.reduce((s, f) => s + f.bytes, 0) });
    return files.length;
  }

  /** `<data>/tamper/<camera>/*.jpg` written before `beforeMs` (their files' time), unless an active hold covers it. */
  private stillsBefore(beforeMs: number, active: Array<{ camera: string | null; from_ms: number; to_ms: number }>): Array<{ file: string; created_ms: number; bytes: number }> {
    const out: Array<{ file: string; created_ms: number; bytes: number }> = [];
    for (const camera of safeReaddir(join(this.dataDir, STILLS_DIR))) {
      for (const name of safeReaddir(join(this.dataDir, STILLS_DIR, camera))) {
        const file = join(STILLS_DIR, camera, name);
        let st;
        try { st = statSync(join(this.dataDir, file)); } catch { continue; }
        const at = Math.floor(st.mtimeMs);
        if (!st.isFile() || at >= beforeMs) continue;
        // the millisecond either side: a hold that begins or ends at the still's very moment keeps it
        if (holdOver(active, { camera, start_ms: at - 1, end_ms: at + 1 })) continue;
        out.push({ file, created_ms: at, bytes: st.size });
      }
    }
    return out;
  }

  /**
   * A full disk deletes the oldest segment of every camera every minute, for ever: that is an
   * NVR's steady state, not news. One event per camera and reason an hour, with the totals since
   * the last one, keeps MQTT quiet; every deletion is in the catalog regardless.
   */
  private report(camera: string, reason: string, c: { count: number; bytes: number; oldest: number; newest: number }): void {
    const key = `${camera}\n${reason}`;
    const now = this.now();
    const u = this.unreported.get(key) ?? { camera, reason, segments: 0, bytes: 0, from: c.oldest, to: c.newest, lastMs: 0 };
    u.segments += c.count;
    u.bytes += c.bytes;
    u.from = Math.min(u.from, c.oldest);
    u.to = Math.max(u.to, c.newest);
    if (now - u.lastMs < REPORT_EVERY_MS) {
      this.unreported.set(key, u);
      return;
    }
    this.raise('retention_deletion', camera, { reason, segments: u.segments, bytes: u.bytes, from_ms: u.from, to_ms: u.to });
    this.unreported.set(key, { ...u, segments: 0, bytes: 0, from: Infinity, to: -Infinity, lastMs: now });
  }

  /** The totals not reported yet, reported now: a stop must not lose up to an hour of them. */
  reportPending(): void {
    for (const u of this.unreported.values()) {
      if (u.segments) this.raise('retention_deletion', u.camera, { reason: u.reason, segments: u.segments, bytes: u.bytes, from_ms: u.from, to_ms: u.to });
    }
    this.unreported.clear();
  }

  /** What the box holds against what it must hold. */
  status(disk: DiskSpace): RetentionStatus {
    const now = this.now();
    const cameras = this.policy.cameras.map((c) => {
      const oldest = this.catalog.oldestKept(c.camera);
      // never below 0: a clock stepped back dates the oldest footage after "now" (status read -0.04 days)
      return { camera: c.camera, oldest_ms: oldest, days_held: oldest === null ? 0 : Math.max(0, (now - oldest) / DAY_MS), min_days: c.minDays, max_days: c.maxDays };
    });
    // the forecast need not be exact by the minute; on an unmigrated catalog the sum is a full scan
    // held bytes are no room for new footage: a disk full of held clips forecast days it did not have
    if (!this.liveBytesCache || now - this.liveBytesCache.atMs > 60_000) {
      this.liveBytesCache = { atMs: now, bytes: this.catalog.liveBytes() - this.catalog.heldBytes([...this.policy.cameras.map((c) => c.camera), ...this.removedCameras]) };
    }
    const liveBytes = this.liveBytesCache.bytes;
    const rate = this.catalog.recentRate(now - 3_600_000, this.policy.cameras.map((c) => c.camera));
    const bytesPerDay = rate.spanMs > 60_000 ? (rate.bytes / rate.spanMs) * DAY_MS : 0;
    const capacity = liveBytes + disk.available_bytes - this.policy.floorBytes;
    return {
      cameras,
      disk: { ...disk, floor_bytes: this.policy.floorBytes },
      forecast_days: bytesPerDay > 0 ? Math.max(0, capacity / bytesPerDay) : null,
      min_required_days: Math.max(0, ...this.policy.cameras.map((c) => c.minDays)),
    };
  }
}

/** The first rows whose bytes reach `needed` (at least one). */
function upTo(rows: SegmentRow[], needed: number): SegmentRow[] {
  let sum = 0;
  const out: SegmentRow[] = [];
  for (const r of rows) {
    out.push(r);
    sum += r.bytes;
    if (sum >= needed) break;
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}

const fmtBytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`);
