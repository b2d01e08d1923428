import { basename } from 'node:path';
import ort from './ort.js';
import { inputsNear, type DetectOptions, type Detector } from './detector.js';
import type { Box, Frame } from './frame.js';
import { readModel, textModel } from './models.js';
import { heatmapBoxes, sessionOptions } from './onnx-detector.js';
import { pyramid, type Input } from './pyramid.js';
import { lookAt } from './region-cache.js';
import { letterbox, TensorScratch, type Region } from './resample.js';

/** Smallest text hidden, as the height of its capital letters and digits in frame pixels: docs/redaction.md "What is hidden". */
export const MIN_TEXT = { video: 12, still: 8 } as const;

/**
 * DBNet finds characters 7-40 px tall in its input (every one of 20 rendered plates at 7 px caps
 * on real backgrounds, 17 of 20 at 6 px; above 40 px its regions stop covering the whole line):
 * levels 3 times apart, the finest putting the smallest promised text at 8 px.
 */
export const TEXT_BAND = { modelMin: 8, modelMax: 40, factor: 3 } as const;

export interface TextDetectorOptions {
  /** a model file; unless given, the pinned one EDGE_NVR_TEXT_MODEL names (models.ts textModel: the folded model by default) */
  model?: string;
  /** DBNet probability above which a pixel is text */
  threshold?: number;
  /** mean probability over a region below which it is not kept (PaddleOCR's box_thresh): textures score low, lettering high */
  boxThreshold?: number;
  /** smallest text to find in video, capital height in frame pixels; stills use MIN_TEXT.still */
  minText?: number;
  /** largest input edge (a multiple of 32): larger levels are cut into overlapping inputs */
  maxInput?: number;
  /** padding on each side, in box heights: DBNet's map is the text shrunk by about that much */
  pad?: number;
  threads?: number;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** DBNet's input for `region` letterboxed into width x height: NCHW, ImageNet-normalised (also what bench/calibrate-int8.ts calibrates with). */
export function textInput(frame: Frame, region: Region, width: number, height: number, scratch?: TensorScratch): { tensor: Float32Array; scale: number } {
  const { tensor, scaleX } = letterbox(frame, region, { width, height, layout: 'nchw', norm: (v, c) => (v / 255 - MEAN[c]!) / STD[c]!, pad: [0, 0, 0] }, scratch);
  return { tensor, scale: scaleX };
}

/**
 * Plates and other identifying text: PP-OCRv4's text detector (DBNet). Its output is a per-pixel
 * text probability; connected regions above the threshold become boxes. It finds text of any
 * script, so Chinese plates, shop signs and name tags are covered by one model. The frame is
 * looked at on levels chosen from its size (redaction/pyramid.ts), so characters reach the
 * model at the size it finds them whatever the frame's size or orientation.
 */
export class TextDetector implements Detector {
  readonly name = 'ppocr-det';
  readonly version: string;
  private readonly scratch = new TensorScratch();
  private constructor(private readonly session: ort.InferenceSession, private readonly opts: Required<Omit<TextDetectorOptions, 'model' | 'threads'>>, sha: string, file: string) {
    this.version = `${file}@sha256:${sha.slice(0, 16)} threshold=${opts.threshold} box_threshold=${opts.boxThreshold} min_text=${opts.minText}/${MIN_TEXT.still}(still) max_input=${opts.maxInput} pad=${opts.pad}`;
  }

  static async create(options: TextDetectorOptions = {}): Promise<TextDetector> {
    const { path, hint } = options.model ? { path: options.model, hint: 'the model given' } : textModel();
    const { bytes, sha256 } = readModel(path, hint);
    const session = await ort.InferenceSession.create(bytes, sessionOptions(options.threads));
    return new TextDetector(session, { threshold: options.threshold ?? 0.3, boxThreshold: options.boxThreshold ?? 0, minText: options.minText ?? MIN_TEXT.video, maxInput: options.maxInput ?? 1280,
      pad: options.pad ?? 1 }, sha256, basename(path));
  }

  /** Where this detector looks in a frame of this size. */
  inputs(width: number, height: number, still = false): Input[] {
    return pyramid(width, height, { minObject: still ? MIN_TEXT.still : this.opts.minText, modelMin: TEXT_BAND.modelMin, factor: TEXT_BAND.factor,
      maxInput: this.opts.maxInput, finalSide: 320, fixed: false, align: 32, aspect: 7 });
  }

  async detect(frame: Frame, options: DetectOptions = {}): Promise<Box[]> {
    const inputs = inputsNear(this.inputs(frame.width, frame.height, options.still), options.near);
    return lookAt(frame, this.name, inputs, options.still ? undefined : options.cache, (i) => this.detectRegion(frame, i.region, i.width, i.height),
      (i) => (i.reach ? { reach: i.reach, look: (part) => this.detectPart(frame, i, part) } : undefined));
  }

  /**
   * `part` of input i at i's scale: widened to whole multiples of 32 model pixels about its
   * centre, inside i's region (so the model sees it as it sees the whole input).
   */
  private detectPart(frame: Frame, i: Input, part: Region): Promise<Box[]> {
    const r = i.region, scale = Math.min(i.width / r.w, i.height / r.h);
    const width = Math.ceil((part.w * scale) / 32) * 32, height = Math.ceil((part.h * scale) / 32) * 32;
    const w = Math.min(r.w, width / scale), h = Math.min(r.h, height / scale);
    const inside = (v: number, lo: number, len: number, span: number) => Math.max(lo, Math.min(lo + len - span, v));
    const region = { x: inside(part.x - (w - part.w) / 2, r.x, r.w, w), y: inside(part.y - (h - part.h) / 2, r.y, r.h, h), w, h };
    return this.detectRegion(frame, region, width, height);
  }

  /** One input: `region` letterboxed into width x height (multiples of 32). */
  async detectRegion(frame: Frame, region: Region, width: number, height: number): Promise<Box[]> {
    const { tensor, scale } = textInput(frame, region, width, height, this.scratch);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', tensor, [1, 3, height, width]) });
    } finally {
      this.scratch.give(tensor);
    }
    const prob = out[this.session.outputNames[0]!]!.data as Float32Array;
    return heatmapBoxes(prob, width, height, this.opts.threshold, 6, this.opts.pad)
      .filter((b) => b.score >= this.opts.boxThreshold)
      .map((b) => ({ x: b.x / scale + region.x, y: b.y / scale + region.y, w: b.w / scale, h: b.h / scale, cls: 'text', score: b.score }));
  }
}
