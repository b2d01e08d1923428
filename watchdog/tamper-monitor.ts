import type { Logger } from 'pino';
import type { MaskShape } from '../common/mask-geometry.js';
import type { TamperConfig } from '../config/schema.js';
import type { Catalog } from '../recorder/catalog/catalog.js';
import type { SampledFrame } from '../recorder/frame-sampler.js';
import type { RaiseEvent } from './events.js';
import { sameShape, type StreamShape } from './camera-identity.js';
import {
  classify, learnReference, prepareReference, THRESHOLDS, type LearnSample, type ViewKind, type ViewReference,
} from './tamper-analysis.js';
import { ViewAnalysis, type ViewAnswer, type ViewJob } from './view-analysis.js';
import type { ViewAnalyzer } from './view-analyzer.js';
import { settleWithin } from '../common/deadlines.js';

/** `<data>/tamper/<camera>/`: the stills of tamper events (the box's own bytes on the data disk) */
export const STILLS_DIR = 'tamper';

export const TAMPER_KINDS = ['covered', 'defocused', 'moved', 'frozen', 'camera_reported', 'replaced', 'stream_changed'] as const;
export type TamperKind = (typeof TAMPER_KINDS)[number];
const VIEW_KINDS = ['covered', 'defocused', 'moved'] as const;

/**
 * A camera's view as the box sees it (MQTT health and camera state, `status`):
 * `learning` the reference; `ok`; `tampered` (with the active kinds); `unavailable` (no
 * picture can be analysed: why in `detail`); `off` (tamper.enabled false: the reason in
 * `detail`). Kinds the camera or its identity raise are active whatever the analysis state.
 */
export interface ViewState {
  state: 'learning' | 'ok' | 'tampered' | 'unavailable' | 'off';
  kinds: TamperKind[];
  since_ms: number | null;
  /** when the reference in use was learned; null while there is none */
  reference_ms: number | null;
  detail: string | null;
}

export interface TamperMonitorOptions {
  catalog: Catalog;
  raise: RaiseEvent;
  log?: Logger;
  settings: TamperConfig;
  /** starts writing a redacted still of the frame (through the egress gate): its path now, `done` once written */
  still?: StillWriter;
  /** called when the view state changed */
  onChange?: (view: ViewState) => void;
  /** where the pixels are analysed (the daemon's worker thread); without one, in line */
  analyzer?: ViewAnalyzer;
  /** the thread's CPU time for a sample (the sampler's budget counts it) */
  charge?: (cpuMs: number) => void;
  /** how long a changed stream waits for a picture of itself (tests; CHANGED_STREAM_STILL_WAIT_MS) */
  changedStreamWaitMs?: number;
  /** the camera's capture masks (painted flat by the box or the camera): left out of the analysis */
  painted?: MaskShape[];
}

interface Active { since_ms: number; kind: TamperKind }

/**
 * Starts writing a still of the frame: its path at once, `done` once written. The event names
 * the path and goes out at once: redacting a still takes seconds on a busy box, and an event
 * waiting for it would be late (a still that cannot be written is logged, and audited as
 * snapshot.failed by the egress gate).
 */
export type StillWriter = (frame: SampledFrame, kind: TamperKind) => { path: string; done: Promise<unknown> };

/**
 * Learning keeps at most this many samples, whatever `learn_s` (up to an hour): past it every
 * other kept sample goes and only every other new one is taken, so those kept stay spread evenly
 * over the whole time. Their coarse pictures are kept as bytes (14 KB each at 160x90, the
 * reference stores whole grey levels anyway). Kept as they came, as Float32, learning held 58 KB a
 * sample: 19 MB at 16 cameras after 45 s, and up to 200 MB a camera for an hour's `learn_s`.
 */
export const LEARN_KEPT = 32;
/**
 * A reference is learned only from a view with texture in at least MIN_TEXTURED of its areas,
 * an area's texture its mean gradient (grey levels a pixel of the coarse copy) at least
 * LEARN_TEXTURE. A lens covered by a dark hand measured 0.55-0.82 in every area (its sensor
 * noise, which the comparison's own floor of 0.5 still counts); the test scenes' middle areas
 * 24. A tenth: more than a camera's clock overlay alone covers (a few areas of one row), while
 * a mostly plain view with a few textured areas still learns (covering those is still seen).
 */
const MIN_TEXTURED = 0.1;
const LEARN_TEXTURE = 2;

/** how long a changed stream waits for a picture of itself before it is raised without a still (samples come every few seconds) */
const CHANGED_STREAM_STILL_WAIT_MS = 30_000;

/** how long stopping waits for stills still being written (systemd gives a stop 20 s in all) */
const STILL_DRAIN_MS = 8000;

/**
 * Raises `tamper_suspected` and `tamper_cleared` for one camera. View analysis (covered,
 * defocused, moved, frozen) runs on sampled frames against the reference kept in the catalog;
 * a kind is raised once it has held on every sample for `persistence_s` (at least two samples),
 * and cleared once it has been gone as long. Samples further apart than that (the recorder was
 * down) start the count again: a gap is never taken for persistence. Covered, defocused and
 * moved are one condition, "the view is lost", whose kind is what most of its samples showed:
 * a half-covered lens that reads covered on one sample and moved on the next is still lost.
 * Kinds decided elsewhere (the camera's own events, a replaced device, a changed stream) are
 * reported here as they come, so one place keeps the camera's view state and raises its events.
 */
export class TamperMonitor {
  private settings: TamperConfig;
  private ref?: { id: number; created_ms: number; data: ViewReference };
  private learning: LearnSample[] = [];
  /** samples seen since learning began; one in `learnStride` of them is kept (see LEARN_KEPT) */
  private learnSeen = 0;
  private learnStride = 1;
  /** when the previous picture analysed was taken (what a static picture is static since) */
  private prevAtMs?: number;
  /** the analysis in line, without an analyzer (with one, the analyzer's: see ViewAnalyzer.inLine) */
  private inline?: ViewAnalysis;
  private lastFrame?: SampledFrame;
  private lastSampleMs = 0;
  private lost?: { since: number; counts: Record<ViewKind, number>; score: number };
  private frozenSince?: number;
  private clearing = new Map<TamperKind, number>();
  private readonly active = new Map<TamperKind, Active>();
  private state: ViewState = { state: 'learning', kinds: [], since_ms: null, reference_ms: null, detail: null };
  private problem: string | null = null;
  /** why the last learning gave no reference (too little detail), said in the view's detail while it learns again */
  private unlearnable: string | null = null;
  private stopped = false;
  private readonly writing = new Set<Promise<unknown>>();
  /** a changed stream, raised once a picture of the new stream is sampled (its still is of that
   * stream: the last sample, of the old one, showed the camera that was swapped away) */
  private awaiting?: { sinceMs: number; data: Record<string, unknown>; shape: StreamShape; timer: NodeJS.Timeout };

  constructor(readonly camera: string, private readonly opts: TamperMonitorOptions) {
    this.settings = opts.settings;
  }

  /** Loads the reference in use, if there is one. */
  start(): this {
    this.stopped = false;
    if (this.settings.enabled) this.loadReference();
    this.update();
    return this;
  }

  /** Stops taking samples; resolves once the stills being written are (or after a deadline). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.awaiting?.timer);
    await settleWithin(Promise.all(this.writing), STILL_DRAIN_MS, undefined);
  }

  get view(): ViewState {
    return this.state;
  }

  /**
   * A change is being confirmed: the view looks lost or static but not yet for `persistence_s`,
   * or a raised kind looks gone but not yet for as long. Sampling should be quick meanwhile, so
   * the decision takes persistence plus one interval, not persistence rounded up to slow samples.
   */
  get unsettled(): boolean {
    const viewActive = VIEW_KINDS.some((k) => this.active.has(k));
    return (this.lost !== undefined && !viewActive) || (this.frozenSince !== undefined && !this.active.has('frozen')) || this.clearing.size > 0;
  }

  /** New settings (a reload): turning analysis off clears what it had raised. */
  configure(settings: TamperConfig): void {
    const wasOn = this.settings.enabled;
    this.settings = settings;
    if (wasOn && !settings.enabled) {
      for (const kind of [...VIEW_KINDS, 'frozen'] as const) this.deactivate(kind, Date.now(), 'view analysis turned off');
      this.lost = undefined;
      this.frozenSince = undefined;
    } else if (!wasOn && settings.enabled) {
      this.loadReference();
    }
    this.update();
  }

  /** Why no picture can be analysed (decoder missing, codec not decoded), or null. */
  setProblem(problem: string | null): void {
    if (problem === this.problem) return;
    this.problem = problem;
    this.update();
  }

  /**
   * A sampled picture: analysed in the analyzer's thread (resolves once decided; a picture the
   * thread dropped as stale decides nothing) or, without one, in line before this returns.
   */
  onFrame(frame: SampledFrame): void | Promise<void> {
    if (this.stopped) return;
    this.lastFrame = frame;
    if (this.awaiting && sameShape(frame.source, this.awaiting.shape)) this.raiseChangedStream(frame);
    if (!this.settings.enabled) return;
    const job: ViewJob = {
      kind: 'view', camera: this.camera, width: frame.width, height: frame.height, channels: frame.channels, data: frame.data,
      reference: this.ref ? { id: this.ref.id, data: this.ref.data } : null,
      ...(this.opts.painted?.length ? { painted: this.opts.painted } : {}),
    };
    const analyzer = this.opts.analyzer;
    // in line (the sampler counts the time against the budget): without an analyzer, or while it says so (few cameras)
    const here = analyzer ? analyzer.inLine() : (this.inline ??= new ViewAnalysis());
    if (here) {
      this.decide(frame, here.run(job));
      return;
    }
    return analyzer!.run(job).then((done) => {
      if (!done || this.stopped || !this.settings.enabled) return;
      this.opts.charge?.(done.cpuMs);
      this.decide(frame, done.answer);
    });
  }

  private decide(frame: SampledFrame, a: ViewAnswer): void {
    const t = frame.atMs;
    const persistenceMs = this.settings.persistence_s * 1000;
    // samples this far apart (the recorder was down) do not add up to a persistent change
    if (this.lastSampleMs && t - this.lastSampleMs > Math.max(persistenceMs, 30_000)) {
      this.lost = undefined;
      this.frozenSince = undefined;
      this.clearing.clear();
    }
    this.lastSampleMs = t;
    const prevAt = this.prevAtMs;
    this.prevAtMs = t;
    if (this.ref && !this.opts.catalog.viewReferenceActive(this.ref.id)) this.reset(t);
    if (!this.ref) {
      this.learn({ atMs: t, coarse: a.coarse, sharpness: a.sharpness });
      this.update();
      return;
    }
    // analysed before this reference was learned (or against one since retired): nothing to decide
    if (!a.comparison || a.referenceId !== this.ref.id) return;
    const sensitivity = this.settings.sensitivity;
    const comparison = a.comparison;
    const verdict = classify(comparison, sensitivity);
    const moved = a.change;
    const staticPicture = !verdict && moved <= THRESHOLDS[sensitivity].frozen;
    this.opts.log?.debug({ camera: this.camera, atMs: t, verdict, change: Math.round(moved * 10) / 10, ...comparison }, 'view sample');

    if (verdict) {
      this.lost ??= { since: t, counts: { covered: 0, defocused: 0, moved: 0 }, score: 0 };
      this.lost.counts[verdict.kind]++;
      this.lost.score = Math.max(this.lost.score, verdict.score);
    } else {
      this.lost = undefined;
    }
    // the previous sample already showed this very picture: frozen since then
    this.frozenSince = staticPicture ? (this.frozenSince ?? prevAt ?? t) : undefined;

    const viewActive = VIEW_KINDS.find((k) => this.active.has(k));
    if (viewActive) {
      if (this.lost) this.clearing.delete(viewActive);
      else this.maybeClear(viewActive, t, 'the view is back to normal');
    } else if (this.lost && t - this.lost.since >= persistenceMs && Object.values(this.lost.counts).reduce((a, b) => a + b, 0) >= 2) {
      const kind = (Object.entries(this.lost.counts) as Array<[ViewKind, number]>).sort((a, b) => b[1] - a[1])[0]![0];
      this.activate(kind, this.lost.since, this.lost.score, frame, { sensitivity });
    }

    if (this.frozenSince !== undefined) {
      this.clearing.delete('frozen');
      if (!this.active.has('frozen') && t - this.frozenSince >= persistenceMs) {
        this.activate('frozen', this.frozenSince, 1, frame, { sensitivity });
      }
    } else if (this.active.has('frozen')) {
      this.maybeClear('frozen', t, 'the picture moves again');
    }
    this.update();
  }

  /**
   * A kind decided outside the view analysis (the camera's own event, a replaced device, a
   * changed stream): raised or cleared at once, the still taken from the latest sample.
   */
  report(kind: TamperKind, on: boolean, data: Record<string, unknown> = {}): void {
    if (this.stopped) return;
    const now = Date.now();
    // a suspicion raised before a restart and never cleared (`continued`): active again from its
    // onset, without another event (the platform had it, and the retained state shows it)
    if (on && data.continued === true && typeof data.since_ms === 'number' && !this.active.has(kind)) {
      this.active.set(kind, { since_ms: data.since_ms, kind });
      this.opts.log?.info({ camera: this.camera, kind, sinceMs: data.since_ms }, 'tamper suspected since before this run: it goes on');
      this.update();
      return;
    }
    const seen = kind === 'stream_changed' ? data.seen as StreamShape | undefined : undefined;
    // only where pictures are sampled (a camera opted out of view analysis has none: raised at once)
    if (on && seen && this.settings.enabled && this.lastFrame && !this.active.has(kind) && !sameShape(this.lastFrame.source, seen)) {
      // raised with the first picture of the new stream, or without a still if none comes
      this.awaiting ??= { sinceMs: now, data, shape: seen, timer: setTimeout(() => this.raiseChangedStream(undefined), this.opts.changedStreamWaitMs ?? CHANGED_STREAM_STILL_WAIT_MS) };
      return;
    }
    if (!on && kind === 'stream_changed' && this.awaiting) {
      clearTimeout(this.awaiting.timer);
      this.awaiting = undefined;
    }
    if (on && !this.active.has(kind)) this.activate(kind, now, 1, this.lastFrame, data);
    else if (!on && this.active.has(kind)) this.deactivate(kind, now, typeof data.reason === 'string' ? data.reason : 'no longer reported', data);
    this.update();
  }

  private raiseChangedStream(frame: SampledFrame | undefined): void {
    const a = this.awaiting;
    if (!a || this.stopped) return;
    clearTimeout(a.timer);
    this.awaiting = undefined;
    this.activate('stream_changed', a.sinceMs, 1, frame, a.data);
    this.update();
  }

  private maybeClear(kind: TamperKind, t: number, why: string): void {
    const since = this.clearing.get(kind) ?? t;
    this.clearing.set(kind, since);
    if (t - since >= this.settings.persistence_s * 1000) this.deactivate(kind, t, why);
  }

  private activate(kind: TamperKind, sinceMs: number, score: number, frame: SampledFrame | undefined, data: Record<string, unknown>): void {
    this.active.set(kind, { since_ms: sinceMs, kind });
    this.clearing.delete(kind);
    this.opts.log?.warn({ camera: this.camera, kind, score, sinceMs }, 'tamper suspected');
    let still: { path: string; done: Promise<unknown> } | undefined;
    if (frame && this.opts.still) {
      try {
        still = this.opts.still(frame, kind);
        const done = still.done.catch((err) => this.opts.log?.error({ camera: this.camera, kind, err }, 'cannot write the still of a tamper event'));
        this.writing.add(done);
        void done.finally(() => this.writing.delete(done));
      } catch (err) {
        this.opts.log?.error({ camera: this.camera, kind, err }, 'cannot write the still of a tamper event');
      }
    }
    this.opts.raise('tamper_suspected', this.camera, { kind, score, since_ms: sinceMs, still: still?.path ?? null, ...data });
  }

  private deactivate(kind: TamperKind, t: number, reason: string, data: Record<string, unknown> = {}): void {
    const a = this.active.get(kind);
    if (!a) return;
    this.active.delete(kind);
    this.clearing.delete(kind);
    this.opts.log?.info({ camera: this.camera, kind, reason }, 'tamper cleared');
    this.opts.raise('tamper_cleared', this.camera, { ...data, kind, since_ms: a.since_ms, duration_ms: Math.max(0, t - a.since_ms), reason });
  }

  private loadReference(): void {
    const row = this.opts.catalog.activeViewReference(this.camera);
    if (!row) { this.ref = undefined; return; }
    try {
      const data = JSON.parse(row.data) as ViewReference;
      prepareReference(data); // throws on a reference that cannot be used
      this.ref = { id: row.id, created_ms: row.created_ms, data };
    } catch (err) {
      this.opts.log?.error({ camera: this.camera, err }, 'the stored view reference is unreadable; learning a new one');
      this.ref = undefined;
    }
  }

  /** Bytes the samples being learned from hold now (at most LEARN_KEPT + 1 coarse pictures, a byte a pixel). */
  get learningBytes(): number {
    return this.learning.reduce((n, s) => n + s.coarse.data.byteLength, 0);
  }

  private learn(sample: LearnSample): void {
    const k = this.learnSeen++;
    const firstMs = this.learning[0]?.atMs ?? sample.atMs;
    const done = this.learnSeen >= 5 && sample.atMs - firstMs >= this.settings.learn_s * 1000;
    // the last sample is always kept: the reference is learned up to it
    if (done || k % this.learnStride === 0) {
      const { width, height, data } = sample.coarse;
      this.learning.push({ atMs: sample.atMs, sharpness: sample.sharpness, coarse: { width, height, data: Uint8ClampedArray.from(data) } });
    }
    if (!done) {
      if (this.learning.length > LEARN_KEPT) {
        this.learning = this.learning.filter((_, i) => i % 2 === 0);
        this.learnStride *= 2;
      }
      return;
    }
    const reference = learnReference(this.learning);
    // a view with next to no texture (a lens covered while it learned, a dark featureless night)
    // makes a reference with no cell to compare: nothing would ever be raised against it
    // (capture masks are left out: their painted edges are texture of the box's, not the scene's)
    const prepared = prepareReference(reference, this.opts.painted);
    const areas = prepared.painted.filter((p) => !p).length;
    const textured = [...prepared.energy].filter((e, i) => e >= LEARN_TEXTURE && !prepared.painted[i]).length;
    if (areas === 0 || textured < MIN_TEXTURED * areas) {
      this.restartLearning();
      const why = areas === 0
        ? 'the capture masks cover every area of the view: there is nothing to learn it from; learning again'
        : `the view has too little detail to learn from (${textured} of ${areas} areas${areas < prepared.painted.length ? ' outside the capture masks' : ''}): a covered lens or a dark, featureless scene; learning again`;
      if (this.unlearnable !== why) this.opts.log?.warn({ camera: this.camera, textured, areas }, 'view reference not learned: too little detail');
      this.unlearnable = why;
      this.update();
      return;
    }
    this.unlearnable = null;
    const row = this.opts.catalog.addViewReference(this.camera, JSON.stringify(reference), sample.atMs);
    this.ref = { id: row.id, created_ms: row.created_ms, data: reference };
    this.restartLearning();
    this.opts.log?.info({ camera: this.camera, samples: reference.samples, sharpness: reference.sharpness }, 'view reference learned');
  }

  /** `tamper reset` retired the reference: what the analysis raised is cleared, and it learns again. */
  private reset(t: number): void {
    this.unlearnable = null;
    for (const kind of [...VIEW_KINDS, 'frozen'] as const) this.deactivate(kind, t, 'tamper reset');
    this.ref = undefined;
    this.lost = undefined;
    this.frozenSince = undefined;
    this.restartLearning();
    this.opts.log?.info({ camera: this.camera }, 'view reference retired (tamper reset); learning again');
  }

  private restartLearning(): void {
    this.learning = [];
    this.learnSeen = 0;
    this.learnStride = 1;
  }

  private update(): void {
    const kinds = TAMPER_KINDS.filter((k) => this.active.has(k));
    const state: ViewState['state'] = kinds.length ? 'tampered'
      : !this.settings.enabled ? 'off'
      : this.problem ? 'unavailable'
      : this.ref ? 'ok' : 'learning';
    const detail = state === 'off' ? (this.settings.reason ?? null) : state === 'unavailable' ? this.problem : state === 'learning' ? this.unlearnable : null;
    const next: ViewState = {
      state, kinds, detail, reference_ms: this.ref?.created_ms ?? null,
      since_ms: state === this.state.state && kinds.join() === this.state.kinds.join() ? this.state.since_ms : Date.now(),
    };
    if (next.state === this.state.state && next.kinds.join() === this.state.kinds.join() && next.detail === this.state.detail && next.reference_ms === this.state.reference_ms) return;
    this.state = next;
    this.opts.onChange?.(next);
  }
}
