import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { effectiveRetention } from '../config/load.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { Catalog } from '../recorder/catalog/catalog.js';
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
import { registerSecret } from './log.js';

/** Cheap when nothing is due (one statfs, one indexed query per camera), so it runs often:
 * a disk filling at 16 cameras' rate must be caught within seconds. */
const SWEEP_INTERVAL_MS = 5000;

/** `<data>/edge-nvr.pid`: `edge-nvr reload` signals the daemon it names. */
export const PID_FILE = 'edge-nvr.pid';

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
  return JSON.stringify({ enabled: cam.enabled, source: cam.source, record: cam.record, watchdog });
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
  private readonly testCameras = new Map<string, TestCamera>();
  retention?: Retention;
  health?: HealthMonitor;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<unknown>;

  constructor(public config: Config, private readonly log: Logger) {
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
    const catalog = Catalog.open(this.dataDir);
    this.catalog = catalog;
    try {
      writeFileSync(join(this.dataDir, PID_FILE), `${process.pid}\n`);
    } catch (err) {
      this.log.warn({ err }, 'cannot write the pid file; edge-nvr reload will not find this daemon');
    }
    const store = new SegmentStore(this.dataDir, catalog, this.log);
    this.store = store;
    const cameras = this.config.cameras.filter((c) => c.enabled);

    // Before anything records: index what the last run left, flag what vanished.
    for (const cam of this.config.cameras) await recoverCamera(this.dataDir, cam.id, catalog, store, this.log);
    flagMissing(this.dataDir, catalog, this.log);
    openDaemonGaps(catalog, cameras.map((c) => c.id), this.log, this.raise);

    // Before recording adds to a disk that may already be under its floor.
    this.retention = new Retention(this.dataDir, catalog, this.retentionPolicy(), diskSpace, this.log, this.raise);
    this.storePolicy();
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);

    this.health = new HealthMonitor({ dataDir: this.dataDir, catalog, cameras: () => [...this.recorders.keys()], log: this.log, raise: this.raise });
    this.health.start();

    for (const [i, cam] of this.config.cameras.entries()) {
      if (!cam.enabled) continue;
      await this.startCamera(cam, i);
      // each start spawns a recorder (tens of ms on a busy box): let the cameras already
      // started have their segments indexed in between
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.log.info({ dataDir: this.dataDir, cameras: [...this.recorders.keys()], chainHead: catalog.chainHead().chain_hash }, 'edge-nvr running');
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
    const recorder = new CameraSupervisor(cam.id, {
      backend: cam.record.backend,
      backendOptions: {
        camera: cam.id, url: source.url, safeUrl: source.safeUrl, stagingDir: stagingDir(this.dataDir, cam.id),
        segmentSeconds: cam.record.segment_seconds, timeoutSeconds: cam.record.timeout_seconds,
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
  async reload(next: Config): Promise<ReloadResult> {
    const result: ReloadResult = { ok: true, at_ms: Date.now(), added: [], removed: [], restarted: [], unchanged: [] };
    if (resolve(next.storage.path) !== this.dataDir) {
      return this.reloaded({ ...result, ok: false, error: `storage.path cannot change while running (${this.dataDir}); restart the service` });
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
      return this.reloaded({ ...result, ok: false, error: (err as Error).message });
    }
    return this.reloaded(result);
  }

  private reloaded(result: ReloadResult): ReloadResult {
    try {
      this.catalog?.setMeta('last_reload', JSON.stringify(result));
    } catch (err) {
      this.log.error({ err }, 'cannot record the reload in the catalog');
    }
    if (result.ok) this.log.info({ reload: result }, 'config reloaded');
    else this.log.error({ reload: result }, `config reload refused: ${result.error}`);
    return result;
  }

  retentionPolicy(): RetentionPolicy {
    return {
      floorBytes: this.config.storage.free_space_floor_mb * 1024 * 1024,
      cameras: this.config.cameras.map((c) => ({ camera: c.id, ...effectiveRetention(this.config, c) })),
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

  /** Finalises every open segment, then closes the catalog. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.health?.stop();
    await this.sweeping;
    await Promise.all([...this.recorders.values()].map((r) => r.stop()));
    await this.store?.drain();
    await Promise.all([...this.testCameras.values()].map((c) => c.stop()));
    if (this.catalog) markCleanStop(this.catalog);
    try {
      const pidFile = join(this.dataDir, PID_FILE);
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
    } catch {
      // never written, or already gone
    }
    this.catalog?.close();
    this.log.info('edge-nvr stopped');
  }
}
