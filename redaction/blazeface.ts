import ort from './ort.js';
import { type DetectOptions, type Detector } from './detector.js';
import { iou, type Box, type Frame } from './frame.js';
import { modelPath, readModel } from './models.js';
import { weightedNms } from './nms.js';
import { sessionOptions } from './onnx-detector.js';
import { pyramid, type Input } from './pyramid.js';
import { lookAt } from './region-cache.js';
import { letterbox, TensorScratch, tiles, type Region } from './resample.js';

/** Smallest face (width, frame pixels) hidden in video and in stills: docs/redaction.md "What is hidden". */
export const MIN_FACE = { video: 32, still: 20 } as const;

export interface BlazeFaceOptions {
  /** models/face_detection_back_256x256_barracuda.onnx unless given */
  model?: string;
  /** sigmoid score above which an anchor is a candidate face; low on purpose: a missed face leaks */
  threshold?: number;
  /**
   * A candidate is kept only if the model, shown it again centred and at the size it sees faces
   * best (64 of 256 px), scores it at least `confirm` there, unless it scored `sure` or more
   * (default 1: every candidate is confirmed). Calibrated on faces and non-faces
   * (bench/redact-calibrate.ts, docs/redaction.md): lights at night and textures that score
   * 0.35-0.9 once (upscaled grass at 4K scored up to 0.9) do not score so centred, faces do.
   */
  sure?: number;
  confirm?: number;
  /**
   * Where to look: 'auto' (default), levels of 256 px tiles chosen from the frame size so every
   * face from MIN_FACE up reaches the model at 20 px or more (src/pyramid.ts); a number N is
   * the whole frame plus N-px tiles (0: the whole frame only), as a configured detector tiles.
   */
  tile?: number | 'auto';
  /** smallest face to find in video (frame pixels); stills use MIN_FACE.still */
  minFace?: number;
  /** intra-op threads: 2 by default, without spinning (measured at 720p: 1 thread 14.3 fps, 2 spinning 15.3 fps at 100 ms CPU a frame, 2 idle-waiting 15.9 fps at 72 ms; see sessionOptions) */
  threads?: number;
}

/**
 * The anchor layout of MediaPipe's BlazeFace as exported by keijiro (both the 128 front and the
 * 256 back model): a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 6, 896 in all,
 * anchors at cell centres with unit size. Outputs Identity/Identity_2 are scores and boxes of
 * the first grid, Identity_1/Identity_3 of the second; each box row is
 * [dx, dy, w, h, 6 keypoints x 2], in model-input pixels relative to the anchor.
 */
const GRIDS = [
  { cells: 16, anchors: 2, scores: 'Identity:0', boxes: 'Identity_2:0' },
  { cells: 8, anchors: 6, scores: 'Identity_1:0', boxes: 'Identity_3:0' },
] as const;

/**
 * The back model finds faces 20-160 px wide in its 256 px input (scores 0.5-0.97 for real faces
 * pasted at each size on real backgrounds; below 14 px almost none): levels 2.5 times apart keep
 * every face inside that band on one of them.
 */
export const FACE_BAND = { modelMin: 20, modelMax: 160, factor: 2.5 } as const;

/**
 * Candidates overlapping this much are one face for the second look: the same face seen by two
 * inputs or levels, or again in the next detection round, gets one verdict.
 */
const SAME_PLACE = 0.5;

export class BlazeFace implements Detector {
  readonly name = 'blazeface';
  readonly version: string;
  private readonly scratch = new TensorScratch();
  private constructor(private readonly session: ort.InferenceSession, private readonly size: number,
    private readonly opts: { threshold: number; sure: number; confirm: number; tile: number | 'auto'; minFace: number }, sha: string, file: string) {
    this.version = `${file}@sha256:${sha.slice(0, 16)} threshold=${opts.threshold} sure=${opts.sure} confirm=${opts.confirm} ` +
      (opts.tile === 'auto' ? `min_face=${opts.minFace}/${MIN_FACE.still}(still)` : `tile=${opts.tile}`);
  }

  static async create(options: BlazeFaceOptions = {}): Promise<BlazeFace> {
    const path = options.model ?? modelPath('face_detection_back_256x256_barracuda.onnx');
    const { bytes, sha256 } = readModel(path, 'run scripts/fetch-models');
    const session = await ort.InferenceSession.create(bytes, sessionOptions(options.threads));
    const shape = (session.inputMetadata[0] as { shape?: unknown[] } | undefined)?.shape;
    const size = typeof shape?.[1] === 'number' ? shape[1] : 256;
    return new BlazeFace(session, size, {
      threshold: options.threshold ?? 0.35, sure: options.sure ?? 1, confirm: options.confirm ?? 0.5,
      tile: options.tile ?? 'auto', minFace: options.minFace ?? MIN_FACE.video,
    }, sha256, path.split('/').pop()!);
  }

  /** Where this detector looks in a frame of this size. */
  inputs(width: number, height: number, still = false): Input[] {
    if (this.opts.tile !== 'auto') {
      const whole: Input = { region: { x: 0, y: 0, w: width, h: height }, width: this.size, height: this.size, level: 1 };
      return [whole, ...(this.opts.tile > 0 ? tiles(width, height, this.opts.tile).map((region) => ({ region, width: this.size, height: this.size, level: 0 })) : [])];
    }
    return pyramid(width, height, { minObject: still ? MIN_FACE.still : this.opts.minFace, modelMin: FACE_BAND.modelMin, factor: FACE_BAND.factor,
      maxInput: this.size, finalSide: this.size, fixed: true, align: 1, aspect: 1 });
  }

  async detect(frame: Frame, options: DetectOptions = {}): Promise<Box[]> {
    // Near given boxes (the second look at a redacted frame): one input around each, the box at
    // the size the model sees faces best, where what hiding it changed would show as a face.
    const inputs = options.near
      ? options.near.map((b): Input => ({ region: this.around(frame, b), width: this.size, height: this.size, level: 0 }))
      : this.inputs(frame.width, frame.height, options.still);
    // One verdict per place: overlapping inputs and levels see the same face, and a face kept in
    // the detector's last round (options.known) is not shown to the model centred again.
    const judged: Array<{ box: Box; ok: boolean }> = (options.known ?? []).map((box) => ({ box, ok: true }));
    const found = await lookAt(frame, this.name, inputs, options.still ? undefined : options.cache, async (input) => {
      const candidates = await this.detectRegion(frame, input.region);
      // fixed tiles decode as a configured detector does (tests compare the two); the product path confirms
      if (this.opts.tile !== 'auto') return candidates;
      const kept: Box[] = [];
      for (const c of weightedNms(candidates, 0.3)) {
        if (c.score >= this.opts.sure) { kept.push(c); continue; }
        let verdict = judged.find((j) => iou(j.box, c) >= SAME_PLACE);
        if (!verdict) judged.push(verdict = { box: c, ok: await this.confirmed(frame, c) });
        if (verdict.ok) kept.push(c);
      }
      return kept;
    });
    return weightedNms(found, 0.3);
  }

  /**
   * The second look at an unsure candidate: a 256 px input around it, the candidate 64 px wide
   * there (centred, or shifted to stay inside the frame); the best score of a face overlapping
   * it, 0 if none. A frame too small for that input (a face crop) has nothing more to show: 1.
   */
  async confirmScore(frame: Frame, c: Box): Promise<number> {
    const side = Math.max(c.w, c.h) * (this.size / 64);
    if (side > frame.width || side > frame.height) return 1;
    const again = await this.detectRegion(frame, this.around(frame, c));
    return Math.max(0, ...again.filter((b) => iou(b, c) > 0.3).map((b) => b.score));
  }

  /** The square around `c` where it is 64 of 256 px wide (centred, or shifted to stay inside; cut to the frame where larger). */
  private around(frame: Frame, c: Box): Region {
    const side = Math.max(c.w, c.h) * (this.size / 64);
    const w = Math.min(side, frame.width), h = Math.min(side, frame.height);
    const inside = (v: number, len: number, span: number) => Math.max(0, Math.min(len - span, v));
    return { x: inside(c.x + c.w / 2 - w / 2, frame.width, w), y: inside(c.y + c.h / 2 - h / 2, frame.height, h), w, h };
  }

  private async confirmed(frame: Frame, c: Box): Promise<boolean> {
    return (await this.confirmScore(frame, c)) >= this.opts.confirm;
  }

  async detectRegion(frame: Frame, region: Region): Promise<Box[]> {
    const size = this.size;
    // The model takes RGB in [-1, 1]; letterbox padding is mid grey.
    const { tensor, scaleX: scale } = letterbox(frame, region, { width: size, height: size, layout: 'nhwc', norm: (v) => v / 127.5 - 1, pad: [0, 0, 0] }, this.scratch);
    const input = new ort.Tensor('float32', tensor, [1, size, size, 3]);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run({ [this.session.inputNames[0]!]: input });
    } finally {
      this.scratch.give(tensor);
    }
    const boxes: Box[] = [];
    const logit = Math.log(this.opts.threshold / (1 - this.opts.threshold));
    for (const g of GRIDS) {
      const scores = out[g.scores]!.data as Float32Array;
      const regs = out[g.boxes]!.data as Float32Array;
      for (let i = 0; i < scores.length; i++) {
        if (scores[i]! < logit) continue;
        const cell = Math.floor(i / g.anchors);
        const ax = ((cell % g.cells) + 0.5) / g.cells;
        const ay = (Math.floor(cell / g.cells) + 0.5) / g.cells;
        const cx = (ax + regs[i * 16]! / size) * size;
        const cy = (ay + regs[i * 16 + 1]! / size) * size;
        const w = regs[i * 16 + 2]!;
        const h = regs[i * 16 + 3]!;
        if (!(w > 0 && h > 0)) continue;
        boxes.push({
          x: (cx - w / 2) / scale + region.x, y: (cy - h / 2) / scale + region.y, w: w / scale, h: h / scale,
          cls: 'face', score: 1 / (1 + Math.exp(-scores[i]!)),
        });
      }
    }
    return boxes;
  }
}
