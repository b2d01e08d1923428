import type { MaskShape } from '../common/mask-geometry.js';
import type { Detector } from './detector.js';
import { blankFrame, frameBytes, iou, type Box, type Frame } from './frame.js';
import { burnMasks, hide, padBox, type Method } from './effects.js';
import { boxMotion } from './motion.js';
import { RegionCache } from './region-cache.js';
import { cropFrame } from './resample.js';
import { timed, timedSync, type StageTimer } from './stage-timer.js';
import { moved, near, TrackBuilder, union, type LostTrack, type NewTrack, type Sighting, type UnevenTrack } from './tracks.js';
import { watermark } from './watermark.js';

export interface RedactorSettings {
  method: Method;
  /** the camera's privacy and capture masks, in fractions of the frame */
  masks: MaskShape[];
  /** run each detector on every `every`-th frame (and on scene changes); track in between */
  every: Record<string, number>;
  /** per detector: share of a box's size added on each side before hiding it */
  pad: Record<string, number>;
  /** mean absolute luma change (0-255) of a 32x18 thumbnail that counts as a scene change */
  sceneChange: number;
  /** detection rounds a box is still hidden before its first and after its last detection */
  hold: number;
  /** rounds of looking again at a redacted frame on detection frames */
  recheckRounds: number;
  /** reuse what a detector found in parts of the frame whose pixels did not change (fixed cameras) */
  skipUnchanged: boolean;
  /**
   * Bytes of decoded frames kept between two detection rounds, so that an object a round finds
   * for the first time is looked for again in the frames since the round before (where it
   * entered). Large frames lower k so that a round's gap fits: k <= bytes / frame size - 1.
   * 0: no look back, k as configured.
   */
  lookBackBytes: number;
}

export const DEFAULT_SETTINGS: RedactorSettings = {
  method: 'pixelate', masks: [], every: { blazeface: 10, 'ppocr-det': 5 }, pad: { blazeface: 0.25, 'ppocr-det': 0 }, sceneChange: 25, hold: 2, recheckRounds: 1,
  skipUnchanged: true, lookBackBytes: 192 * 1024 * 1024,
};

export interface RedactionStats {
  frames: number;
  blanked_frames: number;
  detections: Record<string, number>;
  hidden_boxes: Record<string, number>;
  detector_runs: Record<string, number>;
  /** detector inputs looked at, and those whose earlier boxes were reused (pixels unchanged) */
  inputs_looked: number;
  inputs_reused: number;
  /** inputs looked at only around their changed blocks, and the mean share of the input those parts covered */
  inputs_cropped: number;
  cropped_share: number;
  /** objects looked for between two rounds (new ones back to where they entered, lost ones forward to where they left), and the frames looked at */
  looked_between: number;
  look_between_frames: number;
  errors: string[];
}

/** Every frame's boxes, the frames to blank, and the counts of pass 1. */
export interface PassOne { planned: Box[][]; blanked: number[]; stats: RedactionStats }

/** Frames whose boxes pass 1 can no longer change (Redactor.settled): `boxes[i]` is frame `from + i`'s; `blanked` lists the blank ones. */
export interface Settled { from: number; boxes: Box[][]; blanked: number[] }

/** EDGE_NVR_OVERLAP_FORCE_LAG (tests only, see Redactor.finalBefore): a whole number of frames, or undefined. */
function forcedLag(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.EDGE_NVR_OVERLAP_FORCE_LAG;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

function thumb(f: Frame): Uint8Array {
  const t = new Uint8Array(32 * 18);
  for (let y = 0; y < 18; y++) for (let x = 0; x < 32; x++) {
    const i = (Math.floor((y + 0.5) * f.height / 18) * f.width + Math.floor((x + 0.5) * f.width / 32)) * 3;
    t[y * 32 + x] = (f.data[i]! * 77 + f.data[i + 1]! * 150 + f.data[i + 2]! * 29) >> 8;
  }
  return t;
}

/**
 * A kept frame must still hold its pixels: one given back to the decoder by mistake (transferred
 * away: its buffer is empty) would be looked at as nothing, so this throws instead, and the
 * frames it stands for are blanked (fail closed).
 */
function intact(f: Frame): void {
  if (f.data.length !== frameBytes(f.width, f.height, f.format)) throw new Error(`a kept ${f.width}x${f.height} frame holds ${f.data.length} bytes (given back while still needed)`);
}

/** Looking between rounds: an object's shorter side, in the crop it is looked for in, at most this (px). */
const LOOK_BETWEEN_SIDE = 64;

const bump = (r: Record<string, number>, k: string, by = 1) => { r[k] = (r[k] ?? 0) + by; };

/**
 * Two passes over a clip. `look` sees every frame in order: each detector runs on every k-th
 * frame and at once on a scene change, and what it finds goes into that detector's tracks, with
 * the motion of each box's content. `plan` then turns the tracks into the boxes of every frame,
 * carried forwards and backwards (redaction/tracks.ts). `render` sees the frames again and
 * hides, burns the masks and watermarks. Fail closed: when a detector throws, that frame and
 * every following one is blanked until that detector succeeds again; no track vouches for a
 * frame no detector could look at. A still image is one frame, looked at with the finest
 * levels the detectors have (`still`).
 */
export class Redactor {
  readonly stats: RedactionStats = { frames: 0, blanked_frames: 0, detections: {}, hidden_boxes: {}, detector_runs: {}, inputs_looked: 0, inputs_reused: 0, inputs_cropped: 0, cropped_share: 0,
    looked_between: 0, look_between_frames: 0, errors: [] };
  private readonly tracks = new Map<string, TrackBuilder>();
  private readonly caches = new Map<string, RegionCache>();
  private readonly failing = new Set<string>();
  private readonly lastRun = new Map<string, number>();
  /** what each detector kept in its last round (DetectOptions.known) */
  private readonly kept = new Map<string, Box[]>();
  private readonly blanked = new Set<number>();
  /** the frames since the oldest detector's last round (and each one's previous frame, for motion), for looking back */
  private readonly recent = new Map<number, { frame: Frame; prev: Frame | undefined }>();
  /** the last frame looked at, and the one before it (the clip's last frame gets a round of its own) */
  private tail: { frame: Frame; prev: Frame | undefined } | undefined;
  private lastThumb: Uint8Array | undefined;
  private prev: Frame | undefined;
  private looked = 0;
  private planned: Box[][] | undefined;
  private readonly forcedLag = forcedLag(process.env);
  /** the look after hiding's copy of the frame, reused round after round (see recheck) */
  private scratch: ArrayBuffer | undefined;

  constructor(readonly detectors: Detector[], readonly settings: RedactorSettings, private readonly mark: (n: number) => string, private readonly still = false,
    private readonly timer?: StageTimer) {
    for (const d of detectors) {
      this.tracks.set(d.name, new TrackBuilder(settings.every[d.name] ?? 1, settings.hold));
      this.caches.set(d.name, new RegionCache());
    }
  }

  /** Pass 1: frame n, in order from 0. */
  async look(frame: Frame, n: number): Promise<void> {
    this.looked = Math.max(this.looked, n + 1);
    try {
      const t = thumb(frame);
      let scene = false;
      if (this.lastThumb) {
        let s = 0;
        for (let i = 0; i < t.length; i++) s += Math.abs(t[i]! - this.lastThumb[i]!);
        scene = s / t.length > this.settings.sceneChange;
      }
      this.lastThumb = t;
      const prev = scene ? undefined : this.prev;
      this.prev = frame;
      if (scene) this.recent.clear();
      this.tail = { frame, prev };
      if (this.settings.lookBackBytes > 0 && !this.still) this.recent.set(n, this.tail);
      if (scene) for (const d of this.detectors) this.tracks.get(d.name)!.cut(n);
      await this.detectAt(frame, prev, n, scene ? 'cut' : 'due');
      const oldest = Math.min(...this.detectors.map((d) => this.lastRun.get(d.name) ?? n));
      for (const k of this.recent.keys()) if (k < oldest) this.recent.delete(k);
    } catch (err) {
      this.recordError(`frame ${n}: ${(err as Error).message}`);
      this.blanked.add(n);
    }
  }

  /**
   * The frame buffers pass 1 still reads: those kept for looking between rounds (each with the
   * frame before it, for motion), the last frame and the one before it (the clip's last round),
   * and the previous frame (motion at the next round). Nothing else keeps a frame once `look`
   * has returned (a sighting's motion is measured at once, the region cache keeps block
   * statistics, the look after hiding works on its own copy): any other frame handed to `look`
   * may be given back to the decoder and overwritten (the detection thread does:
   * redaction/detection-thread.ts).
   */
  heldFrames(): Set<Buffer> {
    const held = new Set<Buffer>();
    const add = (f: Frame | undefined) => { if (f) held.add(f.data); };
    for (const { frame, prev } of this.recent.values()) { add(frame); add(prev); }
    add(this.tail?.frame); add(this.tail?.prev); add(this.prev);
    return held;
  }

  /**
   * The detectors that are due at frame n (`due`: their k-th frame, or failing), all of them
   * (`cut`: a scene change), or those that did not run on it (`last`: the clip's last frame, so
   * no track ends in boxes carried over a whole round's gap). What they find goes into their
   * tracks; new objects are looked for back to where they entered, objects no longer found
   * forward to where they left.
   */
  private async detectAt(frame: Frame, prev: Frame | undefined, n: number, why: 'due' | 'cut' | 'last'): Promise<void> {
    const ran: Array<{ d: Detector; found: Box[] }> = [];
    for (const d of this.detectors) {
      const last = this.lastRun.get(d.name);
      const due = last === undefined || why === 'cut' || this.failing.has(d.name) || n - last >= this.every(d, frame) || (why === 'last' && last < n);
      if (!due) continue;
      this.lastRun.set(d.name, n);
      bump(this.stats.detector_runs, d.name);
      try {
        const options = { still: this.still, cache: this.settings.skipUnchanged ? this.caches.get(d.name) : undefined, known: why === 'cut' ? undefined : this.kept.get(d.name) };
        const found = await timed(this.timer, `detect ${d.name}`, () => d.detect(frame, options));
        this.kept.set(d.name, found);
        for (const b of found) bump(this.stats.detections, b.cls);
        const { started, lost, uneven } = this.tracks.get(d.name)!.round(n, found.map((box) => this.sighting(prev, frame, n, box)));
        ran.push({ d, found });
        this.failing.delete(d.name);
        // something entered or left since the last round (a cut looks at nothing before it: that was another shot)
        if (started.length + lost.length + uneven.length > 0 && last !== undefined && why !== 'cut' && n - last > 1 && this.recent.has(last + 1)) {
          await timed(this.timer, 'look between rounds', () => this.lookBetween(d, { started, lost, uneven }, last, n));
        }
      } catch (err) {
        this.failing.add(d.name);
        this.recordError(`frame ${n}: ${d.name}: ${(err as Error).message}`);
      }
    }
    if (this.failing.size > 0) { this.blanked.add(n); return; }
    if (ran.some((r) => r.found.some((b) => b.cls === 'face'))) {
      await timed(this.timer, 'look again after hiding', () => this.recheck(frame, prev, n, ran));
    }
  }

  /** Detector d's k: as configured, lowered so the frames between two rounds fit in lookBackBytes. */
  private every(d: Detector, frame: Frame): number {
    const every = this.settings.every[d.name] ?? 1;
    if (this.settings.lookBackBytes <= 0) return every;
    return Math.max(1, Math.min(every, Math.floor(this.settings.lookBackBytes / frame.data.length) - 1));
  }

  /**
   * Where did each new object of this round enter, and where did each object it no longer found
   * leave? The round before (at frame `from`) did not see the new one, so it entered at some
   * frame after `from`; the lost one was last seen at its track's last sighting. The detector
   * looks again near the object in the frames kept since then, halving the gap each time, and
   * each frame it is found in becomes a sighting of its track. So a track starts and ends within
   * a frame or two of where the object appeared and left, and the boxes carried before its first
   * sighting and after its last are carried over a frame or two, not over a whole round's gap.
   * The detector looks at a crop around where the object was (1.5 of its sizes on each side, at
   * the scales it uses on the whole frame), not at the whole frame. A detector that throws here
   * blanks the frames of the gap: no track vouches for them.
   */
  private async lookBetween(d: Detector, tracks: { started: NewTrack[]; lost: LostTrack[]; uneven: UnevenTrack[] }, from: number, n: number): Promise<void> {
    const { started, lost, uneven } = tracks;
    const find = async (m: number, where: Box): Promise<Sighting | undefined> => {
      const kept = this.recent.get(m);
      if (!kept) return undefined;
      intact(kept.frame);
      this.stats.look_between_frames++;
      const found = await this.detectNear(d, kept.frame, where);
      return found.length ? this.sighting(kept.prev, kept.frame, m, union(found)) : undefined;
    };
    // an uneven pair: the middle frame, near where the track would hide it there, then each half
    // that is still uneven, until the sightings agree or are a frame apart
    const split = async (a: Sighting, b: Sighting, add: (s: Sighting) => void): Promise<void> => {
      if (b.n - a.n < 2) return;
      const mid = (a.n + b.n) >> 1, f = (mid - a.n) / (b.n - a.n);
      const line = { ...a.box, x: a.box.x + (b.box.x - a.box.x) * f, y: a.box.y + (b.box.y - a.box.y) * f, w: a.box.w + (b.box.w - a.box.w) * f, h: a.box.h + (b.box.h - a.box.h) * f };
      const s = await find(mid, union([line, moved(a, mid), moved(b, mid)]));
      if (!s) return;
      add(s);
      if (iou(moved(a, mid), s.box) < 0.5) await split(a, s, add);
      if (iou(moved(s, b.n), b.box) < 0.5) await split(s, b, add);
    };
    try {
      for (const t of started) {
        this.stats.looked_between++;
        // found at hi; the first frame it is found in lies in [lo, hi]
        let lo = from + 1, hi = n, nearest = t.sighting;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          const s = await find(mid, moved(nearest, mid));
          if (s) { t.earlier(s); nearest = s; hi = mid; } else lo = mid + 1;
        }
      }
      for (const t of lost) {
        this.stats.looked_between++;
        // found at lo - 1; the last frame it is found in lies in [lo - 1, hi]
        let lo = t.sighting.n + 1, hi = n - 1, nearest = t.sighting;
        while (lo <= hi) {
          const mid = (lo + hi + 1) >> 1;
          const s = await find(mid, moved(nearest, mid));
          if (s) { t.later(s); nearest = s; lo = mid + 1; } else hi = mid - 1;
        }
      }
      for (const t of uneven) {
        this.stats.looked_between++;
        await split(t.before, t.after, t.between);
      }
    } catch (err) {
      this.recordError(`${d.name} (looking between frames ${from} and ${n}): ${(err as Error).message}`);
      for (let m = from + 1; m < n; m++) this.blanked.add(m);
    }
  }

  /**
   * What detector d finds in a crop of `frame` around `where`, in frame pixels: the boxes of that
   * object (the same class, overlapping or close). A large object is looked for in the crop
   * shrunk until its shorter side is 64 px (a face twice the smallest promised, text whose
   * padded box is 64 px tall has capitals of about 15): the detector then looks at a few small
   * inputs instead of the whole frame's finest levels.
   */
  private async detectNear(d: Detector, frame: Frame, where: Box): Promise<Box[]> {
    const margin = 1.5 * Math.max(where.w, where.h);
    const x0 = Math.max(0, Math.floor(where.x - margin)), y0 = Math.max(0, Math.floor(where.y - margin));
    const x1 = Math.min(frame.width, Math.ceil(where.x + where.w + margin)), y1 = Math.min(frame.height, Math.ceil(where.y + where.h + margin));
    if (x1 - x0 < 8 || y1 - y0 < 8) return [];
    const scale = Math.min(1, LOOK_BETWEEN_SIDE / Math.min(where.w, where.h));
    const crop = cropFrame(frame, { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, scale);
    const sx = (x1 - x0) / crop.width, sy = (y1 - y0) / crop.height;
    const found = await d.detect(crop, {});
    return found.map((b) => ({ ...b, x: x0 + b.x * sx, y: y0 + b.y * sy, w: b.w * sx, h: b.h * sy })).filter((b) => b.cls === where.cls && (iou(b, where) > 0.1 || near(b, where)));
  }

  /** An error for the manifest: the first 20 are kept (a failing detector would repeat one per frame). */
  private recordError(message: string): void {
    if (this.stats.errors.length < 20) this.stats.errors.push(message);
  }

  private sighting(prev: Frame | undefined, frame: Frame, n: number, box: Box): Sighting {
    if (prev) intact(prev);
    const motion = () => (prev ? boxMotion(prev, frame, box) : { vx: 0, vy: 0 });
    return { n, box, ...timedSync(this.timer, 'motion', motion) };
  }

  /**
   * After hiding, a face detector looks at the redacted frame again (detection frames where a
   * face was found): hiding a face changes what the network sees around it, and a hand or a hair
   * bun next to it can then score as a face. Only the detector's inputs that overlap a hidden
   * box are looked at (the others saw the same pixels already). What it finds joins its tracks,
   * for `recheckRounds` rounds (1 by default: a second round found nothing more on Megamind.avi).
   * A failure here blanks the frame like any detector failure.
   */
  private async recheck(frame: Frame, prev: Frame | undefined, n: number, ran: Array<{ d: Detector; found: Box[] }>): Promise<void> {
    // one copy reused (a new one a round was 25 MB of garbage a round at 4K); a new Buffer view
    // each time, so nothing keyed on the last round's view (the region cache's WeakMap) sees it
    const bytes = frame.data.length;
    if (this.scratch?.byteLength !== bytes) this.scratch = new ArrayBuffer(bytes);
    const copy: Frame = { width: frame.width, height: frame.height, data: Buffer.from(this.scratch, 0, bytes) };
    frame.data.copy(copy.data);
    let hidden: Box[] = [];
    for (const { d, found } of ran) for (const b of found) hidden.push(padBox(b, this.settings.pad[d.name] ?? 0));
    for (const b of hidden) hide(copy, b, this.settings.method);
    for (let round = 0; round < this.settings.recheckRounds && hidden.length > 0; round++) {
      const more: Box[] = [];
      for (const { d, found } of ran) {
        if (!found.some((b) => b.cls === 'face')) continue;
        const again = await d.detect(copy, { still: this.still, near: hidden });
        for (const b of again) bump(this.stats.detections, `${b.cls}_recheck`);
        this.tracks.get(d.name)!.add(again.map((box) => this.sighting(prev, frame, n, box)));
        for (const b of again) more.push(padBox(b, this.settings.pad[d.name] ?? 0));
      }
      for (const b of more) hide(copy, b, this.settings.method);
      hidden = more;
    }
  }

  /**
   * Between the passes: a last round on the clip's last frame (by the detectors that did not
   * run there), then every frame's boxes, from the whole clip's tracks.
   */
  async plan(): Promise<void> {
    const frames = this.looked;
    const end = this.tail;
    this.tail = undefined;
    if (end && !this.still) {
      try {
        await this.detectAt(end.frame, end.prev, frames - 1, 'last');
      } catch (err) {
        this.recordError(`frame ${frames - 1}: ${(err as Error).message}`);
        this.blanked.add(frames - 1);
      }
    }
    this.recent.clear();
    const all = this.boxesIn(frames, 0, frames);
    let share = 0;
    for (const c of this.caches.values()) {
      this.stats.inputs_looked += c.stats.looked; this.stats.inputs_reused += c.stats.reused; this.stats.inputs_cropped += c.stats.cropped; share += c.stats.croppedShare;
    }
    this.stats.cropped_share = this.stats.inputs_cropped ? Number((share / this.stats.inputs_cropped).toFixed(3)) : 0;
    this.planned = all;
  }

  /** Every detector's boxes (padded) for frames from..to-1 of a clip of `frames` frames, in the order they are hidden. */
  private boxesIn(frames: number, from: number, to: number): Box[][] {
    const all: Box[][] = Array.from({ length: Math.max(0, to - from) }, () => []);
    for (const d of this.detectors) {
      const pad = this.settings.pad[d.name] ?? 0;
      this.tracks.get(d.name)!.boxes(frames, from, to).forEach((bs, i) => { for (const b of bs) all[i]!.push(padBox(b, pad)); });
    }
    return all;
  }

  /**
   * During pass 1: the frames whose boxes and blanking nothing still to come can change (every
   * detector's TrackBuilder.settledBefore; a detector's failure blanks only frames after its
   * last round). Pass 2 may write them before pass 1 ends. `EDGE_NVR_OVERLAP_FORCE_LAG=k` (tests
   * only) claims every frame but the last k instead, which is wrong on purpose: the export's
   * guard must then find the difference and write pass 2 again.
   */
  finalBefore(): number {
    if (this.forcedLag !== undefined) return Math.max(0, this.looked - this.forcedLag);
    let before = this.looked;
    for (const d of this.detectors) before = Math.min(before, this.tracks.get(d.name)!.settledBefore());
    return before;
  }

  /** The final boxes of frames from..finalBefore()-1, and which of them are blank; undefined when none is final yet. */
  settled(from: number): Settled | undefined {
    const to = this.finalBefore();
    if (to <= from) return undefined;
    const blanked: number[] = [];
    for (let n = from; n < to; n++) if (this.blanked.has(n)) blanked.push(n);
    return { from, boxes: this.boxesIn(this.looked, from, to), blanked };
  }

  /** What pass 1 leaves for pass 2 (after `plan`): plain data, so pass 1 can run on the detection thread. */
  passOne(): PassOne {
    if (!this.planned) throw new Error('pass one before plan');
    return { planned: this.planned, blanked: [...this.blanked], stats: this.stats };
  }

  /** Pass 1 done elsewhere (the detection thread, redaction/detection-worker.ts): pass 2 renders from its plan. */
  adopt(done: PassOne): void {
    this.planned = done.planned;
    for (const n of done.blanked) this.blanked.add(n);
    // what pass 2 counted already (frames written beside pass 1) stays
    const { frames, blanked_frames, hidden_boxes, errors } = this.stats;
    Object.assign(this.stats, done.stats, { frames, blanked_frames, hidden_boxes, errors: [...done.stats.errors, ...errors] });
  }

  /** Pass 2 is written again from the start: what it counted goes. */
  forgetRendering(): void {
    this.stats.frames = 0;
    this.stats.blanked_frames = 0;
    this.stats.hidden_boxes = {};
  }

  /** Pass 2: frame n redacted in place, or a blank one. */
  render(frame: Frame, n: number): Frame {
    if (!this.planned) throw new Error('render before plan');
    // a frame pass 1 did not see (the source decoded longer the second time) is not vouched for
    if (n >= this.planned.length) {
      this.stats.frames++;
      this.recordError(`frame ${n}: not seen by the detectors`);
      return this.blank(frame, n);
    }
    return this.draw(frame, n, this.planned[n]!, this.blanked.has(n));
  }

  /** Frame n with `boxes` hidden, the masks and the watermark, or blank: what `render` does with the plan's boxes (pass 2 beside pass 1 gives settled ones). */
  draw(frame: Frame, n: number, boxes: Box[], blank: boolean): Frame {
    this.stats.frames++;
    if (blank) return this.blank(frame, n);
    try {
      for (const b of boxes) {
        hide(frame, b, this.settings.method);
        bump(this.stats.hidden_boxes, b.cls);
      }
      if (this.settings.masks.length) bump(this.stats.hidden_boxes, 'mask', burnMasks(frame, this.settings.masks));
      watermark(frame, this.mark(n));
      return frame;
    } catch (err) {
      this.recordError(`frame ${n}: ${(err as Error).message}`);
      return this.blank(frame, n);
    }
  }

  private blank(frame: Frame, n: number): Frame {
    this.stats.blanked_frames++;
    const b = blankFrame(frame.width, frame.height, frame.format);
    try { watermark(b, this.mark(n)); } catch { /* a blank frame without watermark is still safe */ }
    return b;
  }
}
