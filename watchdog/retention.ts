import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Catalog, SegmentRow } from '../recorder/catalog/catalog.js';
import type { RaiseEvent } from './events.js';

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
}

export interface DiskSpace {
  total_bytes: number;
  available_bytes: number;
}

export interface SweepResult {
  deletedForAge: number;
  deletedForSpace: number;
  /** cameras that lost recordings younger than their minimum */
  atRisk: string[];
  /** the floor is crossed and nothing more may be deleted (all held) */
  stuck: boolean;
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
const AT_RISK_REPEAT_MS = 10 * 60_000;
const LIVE_BYTES_TTL_MS = 10 * 60_000;
const REPORT_EVERY_MS = 60 * 60_000;

/**
 * Deletes what the law lets go and nothing it protects:
 * - age: a camera's segments older than its `max_days` (personal images must go once the
 *   period has passed);
 * - space: while free space is under the floor, the oldest segments of any camera. Losing a
 *   segment younger than its camera's `min_days` this way is an alarm (`retention_at_risk`),
 *   never silent; recording the present wins over keeping the past;
 * - never a segment under an active legal hold.
 * A deleted segment's row stays (state `deleted`, with when and why), so the hash chain and
 * `verify` still account for it. The row is marked before the file goes: a crash in between
 * leaves a file retention removes again, never a row claiming a file that was lost.
 */
export class Retention {
  private lastAtRisk = new Map<string, number>();
  private liveBytesCache?: { atMs: number; bytes: number };
  /** deletions not yet reported, per camera and reason */
  private unreported = new Map<string, { camera: string; reason: string; segments: number; bytes: number; from: number; to: number; lastMs: number }>();

  constructor(
    private readonly dataDir: string,
    private readonly catalog: Catalog,
    private policy: RetentionPolicy,
    private readonly diskSpace: (path: string) => Promise<DiskSpace>,
    private readonly log: Logger,
    private readonly raise: RaiseEvent,
    private readonly now: () => number = Date.now,
  ) {}

  setPolicy(policy: RetentionPolicy): void {
    this.policy = policy;
  }

  async sweep(): Promise<SweepResult> {
    const now = this.now();
    const result: SweepResult = { deletedForAge: 0, deletedForSpace: 0, atRisk: [], stuck: false, disk: await this.diskSpace(this.dataDir) };

    for (const cam of this.policy.cameras) {
      if (cam.maxDays === null) continue;
      const cutoff = now - cam.maxDays * DAY_MS;
      for (let rows = this.catalog.expiredSegments(cam.camera, cutoff, BATCH); rows.length; rows = this.catalog.expiredSegments(cam.camera, cutoff, BATCH)) {
        this.remove(rows, `retention: older than max_days ${cam.maxDays}`);
        result.deletedForAge += rows.length;
      }
    }

    const minDays = new Map(this.policy.cameras.map((c) => [c.camera, c.minDays]));
    const atRisk = new Set<string>();
    while (result.disk.available_bytes < this.policy.floorBytes) {
      const rows = this.catalog.oldestDeletable(20);
      if (rows.length === 0) {
        result.stuck = true;
        break;
      }
      for (const r of rows) {
        if (r.start_ms > now - (minDays.get(r.camera) ?? 30) * DAY_MS) atRisk.add(r.camera);
      }
      this.remove(rows, 'retention: free space under the floor');
      result.deletedForSpace += rows.length;
      result.disk = await this.diskSpace(this.dataDir);
    }

    if (result.deletedForAge || result.deletedForSpace) {
      this.log.info({ forAge: result.deletedForAge, forSpace: result.deletedForSpace, availableBytes: result.disk.available_bytes }, 'retention deleted segments');
    }
    if (result.stuck) {
      this.log.error({ availableBytes: result.disk.available_bytes, floorBytes: this.policy.floorBytes }, 'data disk under its floor and everything left is held');
      this.raise('disk_low', null, { available_bytes: result.disk.available_bytes, floor_bytes: this.policy.floorBytes, all_remaining_held: true });
    }
    // the status costs a scan of the catalog: only when an alarm is due, not on every sweep at the floor
    const due = [...atRisk].filter((camera) => now - (this.lastAtRisk.get(camera) ?? 0) >= AT_RISK_REPEAT_MS);
    const status = due.length ? this.status(result.disk) : undefined;
    for (const camera of due) {
      this.lastAtRisk.set(camera, now);
      const s = status!.cameras.find((c) => c.camera === camera);
      this.log.warn({ camera, daysHeld: s?.days_held, minDays: s?.min_days }, 'retention at risk: the disk cannot hold the legal minimum');
      this.raise('retention_at_risk', camera, { days_held: s?.days_held ?? 0, min_days: s?.min_days ?? null, forecast_days: status!.forecast_days });
    }
    result.atRisk = [...atRisk];
    return result;
  }

  private remove(rows: SegmentRow[], why: string): void {
    this.catalog.markDeleted(rows.map((r) => r.id), why);
    const perCamera = new Map<string, { count: number; bytes: number; oldest: number; newest: number }>();
    for (const r of rows) {
      try {
        unlinkSync(join(this.dataDir, r.path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err, path: r.path }, 'cannot delete a segment file');
      }
      const c = perCamera.get(r.camera) ?? { count: 0, bytes: 0, oldest: r.start_ms, newest: r.end_ms };
      c.count++;
      c.bytes += r.bytes;
      c.oldest = Math.min(c.oldest, r.start_ms);
      c.newest = Math.max(c.newest, r.end_ms);
      perCamera.set(r.camera, c);
    }
    for (const [camera, c] of perCamera) this.report(camera, why, c);
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

  /** What the box holds against what it must hold. */
  status(disk: DiskSpace): RetentionStatus {
    const now = this.now();
    const cameras = this.policy.cameras.map((c) => {
      const oldest = this.catalog.oldestLive(c.camera);
      return { camera: c.camera, oldest_ms: oldest, days_held: oldest === null ? 0 : (now - oldest) / DAY_MS, min_days: c.minDays, max_days: c.maxDays };
    });
    // the forecast need not be exact by the minute; the sum is a full scan
    if (!this.liveBytesCache || now - this.liveBytesCache.atMs > LIVE_BYTES_TTL_MS) this.liveBytesCache = { atMs: now, bytes: this.catalog.liveBytes() };
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
