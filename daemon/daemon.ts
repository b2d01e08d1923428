import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { effectiveRetention } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Catalog } from '../recorder/catalog/catalog.js';
import { flagMissing, recoverCamera } from '../recorder/recovery.js';
import { SegmentStore, stagingDir } from '../recorder/segment-store.js';
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

  constructor(readonly config: Config, private readonly log: Logger) {
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
    const store = new SegmentStore(this.dataDir, catalog, this.log);
    this.store = store;
    const cameras = this.config.cameras.filter((c) => c.enabled);

    // Before anything records: index what the last run left, flag what vanished.
    for (const cam of this.config.cameras) await recoverCamera(this.dataDir, cam.id, catalog, store, this.log);
    flagMissing(this.dataDir, catalog, this.log);
    openDaemonGaps(catalog, cameras.map((c) => c.id), this.log, this.raise);

    // Before recording adds to a disk that may already be under its floor.
    this.retention = new Retention(this.dataDir, catalog, this.retentionPolicy(), diskSpace, this.log, this.raise);
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);

    this.health = new HealthMonitor({ dataDir: this.dataDir, catalog, cameras: () => [...this.recorders.keys()], log: this.log, raise: this.raise });
    this.health.start();

    for (const cam of cameras) {
      if (cam.source.type !== 'test') continue;
      const test = new TestCamera({ id: cam.id, ...cam.source }, this.log);
      await test.start();
      this.testCameras.set(cam.id, test);
    }

    for (const [i, cam] of this.config.cameras.entries()) {
      if (!cam.enabled) continue;
      let source;
      try {
        source = resolveSource(cam, `cameras[${i}]`, this.testCameras);
      } catch (err) {
        this.log.error({ camera: cam.id, err }, 'camera not recorded');
        continue;
      }
      source.secrets.forEach(registerSecret);
      const recorder = new CameraSupervisor(cam.id, {
        backend: cam.record.backend,
        backendOptions: {
          camera: cam.id, url: source.url, safeUrl: source.safeUrl, stagingDir: stagingDir(this.dataDir, cam.id),
          segmentSeconds: cam.record.segment_seconds, timeoutSeconds: cam.record.timeout_seconds,
        },
        dataDir: this.dataDir, catalog, store, log: this.log, raise: this.raise,
        backoffSeconds: this.config.watchdog.backoff_s, stallTimeoutMs: this.config.watchdog.stall_timeout_s * 1000,
      });
      recorder.on('state', (state, why) => this.log.info({ camera: cam.id, state, why }, 'camera state'));
      this.recorders.set(cam.id, recorder);
      recorder.start();
    }
    this.log.info({ dataDir: this.dataDir, cameras: [...this.recorders.keys()], chainHead: catalog.chainHead().chain_hash }, 'edge-nvr running');
  }

  retentionPolicy(): RetentionPolicy {
    return {
      floorBytes: this.config.storage.free_space_floor_mb * 1024 * 1024,
      cameras: this.config.cameras.map((c) => ({ camera: c.id, ...effectiveRetention(this.config, c) })),
    };
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
    this.catalog?.close();
    this.log.info('edge-nvr stopped');
  }
}
