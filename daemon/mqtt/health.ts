import type { Daemon } from '../daemon.js';
import { continuity } from '../../watchdog/continuity.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { diskSpace, readSystemHealth } from '../../watchdog/system-health.js';
import type { CameraStatePayload, HealthPayload } from './payloads.js';
import type { CommandStats } from './commands.js';
import type { Outbox } from './outbox.js';
import { STAT_DROPPED } from './outbox.js';


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
export async function buildHealth(daemon: Daemon, box: string, startedMs: number, outbox: Outbox | undefined, now = Date.now(), commands?: CommandStats): Promise<HealthPayload> {
  const catalog = daemon.catalog!;
  const [sys, disk] = await Promise.all([readSystemHealth(), diskSpace(daemon.dataDir)]);
  const ret = daemon.retention?.status(disk);
  const from = now - DAY_MS;
  const cameras = cameraViews(daemon).map((c) => {
    const gaps = catalog.gaps(c.camera, from, now);
    const gapMs = gaps.reduce((sum, g) => sum + Math.max(0, Math.min(g.end_ms ?? now, now) - Math.max(g.start_ms, from)), 0);
    const first = (catalog.db.prepare('SELECT min(start_ms) AS s FROM segments WHERE camera = ?').get(c.camera) as { s: number | null }).s;
    const windowFrom = Math.max(from, first ?? now);
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
    schema: 'edge-nvr/health@1',
    box,
    ts: now,
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
