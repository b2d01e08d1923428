import type { Region } from './resample.js';

/**
 * Where a detector looks, chosen from the frame size so that every object of the promised size
 * reaches the model at a size it finds. A model finds objects within a band of sizes in its own
 * input (BlazeFace: faces of 20-160 px in 256; DBNet: characters 7-40 px tall); the frame is
 * looked at on levels of scale, the finest making the smallest promised object `modelMin` in
 * the model, each next one `factor` times coarser, down to the whole frame in one input. On each
 * level the frame is cut into inputs no larger than `maxInput`, overlapping by more than the
 * largest object that level is responsible for, so that object lies whole inside one input.
 * Landscape, portrait, 4:3 and odd sizes are all the same arithmetic.
 */
export interface PyramidSpec {
  /** smallest object to find, in frame pixels (a face's width, a character's height) */
  minObject: number;
  /** smallest object the model finds reliably, in model pixels */
  modelMin: number;
  /** scale between levels; below modelMax / modelMin so that the levels' bands overlap */
  factor: number;
  /** largest input edge in model pixels */
  maxInput: number;
  /** the last level: the whole frame with its longer side at most this (fixed models: maxInput) */
  finalSide: number;
  /** every input exactly maxInput x maxInput (models with a fixed input size) */
  fixed: boolean;
  /** input sides rounded up to a multiple of this (DBNet: 32) */
  align: number;
  /** object extent across its size (text: a line of characters is about 7 times wider than tall) */
  aspect: number;
  /** never sample finer than the frame's own pixels (scale at most 1) */
  maxScale?: number;
}

export interface Input {
  /** the part of the frame, in frame pixels */
  region: Region;
  /** the model input it is sampled into (letterboxed: aspect kept, padding right and bottom) */
  width: number;
  height: number;
  /** index of the level; 0 is the finest */
  level: number;
  /**
   * How far, in frame pixels, an object this level answers for reaches from any of its pixels
   * (the overlap between its inputs): unset on the coarsest level, which answers for every
   * larger object.
   */
  reach?: { x: number; y: number };
}

const roundUp = (v: number, to: number) => Math.ceil(v / to) * to;

/** Starts of `n` spans of length `span` covering [0, len], evenly spread, first at 0 and last at len - span. */
function starts(len: number, span: number, overlap: number): number[] {
  if (span >= len) return [0];
  const n = Math.ceil((len - overlap) / (span - overlap));
  return Array.from({ length: n }, (_, i) => Math.round((i * (len - span)) / (n - 1)));
}

export function pyramid(width: number, height: number, spec: PyramidSpec): Input[] {
  const out: Input[] = [];
  let scale = Math.min(spec.maxScale ?? 1, spec.modelMin / spec.minObject);
  for (let level = 0; ; level++) {
    const sw = width * scale, sh = height * scale;
    if (sw <= spec.finalSide && sh <= spec.finalSide) {
      // the whole frame in one small input: the coarsest look, for the largest objects
      const w = spec.fixed ? spec.maxInput : roundUp(Math.max(spec.align, sw), spec.align);
      const h = spec.fixed ? spec.maxInput : roundUp(Math.max(spec.align, sh), spec.align);
      out.push({ region: { x: 0, y: 0, w: width, h: height }, width: w, height: h, level });
      return out;
    }
    // This level is responsible for objects up to the next level's smallest (modelMin * factor
    // here), a margin on top: such an object lies whole in at least one input.
    const reach = spec.modelMin * spec.factor * 1.2;
    const overlapX = Math.min(spec.maxInput / 2, reach * spec.aspect), overlapY = Math.min(spec.maxInput / 2, reach);
    const tileW = spec.fixed ? spec.maxInput : inputSpan(sw, spec.maxInput, overlapX, spec.align);
    const tileH = spec.fixed ? spec.maxInput : inputSpan(sh, spec.maxInput, overlapY, spec.align);
    // regions in frame pixels; an edge shorter than a tile is taken whole (letterbox pads it)
    const rw = Math.min(width, tileW / scale), rh = Math.min(height, tileH / scale);
    for (const y of starts(height, rh, overlapY / scale)) {
      for (const x of starts(width, rw, overlapX / scale)) {
        out.push({ region: { x, y, w: rw, h: rh }, width: tileW, height: tileH, level, reach: { x: overlapX / scale, y: overlapY / scale } });
      }
    }
    scale /= spec.factor;
  }
}

/**
 * The input edge for a level `len` model pixels long: the whole length when it fits in
 * maxInput, else the least number of equal inputs that cover it with the overlap. Equal
 * inputs keep one tensor shape per frame size (onnxruntime plans a shape once).
 */
function inputSpan(len: number, maxInput: number, overlap: number, align: number): number {
  if (len <= maxInput) return roundUp(len, align);
  const n = Math.ceil((len - overlap) / (maxInput - overlap));
  return Math.min(maxInput, roundUp((len + (n - 1) * overlap) / n, align));
}

/** The smallest model-pixel size of `minObject` over all inputs (for tests and manifests). */
export function levelScales(inputs: Input[]): number[] {
  const scales: number[] = [];
  for (const i of inputs) scales[i.level] = Math.min(i.width / i.region.w, i.height / i.region.h);
  return scales;
}
