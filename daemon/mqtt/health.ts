import type { Daemon } from '../daemon.js';
import { continuity, gapTimeWithin } from '../../watchdog/continuity.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { diskSpace, readSystemHealth } from '../../watchdog/system-health.js';
import type { CameraStatePayload, HealthPayload } from './payloads.js';
import type { CommandStats } from './commands.js';
import type { Outbox } from './outbox.js';
import { STAT_DROPPED } from './outbox.js';

/** `meta` key of the last health the broker acknowledged (JSON, as published); the status page reads it too */
export const META_LAST_HEALTH = 'mqtt.last_health';

export interface CameraView {
  camera: string;
  state: CameraStatePayload['state'];
  last_segment_end_ms: number | null;
  restarts: number;
  view: CameraStatePayload['view'];
}

const NO_VIEW: CameraStatePayload['view'] = { state: 'unavailable', kinds: [], since_ms: null, reference_ms: null, detail: 'not watched' };

/** What the recorders and the view watchers say right now (from the daemon's maps). */
export function cameraViews(daemon: Daemon): CameraView[] {
  return [...daemon.recorders.values()].map((r) => ({
    camera: r.camera,
    state: r.state,
    last_segment_end_ms: r.lastSegmentEndMs ?? daemon.catalog?.lastSegment(r.camera)?.end_ms ?? null,
    restarts: r.restarts,
    view: daemon.views.get(r.camera)?.view ?? NO_VIEW,
  }));
}

/** The health message (see docs/mqtt.md): read from the kernel, the catalog and the recorders. */
export async function buildHealth(daemon: Daemon, box: string, startedMs: number, outbox: Outbox | undefined, now = Date.now(), commands?: CommandStats, changed: string[] = []): Promise<HealthPayload> {
  const catalog = daemon.catalog!;
  const [sys, disk] = await Promise.all([readSystemHealth(), diskSpace(daemon.dataDir)]);
  const ret = daemon.retention?.status(disk);
  const from = now - DAY_MS;
  const cameras = cameraViews(daemon).map((c) => {
    const gaps = catalog.gaps(c.camera, from, now);
    const gapMs = gapTimeWithin(gaps, from, now);
    const first = (catalog.db.prepare('SELECT min(start_ms) AS s FROM segments WHERE camera = ?').get(c.camera) as { s: number | null }).s;
    // the window starts when the box began with the camera: its first recording, or the first gap
    // when that came earlier. From the first recording alone, a camera down since it was added
    // had an empty window and read 1, fully on record (an outside probe).
    const began = Math.min(first ?? now, ...gaps.map((g) => g.start_ms));
    const windowFrom = Math.max(from, began);
    const last = catalog.lastSegment(c.camera);
    const bitrate = last && last.end_ms > last.start_ms ? round((last.bytes * 8) / (last.end_ms - last.start_ms), 1) : null;
    return {
      ...c, gaps_24h: gaps.length, gap_ms_24h: Math.round(gapMs), continuity_24h: round(continuity(catalog, c.camera, windowFrom, now), 4), bitrate_kbps: bitrate,
      stream: daemon.views.get(c.camera)?.stream ?? null,
    };
  });
  const retCams = (ret?.cameras ?? []).map((c) => ({ ...c, days_held: round(c.days_held, 3) }));
  const oldest = retCams.map((c) => c.oldest_ms).filter((v): v is number => v !== null);
  const head = catalog.chainHead();
  const verify = daemon.verifier?.status();
  const checkpoint = catalog.newestCheckpoint();
  return {
    schema: 'edge-nvr/health@2',
    box,
    ts: now,
    changed,
    uptime_s: Math.round(sys.uptime_s),
    daemon_uptime_s: Math.round((now - startedMs) / 1000),
    load: sys.load.map((l) => round(l, 2)),
    temperature_c: sys.temperature_c === null ? null : round(sys.temperature_c, 1),
    throttled: sys.throttled,
    clock: sys.clock,
    memory: sys.memory,
    disks: [{ path: daemon.dataDir, ...disk, floor_bytes: ret?.disk.floor_bytes ?? 0 }],
    retention: {
      oldest_ms: oldest.length ? Math.min(...oldest) : null,
      days_held: retCams.length ? Math.min(...retCams.map((c) => c.days_held)) : 0,
      forecast_days: ret?.forecast_days === null || ret === undefined ? null : round(ret.forecast_days, 2),
      min_required_days: ret?.min_required_days ?? 0,
      cameras: retCams,
    },
    cameras,
    chain_head: { id: head.id, hash: head.chain_hash },
    integrity: {
      verify_read_mb_s: daemon.config.integrity.verify_read_mb_s,
      last_full_pass_ms: verify?.last_full_pass_ms ?? null,
      last_full_pass_segments: verify?.last_full_pass_segments ?? null,
      pass_progress: verify?.pass_started_ms ? round(Math.min(1, verify.cursor / Math.max(1, head.id)), 4) : null,
      violations: verify?.violations ?? 0,
      last_checkpoint_ms: checkpoint?.at_ms ?? null,
    },
    outbox: { queued: outbox?.size() ?? 0, dropped: outbox?.stat(STAT_DROPPED) ?? 0 },
    ...(commands ? { commands } : {}),
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/*
 * Send what changes. A report is built every health_interval_s but published only when one of
 * these values moved by at least its step since the last report published, or after
 * health_refresh_s without one. Values that move all the time (timestamps, uptimes, the last
 * segment's end, the chain head, load, free bytes by the byte) ride along in every report and
 * do not make one by themselves; they are never older than health_refresh_s.
 */
type Changed = (before: unknown, after: unknown, report?: HealthPayload) => boolean;
const any: Changed = (a, b) => JSON.stringify(a) !== JSON.stringify(b);
const by = (step: number): Changed => (a, b) => (typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) >= step : any(a, b));
const byShare = (share: number): Changed => (a, b) => (typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) >= share * Math.max(Math.abs(a), Math.abs(b)) : any(a, b));
const byShareOf = (total: (r: HealthPayload) => number, share: number): Changed => (a, b, r) => (typeof a === 'number' && typeof b === 'number' && r ? Math.abs(a - b) >= share * total(r) : any(a, b));

/** Per camera: each field and the change that counts. */
const CAMERA_TRIGGERS: Record<string, Changed> = {
  state: any,
  restarts: any,
  // every interruption is a gap: continuity_24h follows, and rides along (it also moves with
  // the open segment and the window's start, all the time)
  gaps_24h: any,
  bitrate_kbps: byShare(0.5), // a camera covered, moved or reconfigured
  // tamper detection's verdict (its state and active kinds), and the stream as recorded (a
  // swapped or reconfigured camera); the measured frame rate moves all the time and rides along
  view: (a, b) => any(pick(a, ['state', 'kinds']), pick(b, ['state', 'kinds'])),
  stream: (a, b) => any(pick(a, ['codec', 'width', 'height']), pick(b, ['codec', 'width', 'height'])),
};

function pick(v: unknown, keys: string[]): unknown {
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(keys.map((k) => [k, (v as Record<string, unknown>)[k]]));
}

/** Box-wide values: a path into the report and the change that counts. */
const BOX_TRIGGERS: Array<[string, (r: HealthPayload) => unknown, Changed]> = [
  ['clock', (r) => r.clock, any],
  ['throttled', (r) => (r.throttled ? { now: r.throttled.now, since_boot: r.throttled.since_boot } : null), any],
  ['temperature_c', (r) => r.temperature_c, by(3)],
  ['load.5min', (r) => r.load[1], by(1)],
  ['memory.available_bytes', (r) => r.memory.available_bytes, byShareOf((r) => r.memory.total_bytes, 0.1)],
  ['retention.days_held', (r) => r.retention.days_held, by(0.1)],
  ['retention.forecast_days', (r) => r.retention.forecast_days, byShare(0.1)],
  ['retention.min_required_days', (r) => r.retention.min_required_days, any],
  // a violation found, or a background pass over every segment finished (not checkpoints:
  // they have their own retained topic)
  ['integrity.violations', (r) => r.integrity.violations, any],
  ['integrity.last_full_pass_ms', (r) => r.integrity.last_full_pass_ms, any],
  ['integrity.verify_read_mb_s', (r) => r.integrity.verify_read_mb_s, any],
  // someone publishing refused commands (an attack, or a platform with the wrong secret), or
  // commands that failed: the platform hears of it within one health interval
  ['commands.refused', (r) => r.commands?.refused ?? 0, any],
  ['commands.failed', (r) => r.commands?.failed ?? 0, any],
  ['outbox.dropped', (r) => r.outbox.dropped, any],
  ['outbox.queued', (r) => r.outbox.queued, (a, b) => (a === 0) !== (b === 0) || by(100)(a, b)],
];

/** What moved enough between two reports to be worth a message (see the tables above). */
export function healthChanges(before: HealthPayload, after: HealthPayload): string[] {
  const out: string[] = [];
  for (const [name, get, changed] of BOX_TRIGGERS) if (changed(get(before), get(after), after)) out.push(name);
  const disks = new Map(before.disks.map((d) => [d.path, d]));
  for (const d of after.disks) {
    const was = disks.get(d.path);
    if (!was) out.push(`disks.${d.path}`);
    else {
      if (byShareOf(() => d.total_bytes, 0.01)(was.available_bytes, d.available_bytes, after)) out.push(`disks.${d.path}.available_bytes`);
      if (was.floor_bytes !== d.floor_bytes) out.push(`disks.${d.path}.floor_bytes`);
    }
  }
  const cameras = new Map(before.cameras.map((c) => [c.camera, c as Record<string, unknown>]));
  for (const c of after.cameras as Array<Record<string, unknown>>) {
    const id = String(c.camera);
    const was = cameras.get(id);
    cameras.delete(id);
    if (!was) { out.push(`cameras.${id}`); continue; }
    for (const [field, changed] of Object.entries(CAMERA_TRIGGERS)) if (changed(was[field], c[field], after)) out.push(`cameras.${id}.${field}`);
  }
  for (const gone of cameras.keys()) out.push(`cameras.${gone}`);
  return out;
}

