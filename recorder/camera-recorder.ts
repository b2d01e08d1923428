import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { BackendExit, RecorderBackend, RecorderBackendOptions } from './backends/backend.js';
import { createBackend, type BackendName } from './backends/create.js';
import type { Catalog, SegmentRow } from './catalog/catalog.js';
import { recoverCamera } from './recovery.js';
import type { SegmentStore } from './segment-store.js';

export interface CameraRecorderOptions {
  backend: BackendName;
  backendOptions: RecorderBackendOptions;
  dataDir: string;
  catalog: Catalog;
  store: SegmentStore;
  log: Logger;
  /** seconds to wait before each restart after a failure; the last one repeats */
  backoffSeconds: number[];
}

export type CameraState = 'starting' | 'recording' | 'down' | 'stopped';

interface CameraRecorderEvents {
  segment: [SegmentRow];
  state: [CameraState, string];
  exit: [BackendExit];
}

/**
 * Keeps one camera recording: owns its current backend, commits every closed segment,
 * indexes what a dead backend left in staging, and starts a new backend after a failure.
 */
export class CameraRecorder extends EventEmitter<CameraRecorderEvents> {
  private backend?: RecorderBackend;
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;
  private stopping = false;
  private settled: Promise<void> = Promise.resolve();
  state: CameraState = 'stopped';
  lastSegmentEndMs?: number;

  constructor(readonly camera: string, private readonly opts: CameraRecorderOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.backend?.pid;
  }

  start(): void {
    this.stopping = false;
    this.launch();
  }

  async stop(deadlineMs = 5000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.backend?.stop(deadlineMs);
    await this.settled;
    this.setState('stopped', 'stop requested');
  }

  private launch(): void {
    const backend = createBackend(this.opts.backend, this.opts.backendOptions, this.opts.log);
    this.backend = backend;
    this.setState('starting', `${backend.name} starting`);
    backend.on('segment', (seg) => {
      this.settled = this.settled.then(async () => {
        try {
          const row = await this.opts.store.commit(seg);
          this.failures = 0;
          this.lastSegmentEndMs = row.end_ms;
          if (this.state !== 'recording') this.setState('recording', 'segment indexed');
          this.emit('segment', row);
        } catch (err) {
          this.opts.log.error({ camera: this.camera, err }, 'cannot index a closed segment; it stays in staging for recovery');
        }
      });
    });
    backend.on('progress', () => {
      if (this.state === 'starting') this.setState('recording', 'media flowing');
    });
    backend.once('exit', (exit) => {
      this.settled = this.settled.then(() => this.afterExit(exit));
    });
    backend.start();
  }

  /** Whatever the reason the backend ended, its open segment is indexed before anything else. */
  private async afterExit(exit: BackendExit): Promise<void> {
    try {
      await recoverCamera(this.opts.dataDir, this.camera, this.opts.catalog, this.opts.store, this.opts.log);
    } catch (err) {
      this.opts.log.error({ camera: this.camera, err }, 'cannot index the segment the recorder left open');
    }
    this.emit('exit', exit);
    if (exit.requested || this.stopping) return;
    const backoff = this.opts.backoffSeconds;
    const delayS = backoff[Math.min(this.failures, backoff.length - 1)];
    this.failures++;
    this.setState('down', exit.reason);
    this.opts.log.warn({ camera: this.camera, reason: exit.reason, restartInS: delayS }, 'recorder stopped unexpectedly; restarting');
    this.restartTimer = setTimeout(() => { if (!this.stopping) this.launch(); }, delayS * 1000);
  }

  private setState(state: CameraState, why: string): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state, why);
  }
}
