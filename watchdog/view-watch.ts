import type { Logger } from 'pino';
import type { MaskShape } from '../common/mask-geometry.js';
import type { TamperConfig } from '../config/schema.js';
import type { Catalog } from '../recorder/catalog/catalog.js';
import type { FrameDecoder } from '../recorder/frame-decoder.js';
import { FrameSampler, type RecordingFeed, type SampledFrame, type StreamInfo } from '../recorder/frame-sampler.js';
import type { OnvifDevice, OnvifTarget } from '../recorder/sources/onvif.js';
import { OnvifWatch, type CameraSignal } from '../recorder/sources/onvif-events.js';
import { IdentityWatch } from './camera-identity.js';
import type { RaiseEvent } from './events.js';
import { TamperMonitor, type StillWriter, type ViewState } from './tamper-monitor.js';
import type { ViewAnalyzer } from './view-analyzer.js';

export interface ViewWatchOptions {
  dataDir: string;
  catalog: Catalog;
  decoder: FrameDecoder;
  raise: RaiseEvent;
  log?: Logger;
  tamper: TamperConfig;
  /** ONVIF cameras: their events and device identity are watched too */
  onvif?: OnvifTarget;
  still?: StillWriter;
  /** sampler tuning (tests, benchmarks) */
  sampler?: { minIntervalMs?: number; maxIntervalMs?: number | (() => number); cpuBudget?: number | (() => number) };
  /** the camera's recorder: its files are read when it says it wrote (no polling) */
  feed?: RecordingFeed;
  /** true while segment indexing is behind: unhurried samples wait (indexing first) */
  behind?: () => boolean;
  /** the thread the pixels are analysed in (one for every camera); without one, in line */
  analyzer?: ViewAnalyzer;
  /** the camera's capture masks, painted flat in its pictures: the view analysis leaves them out */
  painted?: MaskShape[];
}

/** how often the stream as recorded is written to the catalog for `status`, when only its fps moved */
const STREAM_PERSIST_MS = 60_000;

/**
 * Everything that watches one camera's view, wired together: the frame sampler (keyframes of
 * the recording), the tamper monitor (view analysis and the camera's view state), the identity
 * pins (device and stream) and, for ONVIF cameras, the camera's own events. It runs beside the
 * camera's recorder and never touches it. The latest state is kept in the catalog for `status`.
 */
export class ViewWatch {
  readonly sampler: FrameSampler;
  readonly monitor: TamperMonitor;
  readonly identity: IdentityWatch;
  private onvif?: OnvifWatch;
  private readonly signals = new Map<CameraSignal, string>();
  private streamPersistedMs = 0;
  private timer?: NodeJS.Timeout;
  private device?: OnvifDevice;

  constructor(readonly camera: string, private readonly opts: ViewWatchOptions) {
    this.sampler = new FrameSampler(camera, {
      dataDir: opts.dataDir, decoder: opts.decoder, log: opts.log, feed: opts.feed, behind: opts.behind, ...opts.sampler,
    });
    this.monitor = new TamperMonitor(camera, {
      catalog: opts.catalog, raise: opts.raise, log: opts.log, settings: opts.tamper, still: opts.still, onChange: () => this.persist(),
      analyzer: opts.analyzer, charge: (ms) => this.sampler.charge(ms), painted: opts.painted,
    });
    this.identity = new IdentityWatch(camera, { catalog: opts.catalog, log: opts.log, report: (kind, on, data) => this.monitor.report(kind, on, data) });
    this.sampler.on('stream', (s) => this.onStream(s));
  }

  get view(): ViewState {
    return this.monitor.view;
  }

  get stream(): StreamInfo | null {
    return this.sampler.stream;
  }

  start(): this {
    this.monitor.start();
    this.listen();
    this.sampler.start();
    if (this.opts.onvif) {
      this.onvif = new OnvifWatch(this.opts.onvif, {
        log: this.opts.log,
        onDevice: (d) => { this.device = d; this.identity.onDevice(d); },
        onSignal: (s) => this.onSignal(s.signal, s.topic, s.active),
      }).start();
    }
    // what was last seen is checked again: a reset's forgotten pins are pinned anew within seconds
    this.timer = setInterval(() => {
      if (this.sampler.stream) this.identity.onStream(this.sampler.stream);
      if (this.device) this.identity.onDevice(this.device);
      this.monitor.setProblem(this.opts.tamper.enabled ? (this.sampler.problem ?? this.opts.analyzer?.problem ?? null) : null);
    }, 5000);
    this.persist();
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.monitor.stop(), this.sampler.stop(), this.onvif?.stop()]);
    this.opts.analyzer?.forget(this.camera);
  }

  /** New tamper settings (a config reload). */
  configure(tamper: TamperConfig): void {
    this.opts.tamper = tamper;
    this.monitor.configure(tamper);
    this.listen();
  }

  /** The analysis listens only while it is on (frames are decoded only while someone listens; other watchers keep theirs). */
  private listen(): void {
    this.sampler.off('frame', this.analyse);
    this.sampler.hurry = false;
    if (this.opts.tamper.enabled) this.sampler.on('frame', this.analyse);
  }

  private readonly analyse = (f: SampledFrame): void => {
    const decided = this.monitor.onFrame(f);
    if (decided) void decided.then(() => { this.sampler.hurry = this.monitor.unsettled; });
    else this.sampler.hurry = this.monitor.unsettled;
  };

  private onStream(s: StreamInfo): void {
    this.identity.onStream(s);
    if (Date.now() - this.streamPersistedMs >= STREAM_PERSIST_MS) this.persist();
  }

  /** The camera's own events: `camera_reported` while any of its tamper signals is on. */
  private onSignal(signal: CameraSignal, topic: string, active: boolean): void {
    const was = this.signals.size > 0;
    if (active) this.signals.set(signal, topic);
    else this.signals.delete(signal);
    const on = this.signals.size > 0;
    this.opts.log?.info({ camera: this.camera, signal, topic, active }, 'camera event');
    if (on !== was) this.monitor.report('camera_reported', on, on ? { signals: [...this.signals.keys()], topic } : { reason: `the camera cleared ${signal}`, topic });
  }

  private persist(): void {
    try {
      this.opts.catalog.setCameraView(this.camera, JSON.stringify(this.monitor.view), this.sampler.stream ? JSON.stringify(this.sampler.stream) : null);
      this.streamPersistedMs = Date.now();
    } catch (err) {
      this.opts.log?.warn({ camera: this.camera, err }, 'cannot store the view state');
    }
  }
}
