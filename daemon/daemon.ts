import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { effectiveRetention } from '../config/load.js';
import { legalMinimumDays, type CameraConfig, type Config } from '../config/schema.js';
import { Catalog } from '../recorder/catalog/catalog.js';
import { takeCheckpoint, type CheckpointReason } from '../recorder/catalog/checkpoint.js';
import { BackgroundVerifier } from '../recorder/background-verify.js';
import type { RecorderBackendOptions } from '../recorder/backends/backend.js';
import { detectMaskEnforcement, maskProvenance, maskSetHash, type MaskEnforcement } from '../recorder/capture-masks.js';
import { flagMissing, recoverCamera } from '../recorder/recovery.js';
import { SegmentStore, stagingDir } from '../recorder/segment-store.js';
import { clockDrifts } from '../recorder/sources/onvif.js';
import { resolveSource } from '../recorder/sources/resolve.js';
import { TestCamera } from '../recorder/sources/test-camera.js';
import { CameraSupervisor } from '../watchdog/camera-supervisor.js';
import { markCleanStop, openDaemonGaps } from '../watchdog/continuity.js';
import type { EventType } from '../watchdog/events.js';
import { Retention, type RetentionPolicy } from '../watchdog/retention.js';
import { HealthMonitor } from '../watchdog/health-monitor.js';
import { diskSpace } from '../watchdog/system-health.js';
import { auditReload, auditReloadRefused, auditRetentionOverrides, auditStart, auditStop, DAEMON_ACTOR, importProvisioning } from './audit-trail.js';
import { InstanceLock } from './instance-lock.js';
import { registerSecret } from './log.js';
import { packageVersion } from './package-root.js';

/** Cheap when nothing is due (one statfs, one indexed query per camera), so it runs often:
 * a disk filling at 16 cameras' rate must be caught within seconds. */
const SWEEP_INTERVAL_MS = 5000;

/** `<data>/edge-nvr.pid`, for people and other tools; edge-nvr itself finds the daemon by its lock (instance-lock.ts). */
export const PID_FILE = 'edge-nvr.pid';

/** meta key of the box id, for commands run with `--data` only (checkpoints, verify) */
export const BOX_ID_META = 'box.id';

export interface DaemonOptions {
  /** the config file (the provisioning record is read next to it) */
  configPath?: string;
}

/**
 * `meta` key of the policy the daemon runs with, written at every start and reload, so that
 * `edge-nvr status --data DIR` knows the days each camera must hold without the config file.
 */
export const META_POLICY = 'box.policy';

export interface StoredPolicy {
  box_id: string;
  at_ms: number;
  floor_bytes: number;
  cameras: Array<{ camera: string; enabled: boolean; min_days: number; max_days: number | null; segment_seconds: number }>;
}

export interface ReloadResult {
  ok: boolean;
  at_ms: number;
  error?: string;
  added: string[];
  removed: string[];
  restarted: string[];
  unchanged: string[];
}

/** What makes a camera's recorder what it is: a change here restarts it, nothing else does. */
function cameraKey(cam: CameraConfig, watchdog: Config['watchdog']): string {
  return JSON.stringify({ enabled: cam.enabled, source: cam.source, record: cam.record, capture_masks: cam.capture_masks, watchdog });
}

/**
 * The running box: wires config, catalog, recorders and test cameras together and owns their
 * lifecycle. It computes nothing itself.
 */
export class Daemon {
  readonly dataDir: string;
  catalog?: Catalog;
  private store?: SegmentStore;
  readonly recorders = new Map<string, CameraSupervisor>();
  /** how each camera with capture masks has them enforced (`none`: it is not recorded) */
  readonly maskEnforcement = new Map<string, MaskEnforcement>();
  private readonly testCameras = new Map<string, TestCamera>();
  retention?: Retention;
  health?: HealthMonitor;
  verifier?: BackgroundVerifier;
  private sweepTimer?: NodeJS.Timeout;
  private checkpointTimer?: NodeJS.Timeout;
  private sweeping?: Promise<unknown>;
  private lock?: InstanceLock;

  constructor(public config: Config, private readonly log: Logger, private readonly opts: DaemonOptions = {}) {
    this.dataDir = resolve(config.storage.path);
  }

  /** Every event is kept in the catalog (MQTT reads them from there) and logged. */
  readonly raise = (type: EventType, camera: string | null, data: Record<string, unknown>): void => {
    try {
      this.catalog?.addEvent(type, camera, data);
    } catch (err) {
      this.log.error({ err, type }, 'cannot store an event');
    }
    this.log.info({ event: type, camera, ...data }, `event ${type}`);
  };

  async start(): Promise<void> {
    // before anything is read or written: a second daemon on this data dir stops here
    mkdirSync(this.dataDir, { recursive: true });
    this.lock = InstanceLock.acquire(this.dataDir);
    const catalog = Catalog.open(this.dataDir);
    this.catalog = catalog;
    try {
      writeFileSync(join(this.dataDir, PID_FILE), `${process.pid}\n`);
    } catch (err) {
      this.log.warn({ err }, 'cannot write the pid file (reload and status find the daemon by its lock, not by this file)');
    }
    catalog.setMeta(BOX_ID_META, this.config.box.id);
    auditStart(catalog, this.config, packageVersion());
    if (importProvisioning(catalog, this.opts.configPath)) this.log.info('first-boot provisioning recorded in the audit log');
    auditRetentionOverrides(catalog, this.config, DAEMON_ACTOR);
    const store = new SegmentStore(this.dataDir, catalog, this.log);
    this.store = store;
    const cameras = this.config.cameras.filter((c) => c.enabled);

    // Before anything records: index what the last run left, set aside what cannot be read, flag what vanished.
    for (const cam of this.config.cameras) await recoverCamera(this.dataDir, cam.id, catalog, store, this.log, this.quarantined);
    flagMissing(this.dataDir, catalog, this.log);
    openDaemonGaps(catalog, cameras.map((c) => c.id), this.log, this.raise);

    // Retention judges ages by the clock: age deletion waits until the monitor's first reading.
    const health = new HealthMonitor({ dataDir: this.dataDir, catalog, cameras: () => [...this.recorders.keys()], log: this.log, raise: this.raise });
    this.health = health;
    const clockRead = health.start();

    // Before recording adds to a disk that may already be under its floor.
    this.retention = new Retention(this.dataDir, catalog, this.retentionPolicy(), diskSpace, this.log, this.raise, Date.now, () => health.clockView());
    this.storePolicy();
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    void clockRead.then(() => this.sweep());

    this.checkpoint('start');
    this.checkpointTimer = setInterval(() => this.checkpoint('interval'), this.config.integrity.checkpoint_interval_s * 1000);
    this.verifier = new BackgroundVerifier(this.dataDir, catalog, {
      readMbPerS: this.config.integrity.verify_read_mb_s, log: this.log,
      onViolation: (v) => this.raise('integrity_violation', v.camera, { what: v.what, segment: v.segment, path: v.path, detail: v.detail }),
    }).start();

    for (const [i, cam] of this.config.cameras.entries()) {
      if (cam.enabled) await this.startCamera(cam, i);
    }
    this.log.info({ dataDir: this.dataDir, cameras: [...this.recorders.keys()], chainHead: catalog.chainHead().chain_hash }, 'edge-nvr running');
  }

  private readonly quarantined = (camera: string, q: { file: string; from: string; bytes: number; sha256: string; reason: string }): void => {
    this.raise('segment_quarantined', camera, { ...q });
  };

  /** Signs and stores a checkpoint of every chain; MQTT publishes the newest stored one. */
  checkpoint(reason: CheckpointReason): void {
    if (!this.catalog?.db.open) return;
    try {
      const taken = takeCheckpoint(this.catalog, this.dataDir, this.config.box.id, reason);
      if (taken.fresh) this.log.debug({ reason, chains: taken.checkpoint.chains }, 'checkpoint signed');
    } catch (err) {
      this.log.error({ err, reason }, 'cannot take a checkpoint');
    }
  }

  /** Starts one camera: its test RTSP server when it has one, then its supervised recorder. */
  private async startCamera(cam: CameraConfig, i: number): Promise<void> {
    const catalog = this.catalog!;
    if (cam.source.type === 'test') {
      const test = new TestCamera({ id: cam.id, ...cam.source }, this.log);
      await test.start();
      this.testCameras.set(cam.id, test);
    }
    let source;
    try {
      source = resolveSource(cam, `cameras[${i}]`, this.testCameras, (r) => {
        const drift = r.clock_drift_ms;
        const level = clockDrifts(drift) ? 'warn' : 'info';
        this.log[level]({ camera: cam.id, url: r.safeUrl, profile: r.profile, clockDriftMs: drift }, 'onvif stream URI resolved');
      });
    } catch (err) {
      this.log.error({ camera: cam.id, err }, 'camera not recorded');
      return;
    }
    source.secrets.forEach(registerSecret);
    const captureMasks = this.enforceCaptureMasks(cam);
    if (captureMasks === 'refused') return;
    const recorder = new CameraSupervisor(cam.id, {
      backend: cam.record.backend,
      backendOptions: {
        camera: cam.id, url: source.url, safeUrl: source.safeUrl, stagingDir: stagingDir(this.dataDir, cam.id),
        segmentSeconds: cam.record.segment_seconds, timeoutSeconds: cam.record.timeout_seconds, captureMasks,
      },
      dataDir: this.dataDir, catalog, store: this.store!, log: this.log, raise: this.raise,
      backoffSeconds: this.config.watchdog.backoff_s, stallTimeoutMs: this.config.watchdog.stall_timeout_s * 1000,
      resolveUrl: source.resolveUrl,
    });
    recorder.on('state', (state, why) => this.log.info({ camera: cam.id, state, why }, 'camera state'));
    // a recorder that failed on the disk: probe it now rather than at the next interval
    recorder.on('exit', (exit) => { if (exit.cause?.startsWith('disk_')) void this.health?.probe(); });
    this.recorders.set(cam.id, recorder);
    recorder.start();
  }

  /**
   * Fail closed: a camera with capture masks is recorded only by the masked path; where the box
   * cannot run it, the camera is not recorded at all. The mask set goes into the ledger (once per
   * set), and every segment the recorder writes names it in its provenance.
   */
  private enforceCaptureMasks(cam: CameraConfig): RecorderBackendOptions['captureMasks'] | 'refused' {
    const store = this.store!;
    this.maskEnforcement.delete(cam.id);
    if (!cam.capture_masks.length) {
      store.setProvenance(cam.id, null);
      return undefined;
    }
    const how = detectMaskEnforcement();
    const hash = maskSetHash(cam.capture_masks);
    this.maskEnforcement.set(cam.id, how);
    if (how.enforced === 'none') {
      this.log.error({ camera: cam.id, reason: how.reason, masks: hash }, 'camera not recorded: its capture masks cannot be enforced');
      this.raise('capture_mask_unenforced', cam.id, { reason: how.reason, masks: hash });
      return 'refused';
    }
    this.catalog!.recordMaskSet(cam.id, hash, cam.capture_masks);
    store.setProvenance(cam.id, maskProvenance(cam.capture_masks, how));
    this.log.info({ camera: cam.id, masks: hash, encoder: how.encoder, count: cam.capture_masks.length }, 'capture masks enforced on the box');
    return { masks: cam.capture_masks, encoder: how.encoder };
  }

  private async stopCamera(id: string): Promise<void> {
    await this.recorders.get(id)?.stop();
    this.recorders.delete(id);
    await this.testCameras.get(id)?.stop();
    this.testCameras.delete(id);
  }

  /**
   * Applies a new config without touching cameras whose settings did not change: only added,
   * removed and changed cameras are stopped or started; retention takes the new policy. The
   * data dir cannot move under a running daemon. The outcome is kept in `meta.last_reload`.
   */
  async reload(next: Config, actor = 'signal:SIGHUP'): Promise<ReloadResult> {
    const result: ReloadResult = { ok: true, at_ms: Date.now(), added: [], removed: [], restarted: [], unchanged: [] };
    if (resolve(next.storage.path) !== this.dataDir) {
      return this.reloaded({ ...result, ok: false, error: `storage.path cannot change while running (${this.dataDir}); restart the service` }, actor);
    }
    const before = new Map(this.config.cameras.map((c) => [c.id, cameraKey(c, this.config.watchdog)]));
    const after = new Map(next.cameras.map((c) => [c.id, cameraKey(c, next.watchdog)]));
    for (const id of before.keys()) {
      if (!after.has(id)) result.removed.push(id);
      else if (after.get(id) !== before.get(id)) result.restarted.push(id);
      else result.unchanged.push(id);
    }
    for (const id of after.keys()) if (!before.has(id)) result.added.push(id);
    const old = this.config;
    this.config = next;
    try {
      await Promise.all([...result.removed, ...result.restarted].map((id) => this.stopCamera(id)));
      for (const [i, cam] of next.cameras.entries()) {
        if (cam.enabled && (result.added.includes(cam.id) || result.restarted.includes(cam.id))) await this.startCamera(cam, i);
      }
      this.retention?.setPolicy(this.retentionPolicy());
      this.storePolicy();
    } catch (err) {
      this.config = old;
      return this.reloaded({ ...result, ok: false, error: (err as Error).message }, actor);
    }
    try {
      auditReload(this.catalog!, old, next, result, actor);
      auditRetentionOverrides(this.catalog!, next, actor);
    } catch (err) {
      this.log.error({ err }, 'cannot audit the reload');
    }
    return this.reloaded(result, actor);
  }

  /** A config that could not be loaded (its issues already logged, one line each): the running
   * one stays; recorded like any outcome. */
  refuseReload(error: string, actor: string): ReloadResult {
    return this.reloaded({ ok: false, at_ms: Date.now(), error, added: [], removed: [], restarted: [], unchanged: [] }, actor, false);
  }

  private reloaded(result: ReloadResult, actor: string, log = true): ReloadResult {
    try {
      this.catalog?.setMeta('last_reload', JSON.stringify(result));
      if (!result.ok && this.catalog) auditReloadRefused(this.catalog, result.error ?? 'refused', actor);
    } catch (err) {
      this.log.error({ err }, 'cannot record the reload in the catalog');
    }
    if (result.ok) this.log.info({ reload: result }, 'config reloaded');
    else if (log) this.log.error({ reload: result }, `config reload refused: ${result.error}`);
    return result;
  }

  retentionPolicy(): RetentionPolicy {
    const box = this.config.storage.retention;
    return {
      floorBytes: this.config.storage.free_space_floor_mb * 1024 * 1024,
      cameras: this.config.cameras.map((c) => ({ camera: c.id, ...effectiveRetention(this.config, c) })),
      box: { minDays: box.min_days ?? legalMinimumDays(this.config), maxDays: box.max_days ?? null },
      exportsMaxDays: this.config.storage.exports_max_days ?? null,
      ageNeedsClockSync: this.config.integrity.age_deletion_needs_clock_sync,
    };
  }

  private storePolicy(): void {
    const policy: StoredPolicy = {
      box_id: this.config.box.id, at_ms: Date.now(), floor_bytes: this.config.storage.free_space_floor_mb * 1024 * 1024,
      cameras: this.config.cameras.map((c) => {
        const r = effectiveRetention(this.config, c);
        return { camera: c.id, enabled: c.enabled, min_days: r.minDays, max_days: r.maxDays, segment_seconds: c.record.segment_seconds };
      }),
    };
    try {
      this.catalog?.setMeta(META_POLICY, JSON.stringify(policy));
    } catch (err) {
      this.log.error({ err }, 'cannot store the retention policy in the catalog; status without a config will not know it');
    }
  }

  /** One sweep at a time; a failing sweep is logged and tried again at the next tick. */
  private sweep(): Promise<unknown> {
    this.sweeping ??= this.retention!.sweep()
      .catch((err) => this.log.error({ err }, 'retention sweep failed'))
      .finally(() => { this.sweeping = undefined; });
    return this.sweeping;
  }

  /** Finalises every open segment, then signs a last checkpoint and closes the catalog. */
  async stop(why = 'stop requested'): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.checkpointTimer);
    this.health?.stop();
    await this.sweeping;
    await this.verifier?.stop();
    await Promise.all([...this.recorders.values()].map((r) => r.stop()));
    await this.store?.drain();
    await Promise.all([...this.testCameras.values()].map((c) => c.stop()));
    if (this.catalog?.db.open) {
      markCleanStop(this.catalog);
      try {
        auditStop(this.catalog, why);
      } catch (err) {
        this.log.error({ err }, 'cannot audit the stop');
      }
      this.checkpoint('stop');
    }
    try {
      const pidFile = join(this.dataDir, PID_FILE);
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
    } catch {
      // never written, or already gone
    }
    this.catalog?.close();
    this.lock?.release();
    this.log.info('edge-nvr stopped');
  }
}
