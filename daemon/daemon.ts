import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Catalog } from '../recorder/catalog/catalog.js';
import { CameraRecorder } from '../recorder/camera-recorder.js';
import { flagMissing, recoverCamera } from '../recorder/recovery.js';
import { SegmentStore, stagingDir } from '../recorder/segment-store.js';
import { resolveSource } from '../recorder/sources/resolve.js';
import { TestCamera } from '../recorder/sources/test-camera.js';
import { registerSecret } from './log.js';

/**
 * The running box: wires config, catalog, recorders and test cameras together and owns their
 * lifecycle. It computes nothing itself.
 */
export class Daemon {
  readonly dataDir: string;
  catalog?: Catalog;
  private store?: SegmentStore;
  readonly recorders = new Map<string, CameraRecorder>();
  private readonly testCameras = new Map<string, TestCamera>();

  constructor(readonly config: Config, private readonly log: Logger) {
    this.dataDir = resolve(config.storage.path);
  }

  async start(): Promise<void> {
    const catalog = Catalog.open(this.dataDir);
    this.catalog = catalog;
    const store = new SegmentStore(this.dataDir, catalog, this.log);
    this.store = store;
    const cameras = this.config.cameras.filter((c) => c.enabled);

    // Before anything records: index what the last run left, flag what vanished.
    for (const cam of this.config.cameras) await recoverCamera(this.dataDir, cam.id, catalog, store, this.log);
    flagMissing(this.dataDir, catalog, this.log);

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
      const recorder = new CameraRecorder(cam.id, {
        backend: cam.record.backend,
        backendOptions: {
          camera: cam.id, url: source.url, safeUrl: source.safeUrl, stagingDir: stagingDir(this.dataDir, cam.id),
          segmentSeconds: cam.record.segment_seconds, timeoutSeconds: cam.record.timeout_seconds,
        },
        dataDir: this.dataDir, catalog, store, log: this.log, backoffSeconds: this.config.watchdog.backoff_s,
      });
      recorder.on('state', (state, why) => this.log.info({ camera: cam.id, state, why }, 'camera state'));
      this.recorders.set(cam.id, recorder);
      recorder.start();
    }
    this.log.info({ dataDir: this.dataDir, cameras: [...this.recorders.keys()], chainHead: catalog.chainHead().chain_hash }, 'edge-nvr running');
  }

  /** Finalises every open segment, then closes the catalog. */
  async stop(): Promise<void> {
    await Promise.all([...this.recorders.values()].map((r) => r.stop()));
    await this.store?.drain();
    await Promise.all([...this.testCameras.values()].map((c) => c.stop()));
    this.catalog?.close();
    this.log.info('edge-nvr stopped');
  }
}
