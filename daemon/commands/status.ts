/**
 * `edge-nvr status`: what a site manager asks on the box. Is every camera recording, how many
 * days does the box hold against what it must, what went missing in the last 24 h, disk,
 * temperature, the last events, and what the box last told the platform over MQTT. It reads
 * the catalog read-only, so it works whether the daemon runs or not.
 */
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../../config/schema.js';
import { agePauseInForce, DAY_MS, Retention, type DiskSpace, type RetentionStatus } from '../../watchdog/retention.js';
import { diskSpace, readSystemHealth } from '../../watchdog/system-health.js';
import { DEFAULT_CONFIG, EXIT, parseCommand, print, printJson } from '../args.js';
import { META_POLICY, type StoredPolicy } from '../catalog-meta.js';
import { ago, bytes, days, describeEvent, duration, isoTime } from '../../common/human.js';
import { lockHolder } from '../instance-lock.js';
import { gapTimeWithin } from '../../watchdog/continuity.js';
import { openCatalogReadOnly } from './data-dir.js';
import type { Catalog } from '../../recorder/catalog/catalog.js';
import { readProgress } from '../../recorder/background-verify.js';
import { maskSetHash } from '../../recorder/capture-masks.js';

const spec = {
  name: 'status',
  summary: 'Is the box recording, and how many days does it hold. Reads the catalog read-only; exit 0 every camera recording, 1 otherwise.',
  usage: 'status [--config F | --data DIR] [--json]',
  options: { config: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' } },
  help: {
    config: `config file (default ${DEFAULT_CONFIG}): cameras, segment length, retention`,
    data: 'data dir, when there is no config at hand (cameras and retention then come from the catalog only)',
    json: 'print the status as JSON',
  },
} as const;

/** a camera is recording when its last segment ended within 2 segment lengths plus this */
const MARGIN_MS = 15_000;

export interface CameraStatus {
  camera: string;
  recording: boolean;
  /** why not, in words (the open gap's cause, no daemon, a full disk, no segment since); null while recording */
  not_recording: string | null;
  last_segment_end_ms: number | null;
  open_gap: { start_ms: number; cause: string } | null;
  gaps_24h: number;
  gap_ms_24h: number;
  days_held: number;
  min_days: number | null;
  /** the daemon's last word on the camera's view (tamper detection), null when it never said */
  view: { state: string; kinds: string[]; since_ms: number | null; reference_ms: number | null; detail: string | null } | null;
  /** the stream as recorded (codec, size, measured fps), null before the daemon saw it */
  stream: { codec: string; width: number; height: number; fps: number | null } | null;
  /**
   * How capture masks protect the camera's newest recording: `camera` (the camera's own privacy
   * masks, pushed and read back), `box` (blanked on the box before writing),
   * `none` (masks configured but not in force on it: the camera is not recorded, or its newest
   * segment predates them), null (no capture masks).
   */
  capture_masks: 'camera' | 'box' | 'none' | null;
}

type AgePause = NonNullable<ReturnType<typeof agePauseInForce>>;

const PAUSE_WHY: Record<string, string> = {
  clock_unsynced: 'the clock is not known to be synchronised',
  clock_step: 'the clock stepped forward and no synchronised reading has confirmed it yet',
};

/**
 * Why a camera is not recording, in words. A full disk said nothing until the recorder's failed
 * writes became a gap (an outside probe): the disk under its floor is named before that.
 */
function notRecording(openGap: { start_ms: number; cause: string } | undefined, daemonPid: number | null, disk: DiskSpace, floorBytes: number, lastEndMs: number | undefined): string {
  if (openGap) return `down since ${isoTime(openGap.start_ms)}: ${openGap.cause.replace(/_/g, ' ')}`;
  if (daemonPid === null) return 'the daemon is not running';
  const since = lastEndMs === undefined ? 'no segment yet' : `no segment since ${isoTime(lastEndMs)}`;
  return disk.available_bytes < Math.max(floorBytes, 1) ? `${since}; the data disk is full (${bytes(disk.available_bytes)} free, floor ${bytes(floorBytes)})` : since;
}

/** What the newest segment's provenance says about the capture masks in force, against the config's. */
function maskStatus(configured: Config['cameras'][number]['capture_masks'] | undefined, provenance: string | null | undefined): CameraStatus['capture_masks'] {
  let p: { enforced?: string; masks?: string } = {};
  try { p = provenance ? JSON.parse(provenance) as typeof p : {}; } catch { /* unreadable: nothing in force */ }
  const inForce = p.enforced === 'box' || p.enforced === 'camera' ? p.enforced : null;
  if (!configured?.length) return inForce;
  return inForce && p.masks === maskSetHash(configured) ? inForce : 'none';
}

/** The view state the daemon keeps in the catalog; none in a catalog older than the view tables. */
function storedView(catalog: ReturnType<typeof openCatalogReadOnly>, camera: string): Pick<CameraStatus, 'view' | 'stream'> {
  try {
    const row = catalog.cameraView(camera);
    if (!row) return { view: null, stream: null };
    return { view: JSON.parse(row.view) as CameraStatus['view'], stream: row.stream ? JSON.parse(row.stream) as CameraStatus['stream'] : null };
  } catch {
    return { view: null, stream: null };
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return EXIT.ok;
  // the config loader only when a config is read: `status --data` starts without it
  const load = parsed.values.config || !parsed.values.data ? await import('../../config/load.js') : undefined;
  const config: Config | undefined = load?.loadConfig(parsed.values.config ?? DEFAULT_CONFIG);
  const dataDir = resolve(parsed.values.data ?? config!.storage.path);
  const catalog = openCatalogReadOnly(dataDir);
  const now = Date.now();
  try {
    // without a config: the policy the daemon last ran with (kept in the catalog), else the
    // cameras with recordings (liveSummary is a full scan: only then)
    const stored = config ? undefined : storedPolicy(catalog.getMeta(META_POLICY));
    const cameras0 = config
      ? config.cameras.filter((c) => c.enabled).map((c) => ({ camera: c.id, ...load!.effectiveRetention(config!, c), segmentSeconds: c.record.segment_seconds }))
      : stored
        ? stored.cameras.filter((c) => c.enabled).map((c) => ({ camera: c.camera, minDays: c.min_days, maxDays: c.max_days, segmentSeconds: c.segment_seconds }))
        : catalog.liveSummary().map((l) => ({ camera: l.camera, minDays: 0, maxDays: null, segmentSeconds: 60 }));
    const policySource: 'config' | 'catalog' | 'none' = config ? 'config' : stored ? 'catalog' : 'none';
    // cameras switched off in the config: not recorded, and said so (silence read as "no such camera")
    const disabled = (config ? config.cameras.filter((c) => !c.enabled).map((c) => c.id) : stored?.cameras.filter((c) => !c.enabled).map((c) => c.camera) ?? [])
      .map((id) => ({ camera: id, last_segment_end_ms: catalog.lastSegment(id)?.end_ms ?? null }));
    // cameras the config no longer names whose recordings are still on the box (they follow the
    // box's retention): once absent from every list, as if never there (an outside probe)
    const named = config ? config.cameras.map((c) => c.id) : stored?.cameras.map((c) => c.camera);
    const removed = (named ? catalog.camerasWithLiveSegmentsBesides(named) : [])
      .map((id) => ({ camera: id, last_segment_end_ms: catalog.lastSegment(id)?.end_ms ?? null }));
    const cameraIds = cameras0.map((c) => c.camera);
    const policy = {
      floorBytes: config ? config.storage.free_space_floor_mb * 1024 * 1024 : stored?.floor_bytes ?? 0,
      cameras: cameras0.map(({ camera, minDays, maxDays }) => ({ camera, minDays, maxDays })),
    };
    const silent = pino({ level: 'silent' });
    const disk = await diskSpace(dataDir);
    const retention: RetentionStatus = new Retention(dataDir, catalog, policy, diskSpace, silent, () => undefined).status(disk);
    // the process holding the data dir's lock, not whatever a stale pid file names
    const daemonPid = lockHolder(dataDir) ?? null;
    const cameras: CameraStatus[] = cameraIds.map((id) => {
      const segSeconds = cameras0.find((c) => c.camera === id)?.segmentSeconds ?? 60;
      const last = catalog.lastSegment(id);
      const openGap = catalog.openGapOf(id);
      const gaps = catalog.gaps(id, now - DAY_MS, now);
      const gapMs = gapTimeWithin(gaps, now - DAY_MS, now);
      const r = retention.cameras.find((c) => c.camera === id);
      const recent = !!last && now - last.end_ms <= 2 * segSeconds * 1000 + MARGIN_MS;
      // no daemon, no recording, however fresh the last segment
      const recording = recent && !openGap && daemonPid !== null;
      return {
        camera: id,
        recording,
        not_recording: recording ? null : notRecording(openGap, daemonPid, disk, policy.floorBytes, last?.end_ms),
        last_segment_end_ms: last?.end_ms ?? null,
        open_gap: openGap ? { start_ms: openGap.start_ms, cause: openGap.cause } : null,
        gaps_24h: gaps.length,
        gap_ms_24h: Math.max(0, gapMs),
        days_held: Math.round((r?.days_held ?? 0) * 1e5) / 1e5,
        min_days: policySource === 'none' ? null : (r?.min_days ?? null),
        ...storedView(catalog, id),
        capture_masks: maskStatus(config?.cameras.find((c) => c.id === id)?.capture_masks, last?.provenance),
      };
    });
    const health = await readSystemHealth();
    const meta = (key: string) => {
      const v = catalog.getMeta(key);
      if (v === undefined) return null;
      try { return JSON.parse(v) as unknown; } catch { return v; }
    };
    const status = {
      at_ms: now,
      data_dir: dataDir,
      daemon_pid: daemonPid,
      recording: cameras.length > 0 && cameras.every((c) => c.recording),
      cameras,
      disabled,
      removed,
      retention: {
        min_required_days: policySource === 'none' ? null : retention.min_required_days, forecast_days: retention.forecast_days, policy_from: policySource,
        // a site manager saw footage past max_days and no word why (an outside probe)
        age_deletion_paused: agePauseInForce(catalog),
      },
      disk: retention.disk,
      temperature_c: health.temperature_c,
      clock: health.clock,
      events: catalog.events(0, 10).map((e) => ({ at_ms: e.at_ms, type: e.type, camera: e.camera, data: JSON.parse(e.data) as unknown })),
      mqtt: { last_status: meta('mqtt.last_status'), last_health: meta('mqtt.last_health') },
      last_reload: meta('last_reload'),
      integrity: integrityStatus(catalog),
    };
    if (parsed.values.json) printJson(status, 2);
    else print(format(status, now));
    return status.recording ? EXIT.ok : EXIT.failure;
  } finally {
    catalog.close();
  }
}

/** The stored policy, or undefined when absent or unreadable (a catalog from before it was stored). */
function storedPolicy(text: string | undefined): StoredPolicy | undefined {
  if (!text) return undefined;
  try {
    const p = JSON.parse(text) as StoredPolicy;
    return Array.isArray(p.cameras) ? p : undefined;
  } catch {
    return undefined;
  }
}

/** What the box last told the platform, in words: `online (connected) at T`. */
function published(status: unknown, health: unknown): string {
  const s = (status ?? {}) as { state?: unknown; reason?: unknown; ts?: unknown };
  const h = (health ?? {}) as { ts?: unknown };
  if (status === null && health === null) return 'nothing published yet';
  const parts: string[] = [];
  if (typeof s.state === 'string') parts.push(`last status ${s.state}${typeof s.reason === 'string' ? ` (${s.reason.replace(/_/g, ' ')})` : ''}${typeof s.ts === 'number' ? ` at ${isoTime(s.ts)}` : ''}`);
  else if (status !== null) parts.push('last status unreadable');
  if (typeof h.ts === 'number') parts.push(`last health at ${isoTime(h.ts)}`);
  else if (health !== null) parts.push('last health unreadable');
  return parts.join('; ') || 'nothing published yet';
}

function viewLine(c: CameraStatus): string {
  const stream = c.stream ? `; stream ${c.stream.codec} ${c.stream.width}x${c.stream.height}${c.stream.fps === null ? '' : ` ${c.stream.fps} fps`}` : '';
  const v = c.view;
  if (!v) return `not watched yet${stream}`;
  const what = v.state === 'tampered' ? `TAMPER SUSPECTED: ${v.kinds.join(', ')} since ${isoTime(v.since_ms)}`
    : v.state === 'ok' ? `ok (reference of ${isoTime(v.reference_ms)})`
    : v.state === 'learning' ? 'learning the normal view'
    : `${v.state}${v.detail ? `: ${v.detail}` : ''}`;
  return what + stream;
}

/** Background verification and checkpoints, as the daemon last saved them. */
function integrityStatus(catalog: Catalog) {
  const v = readProgress(catalog);
  const length = catalog.chainHead().id;
  return {
    verify_read_mb_s: v?.rate_mb_s ?? null,
    last_full_pass_ms: v?.last_full_pass_ms ?? null,
    last_full_pass_segments: v?.last_full_pass_segments ?? null,
    pass_progress: v?.pass_started_ms ? Math.min(1, v.cursor / Math.max(1, length)) : null,
    violations: v?.violations ?? 0,
    last_checkpoint_ms: catalog.newestCheckpoint()?.at_ms ?? null,
  };
}

function format(s: {
  daemon_pid: number | null; recording: boolean; cameras: CameraStatus[]; disabled: Array<{ camera: string; last_segment_end_ms: number | null }>; removed: Array<{ camera: string; last_segment_end_ms: number | null }>; retention: { min_required_days: number | null; forecast_days: number | null; policy_from: string; age_deletion_paused: AgePause | null };
  disk: { total_bytes: number; available_bytes: number; floor_bytes: number }; temperature_c: number | null; clock: { synchronized: boolean | null };
  events: Array<{ at_ms: number; type: string; camera: string | null; data: unknown }>; mqtt: { last_status: unknown; last_health: unknown }; data_dir: string;
  integrity: ReturnType<typeof integrityStatus>;
}, now: number): string {
  const out: string[] = [];
  out.push(`box: ${s.recording ? 'RECORDING' : 'NOT RECORDING (see below)'}; daemon ${s.daemon_pid ? `running (pid ${s.daemon_pid})` : 'not running'}; data ${s.data_dir}`);
  out.push('');
  const w = Math.max(6, ...s.cameras.map((c) => c.camera.length));
  out.push(`${'camera'.padEnd(w)}  recording  last segment end       days held / required  masks   gaps 24h`);
  for (const c of s.cameras) {
    const why = c.not_recording ? ` (${c.not_recording})` : '';
    const held = `${c.days_held.toFixed(2)} / ${c.min_days ?? 'unknown'}`;
    out.push(`${c.camera.padEnd(w)}  ${(c.recording ? 'yes' : 'NO').padEnd(9)}  ${isoTime(c.last_segment_end_ms).padEnd(20)}  ${held.padEnd(20)}  ${(c.capture_masks ?? '-').padEnd(6)}  ${c.gaps_24h} (${duration(c.gap_ms_24h)})${why}`);
  }
  if (!s.cameras.length) out.push('  no cameras');
  if (s.disabled.length) {
    out.push(`disabled in the config, not recorded: ${s.disabled.map((d) => `${d.camera} (${d.last_segment_end_ms === null ? 'no recordings' : `last segment ${isoTime(d.last_segment_end_ms)}`})`).join(', ')}`);
  }
  if (s.removed.length) {
    out.push(`removed from the config, recordings kept under the box's retention: ${s.removed.map((d) => `${d.camera} (last segment ${isoTime(d.last_segment_end_ms)})`).join(', ')}`);
  }
  out.push('');
  out.push(`${'camera'.padEnd(w)}  view`);
  for (const c of s.cameras) out.push(`${c.camera.padEnd(w)}  ${viewLine(c)}`);
  out.push('');
  const required = s.retention.min_required_days === null ? 'days required unknown (the daemon has not run on this catalog; pass --config)' : `${s.retention.min_required_days} days required`;
  const paused = s.retention.age_deletion_paused;
  out.push(`retention: ${required}; ${s.retention.forecast_days === null ? 'the disk forecast is not known yet (no recording rate)' : `the disk holds ${days(s.retention.forecast_days)} at the current rate`}`
    + (paused ? `; age deletion PAUSED since ${isoTime(paused.since_ms)} (${PAUSE_WHY[paused.reason] ?? paused.reason}): nothing is deleted for age meanwhile, past max_days or not` : ''));
  out.push(`disk: ${bytes(s.disk.available_bytes)} free of ${bytes(s.disk.total_bytes)} (floor ${bytes(s.disk.floor_bytes)})`);
  out.push(`temperature: ${s.temperature_c === null ? 'no sensor' : `${s.temperature_c.toFixed(1)} °C`}; clock ${s.clock.synchronized === null ? 'sync unknown' : s.clock.synchronized ? 'synchronised' : 'NOT synchronised'}`);
  const i = s.integrity;
  out.push(`integrity: background re-hash ${i.verify_read_mb_s === null ? 'not run yet' : i.verify_read_mb_s === 0 ? 'off' : `at ${i.verify_read_mb_s} MB/s`}; `
    + `last full pass ${i.last_full_pass_ms === null ? 'none yet' : `${isoTime(i.last_full_pass_ms)} (${i.last_full_pass_segments} segments)`}`
    + `${i.pass_progress === null ? '' : `, this pass ${(i.pass_progress * 100).toFixed(0)} %`}; ${i.violations} violations; last checkpoint ${isoTime(i.last_checkpoint_ms)}`);
  out.push(`mqtt: ${published(s.mqtt.last_status, s.mqtt.last_health)}`);
  out.push('');
  out.push('last events:');
  for (const e of s.events) out.push(`  ${isoTime(e.at_ms)}  ${ago(e.at_ms, now).padEnd(12)}  ${(e.camera ?? 'box').padEnd(w)}  ${describeEvent(e.type, (e.data ?? {}) as Record<string, unknown>)}`);
  if (!s.events.length) out.push('  none');
  return out.join('\n') + '\n';
}
