/**
 * What a camera's picture says about its view, against a reference of its normal view. Pure
 * functions on small grayscale images (see docs/tamper.md for the reasoning):
 *
 * - the picture is cut into cells (8 x 6 on a ~160 px wide copy); a cell is *informative* when
 *   the reference has texture there, and each informative cell is, now, one of
 *   - matching: its edges correlate with the reference's (normalised cross-correlation of the
 *     gradient magnitude, with 1 px of slack for a swaying pole): invariant to brightness and
 *     contrast, so lights dimmed or switched and an IR switch to monochrome stay matching;
 *   - dead: its edges are gone (a hand, tape, a cap), or their contrast fell far more than the
 *     cell's brightness did (a veil of paint or dirt: the scene may still show through, faint,
 *     where dimmed lights lower brightness and contrast together);
 *   - foreign: it has texture, but not the reference's (the camera looks elsewhere, or
 *     something stands right in front of it);
 * - sharpness is the ratio of edge energy at a medium scale (~240 px wide) to edge energy at a
 *   coarse one (~80 px), per pixel: defocus takes the detail and leaves the layout, so the
 *   ratio falls toward 1 while the layout (a ~16 px wide thumbnail) still correlates with the
 *   reference's. Full resolution is left out: sensor noise lives there, and a noisy defocused
 *   camera would look sharp;
 * - a view that lost its cells is covered, not moved, when even its large-scale structure is
 *   gone (the spread of a 16 px wide thumbnail collapsed): noise on a capped lens has texture,
 *   but no layout;
 * - two consecutive samples that differ nowhere by more than an encoder's requantisation (no
 *   8 px tile changes by more than ~15 grey levels) are static: a moving scene or a ticking
 *   clock overlay always changes somewhere. A scene where truly nothing moves and no overlay
 *   ticks is static too: that is why frozen needs persistence like every other kind.
 */
import { growMask, polygonSpans, type MaskShape } from '../common/mask-geometry.js';
import { cellCorrelation, cellGrid, cellMeans, gradientMagnitude, maxBlockDifference, mean, medianImage, shrink, stats, toGray, type CellGrid, type Gray, type GrayBytes, type Scratch } from './tamper-image.js';

export const COARSE_WIDTH = 160;
const COLS = 8;
const ROWS = 6;
/** below this correlation with the reference a cell does not match */
const MATCH_R = 0.45;
/** a cell keeping less than this share of its reference edge energy is dead */
const DEAD_ENERGY = 0.08;
/** a cell whose contrast fell below this share of what its brightness change explains is veiled: dead */
const DEAD_CONTRAST = 0.3;
/** brightness below this (grey levels) counts as this, so a black cell does not divide by nothing */
const DARK = 8;
/** a layout spread below this share of the reference's is a uniform picture */
const UNIFORM = 0.3;
/** the layout correlates at least this well with the reference's: the camera still looks where it did */
const LAYOUT_MATCH = 0.6;
/** at most this share of cells still matching, with the fine detail gone: covered, not moved */
const BLANK_MATCHING = 0.1;
/** a capture mask grown by this share of the frame: the edge along it, and a camera's rounding */
const PAINT_MARGIN = 0.02;
/** small enough that one digit of a clock overlay changing fills much of a tile */
const FROZEN_TILE = 8;

export type Sensitivity = 'low' | 'medium' | 'high';

export const THRESHOLDS: Record<Sensitivity, { mismatch: number; blur: number; frozen: number }> = {
  // mismatch: share of informative cells dead or foreign; blur: share of the reference's fine
  // detail lost; frozen: largest 8 px tile difference (grey levels) still called static. An
  // encoder re-encoding one stuck picture varies its quantisation (measured: tiles up to 10
  // levels apart); one digit of a clock overlay changing moves its tile by 40-60.
  low: { mismatch: 0.8, blur: 0.7, frozen: 10 },
  medium: { mismatch: 0.65, blur: 0.55, frozen: 15 },
  high: { mismatch: 0.5, blur: 0.4, frozen: 20 },
};

/** One sampled picture, reduced to what the analysis needs. */
export interface ViewSample {
  atMs: number;
  fine: Gray;
  coarse: Gray;
  /** edge energy at full resolution over that of the coarse copy (per fine pixel) */
  sharpness: number;
}

/**
 * `into`: where the full-size grey picture may be written (it is `fine` then: copy it to keep it
 * past the next call); `scratch`: where the smaller pictures are made, the coarse one included (the
 * sample is then valid until the scratch's next use: copy what is kept).
 */
export function describeFrame(frame: { width: number; height: number; data: Uint8Array; channels?: 1 | 3 }, atMs: number, into?: Float32Array, scratch?: Scratch): ViewSample {
  const fine = toGray(frame.data, frame.width, frame.height, into, frame.channels);
  const factor = Math.max(1, Math.round(fine.width / COARSE_WIDTH));
  const coarse = shrink(fine, factor, scratch?.get('coarse', Math.floor(fine.width / factor) * Math.floor(fine.height / factor)));
  // edge energy per full-resolution pixel at two scales
  const energyAt = (width: number) => {
    const k = Math.max(1, Math.round(fine.width / width));
    const n = Math.floor(fine.width / k) * Math.floor(fine.height / k);
    const small = shrink(fine, k, scratch?.get(`shrink${width}`, n));
    return mean(gradientMagnitude(small, scratch?.get(`gradient${width}`, small.width * small.height)).data) / k;
  };
  return { atMs, fine, coarse, sharpness: energyAt(240) / Math.max(energyAt(80), 0.02) };
}

/** The picture's large-scale layout: a ~16 px wide thumbnail. */
function thumbnail(coarse: Gray, scratch?: Scratch): Gray {
  const k = Math.max(1, Math.round(coarse.width / 16));
  return shrink(coarse, k, scratch?.get('thumbnail', Math.floor(coarse.width / k) * Math.floor(coarse.height / k)));
}

/** The normal view, as stored in the catalog (JSON). */
export interface ViewReference {
  version: 1;
  width: number;
  height: number;
  /** median coarse picture, grey levels rounded, row-major, base64 of bytes */
  coarse: string;
  sharpness: number;
  samples: number;
  learned_from_ms: number;
  learned_to_ms: number;
}

/** A reference with what every comparison needs computed once. */
export interface PreparedReference {
  ref: ViewReference;
  coarse: Gray;
  grad: Gray;
  grid: CellGrid;
  energy: Float32Array;
  brightness: Float32Array;
  informative: boolean[];
  thumb: Gray;
  /** the thumbnail's painted pixels (capture masks); null without masks */
  thumbPaint: Uint8Array | null;
  /** the cells a capture mask touches: never informative */
  painted: boolean[];
  spread: number;
}

/** What learning keeps of a sample (not the full-size picture; the coarse one may be kept as bytes). */
export interface LearnSample {
  atMs: number;
  coarse: Gray | GrayBytes;
  sharpness: number;
}

/** The per-pixel median of the samples (people who walk through are not in it) and their median sharpness. */
export function learnReference(samples: LearnSample[]): ViewReference {
  if (samples.length === 0) throw new Error('no samples to learn a reference from');
  const w = samples[0]!.coarse.width, h = samples[0]!.coarse.height;
  const same = samples.filter((s) => s.coarse.width === w && s.coarse.height === h);
  const median = medianImage(same.map((s) => s.coarse));
  const bytes = Buffer.alloc(w * h);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round(median.data[i]!)));
  const sharp = same.map((s) => s.sharpness).sort((a, b) => a - b);
  return {
    version: 1, width: w, height: h, coarse: bytes.toString('base64'), sharpness: sharp[sharp.length >> 1]!, samples: same.length,
    learned_from_ms: same[0]!.atMs, learned_to_ms: same[same.length - 1]!.atMs,
  };
}

/**
 * The cells a capture mask paints over (the box's or the camera's own, grown by a little for a
 * camera that rounds it to its grid): the painted area is one flat colour in every picture, so
 * the edges along it match the reference whatever covers the lens. A hand over a masked camera
 * left a third of its cells "matching" and raised nothing.
 */
function paintedCells(grid: CellGrid, width: number, height: number, painted: readonly MaskShape[]): boolean[] {
  const paint = paintedPixels(width, height, painted);
  return grid.bounds.map((b) => {
    for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) if (paint[y * width + x]) return true;
    return false;
  });
}

/** 1 where a capture mask (grown by PAINT_MARGIN) touches the pixel. */
function paintedPixels(width: number, height: number, painted: readonly MaskShape[]): Uint8Array {
  const paint = new Uint8Array(width * height);
  for (const m of painted) polygonSpans(growMask(m, PAINT_MARGIN), width, height, (y, x0, x1) => paint.fill(1, y * width + x0, y * width + x1), 'touched');
  return paint;
}

/** The spread of a thumbnail's grey levels where nothing is painted: the flat mask and its edge make a layout of their own. */
function spreadOf(thumb: Gray, paint: Uint8Array | null): number {
  if (!paint) return stats(thumb.data).std;
  let n = 0, sum = 0, squares = 0;
  for (let i = 0; i < thumb.data.length; i++) {
    if (paint[i]) continue;
    n++;
    sum += thumb.data[i]!;
    squares += thumb.data[i]! ** 2;
  }
  return n ? Math.sqrt(Math.max(0, squares / n - (sum / n) ** 2)) : 0;
}

export function prepareReference(ref: ViewReference, painted: readonly MaskShape[] = []): PreparedReference {
  const bytes = Buffer.from(ref.coarse, 'base64');
  if (bytes.length !== ref.width * ref.height) throw new Error(`view reference: ${bytes.length} bytes for ${ref.width}x${ref.height}`);
  const coarse: Gray = { width: ref.width, height: ref.height, data: Float32Array.from(bytes) };
  const grad = gradientMagnitude(coarse);
  const grid = cellGrid(ref.width, ref.height, COLS, ROWS);
  const energy = cellMeans(grad, grid);
  const sorted = [...energy].sort((a, b) => a - b);
  const typical = sorted[sorted.length >> 1]!;
  // cells with little texture in the normal view (sky, a white wall) cannot tell anything
  const covered = paintedCells(grid, ref.width, ref.height, painted);
  const informative = [...energy].map((e, i) => e >= Math.max(0.5, typical * 0.3) && !covered[i]);
  const thumb = thumbnail(coarse);
  const thumbPaint = painted.length ? paintedPixels(thumb.width, thumb.height, painted) : null;
  return { ref, coarse, grad, grid, energy, brightness: cellMeans(coarse, grid), informative, thumb, thumbPaint, painted: covered, spread: spreadOf(thumb, thumbPaint) };
}

export interface ViewComparison {
  /** informative cells of the reference */
  cells: number;
  dead: number;
  foreign: number;
  matching: number;
  /** 0..1: how far the sharpness fell toward none (1 = all fine detail gone) */
  blur: number;
  sharpness: number;
  /** the layout's spread against the reference's (near 0: a uniform picture) */
  layout: number;
  /** correlation of the layout (thumbnails) with the reference's: high while the camera looks where it did */
  layoutMatch: number;
}

/** `scratch`: where the pictures used only inside are made. */
export function compare(p: PreparedReference, s: ViewSample, scratch?: Scratch): ViewComparison {
  const coarse = s.coarse.width === p.ref.width && s.coarse.height === p.ref.height ? s.coarse : resize(s.coarse, p.ref.width, p.ref.height);
  const grad = gradientMagnitude(coarse, scratch?.get('gradient', coarse.width * coarse.height));
  const energy = cellMeans(grad, p.grid);
  const brightness = cellMeans(coarse, p.grid);
  let cells = 0, dead = 0, foreign = 0, matching = 0;
  p.grid.bounds.forEach((b, i) => {
    if (!p.informative[i]) return;
    cells++;
    const kept = energy[i]! / p.energy[i]!;
    const lit = Math.max(DARK, brightness[i]!) / Math.max(DARK, p.brightness[i]!);
    if (kept < DEAD_ENERGY || kept / lit < DEAD_CONTRAST) dead++;
    else if (cellCorrelation(p.grad, grad, b, 1) >= MATCH_R) matching++;
    else foreign++;
  });
  const excess = Math.max(0.05, p.ref.sharpness - 1);
  const blur = Math.max(0, Math.min(1, 1 - (s.sharpness - 1) / excess));
  const thumb = thumbnail(coarse, scratch);
  const whole = { x0: 0, x1: thumb.width, y0: 0, y1: thumb.height };
  return {
    cells, dead, foreign, matching, blur, sharpness: s.sharpness,
    layout: spreadOf(thumb, p.thumbPaint?.length === thumb.data.length ? p.thumbPaint : null) / Math.max(p.spread, 1), layoutMatch: cellCorrelation(p.thumb, thumb, whole, 1),
  };
}

/** The largest change between two consecutive samples' full-size grey pictures, in grey levels per 8 px tile (the previous one may be kept as bytes). */
export function change(prev: Gray | GrayBytes, cur: Gray): number {
  if (prev.width !== cur.width || prev.height !== cur.height) return Infinity;
  return maxBlockDifference(prev, cur, FROZEN_TILE);
}

export type ViewKind = 'covered' | 'defocused' | 'moved';

/**
 * What a comparison points to, if anything, with a score (0..1, how far past its threshold
 * toward certain). Covered and defocused both lose detail: defocused when the layout still
 * matches, covered when it does not.
 */
export function classify(c: ViewComparison, sensitivity: Sensitivity): { kind: ViewKind; score: number } | null {
  if (c.cells === 0) return null;
  const t = THRESHOLDS[sensitivity];
  const dead = c.dead / c.cells, mismatch = (c.dead + c.foreign) / c.cells;
  if (dead >= t.mismatch) return { kind: 'covered', score: round(dead) };
  // detail gone while the layout and the cells' coarse structure stay where they were: the lens,
  // not the scene (a blurred lens keeps nearly every cell matching; a hand's shading over the lens
  // matched the layout of one scene while almost no cell did)
  if (c.blur >= t.blur && c.layoutMatch >= LAYOUT_MATCH && c.layout >= UNIFORM && mismatch < t.mismatch) return { kind: 'defocused', score: round(c.blur) };
  if (mismatch < t.mismatch) return null;
  // next to no cell where it was and the fine detail gone too: something over the lens (a hand,
  // faintly textured and shaded, left cells "foreign", not dead, and read as a turned camera)
  const blank = c.matching <= BLANK_MATCHING * c.cells && c.blur >= t.blur;
  return { kind: c.dead >= c.foreign || c.layout < UNIFORM || blank ? 'covered' : 'moved', score: round(mismatch) };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** Nearest-neighbour resize of a coarse picture (a stream whose size changed against its reference). */
function resize(g: Gray, width: number, height: number): Gray {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(g.height - 1, Math.floor((y * g.height) / height));
    for (let x = 0; x < width; x++) data[y * width + x] = g.data[sy * g.width + Math.min(g.width - 1, Math.floor((x * g.width) / width))]!;
  }
  return { width, height, data };
}

export { shrink };
