import type { Frame } from './frame.js';

export interface Region { x: number; y: number; w: number; h: number }

export interface SampleSpec {
  width: number;
  height: number;
  layout: 'nhwc' | 'nchw';
  /** pixel value (0-255) of tensor channel `channel` to tensor value */
  norm: (v: number, channel: number) => number;
  /** tensor value of padding, per channel */
  pad: number[];
  /** fill the whole input (aspect lost) instead of letterboxing */
  stretch?: boolean;
  /** tensor channel 0 is blue */
  bgr?: boolean;
}

/**
 * One detector's input tensor, reused from one inference to the next: a new one each time was
 * garbage the collector took late (at 4K, 8 text inputs of up to 19.7 MB and about 100 face
 * inputs of 0.8 MB a round). `take` hands the array out until `give` takes it back; asked again
 * meanwhile (two inferences at once), it hands out a new one, so an array is never written while
 * an inference reads it.
 */
export class TensorScratch {
  private array: Float32Array | undefined;
  private out = false;

  /** `n` values: the kept array (grown to the largest size asked) or, while it is out, a new one. */
  take(n: number): Float32Array {
    if (this.out) return new Float32Array(n);
    this.out = true;
    if (!this.array || this.array.length < n) this.array = new Float32Array(n);
    return this.array.subarray(0, n);
  }

  /** `tensor` is read no more (its inference returned). */
  give(tensor: Float32Array): void {
    if (tensor.buffer === this.array?.buffer) this.out = false;
  }
}

/**
 * Samples `region` of a frame into a width x height x 3 float tensor, bilinear: letterboxed
 * (aspect kept, placed top left, the rest padding) or stretched. Returns the scales (model pixels
 * per frame pixel), so that boxes map back with x / scaleX + region.x.
 */
export function letterbox(frame: Frame, region: Region, spec: SampleSpec, scratch?: TensorScratch): { tensor: Float32Array; scaleX: number; scaleY: number } {
  const { width: W, height: H, layout, norm, pad } = spec;
  const fit = Math.min(W / region.w, H / region.h);
  const scaleX = spec.stretch ? W / region.w : fit, scaleY = spec.stretch ? H / region.h : fit;
  // every value is written below (the picture, then padding wherever it does not reach), so a
  // reused array gives what a new, zeroed one gives
  const tensor = scratch ? scratch.take(W * H * 3) : new Float32Array(W * H * 3);
  const plane = W * H;
  const outW = Math.min(W, Math.round(region.w * scaleX));
  const outH = Math.min(H, Math.round(region.h * scaleY));
  const { width, height, data } = frame;
  // Tables instead of per-sample work: the normalisation (3 x 256 values) and, per output
  // column, the two source offsets and the weight. This runs for every tile of every frame,
  // so the three channels are written out by hand (measured: a channel loop cost a third more).
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = norm(v, c);
  const s0 = spec.bgr ? 2 : 0, s2 = spec.bgr ? 0 : 2;
  const cx0 = new Int32Array(outW), cx1 = new Int32Array(outW), cfx = new Float32Array(outW);
  for (let x = 0; x < outW; x++) {
    const sx = region.x + (x + 0.5) / scaleX - 0.5;
    const x0 = Math.max(0, Math.min(width - 1, Math.floor(sx)));
    cx0[x] = x0 * 3; cx1[x] = Math.min(width - 1, x0 + 1) * 3; cfx[x] = Math.max(0, Math.min(1, sx - x0));
  }
  // strides: where channel c of output pixel o goes
  const po = layout === 'nhwc' ? 3 : 1, pc = layout === 'nhwc' ? 1 : plane;
  const p0 = pad[0]!, p1 = pad[1]!, p2 = pad[2]!;
  // padding only where the picture does not reach (a tile has none)
  for (let y = 0; y < H; y++) {
    for (let x = y < outH ? outW : 0; x < W; x++) {
      const o = (y * W + x) * po;
      tensor[o] = p0; tensor[o + pc] = p1; tensor[o + 2 * pc] = p2;
    }
  }
  for (let y = 0; y < outH; y++) {
    const sy = region.y + (y + 0.5) / scaleY - 0.5;
    const y0 = Math.max(0, Math.min(height - 1, Math.floor(sy)));
    const r0 = y0 * width * 3, r1 = Math.min(height - 1, y0 + 1) * width * 3;
    const fy = Math.max(0, Math.min(1, sy - y0));
    for (let x = 0; x < outW; x++) {
      const o = (y * W + x) * po;
      const fx = cfx[x]!, a = r0 + cx0[x]!, b = r0 + cx1[x]!, d = r1 + cx0[x]!, e = r1 + cx1[x]!;
      let top = data[a + s0]! + (data[b + s0]! - data[a + s0]!) * fx;
      let bot = data[d + s0]! + (data[e + s0]! - data[d + s0]!) * fx;
      tensor[o] = lut[(top + (bot - top) * fy + 0.5) | 0]!;
      top = data[a + 1]! + (data[b + 1]! - data[a + 1]!) * fx;
      bot = data[d + 1]! + (data[e + 1]! - data[d + 1]!) * fx;
      tensor[o + pc] = lut[256 + ((top + (bot - top) * fy + 0.5) | 0)]!;
      top = data[a + s2]! + (data[b + s2]! - data[a + s2]!) * fx;
      bot = data[d + s2]! + (data[e + s2]! - data[d + s2]!) * fx;
      tensor[o + 2 * pc] = lut[512 + ((top + (bot - top) * fy + 0.5) | 0)]!;
    }
  }
  return { tensor, scaleX, scaleY };
}

/**
 * `region` of a frame (whole pixels) as a frame of its own, `scale` times its size (at most 1:
 * bilinear, like the detectors' own sampling of their coarser levels).
 */
export function cropFrame(frame: Frame, region: Region, scale = 1): Frame {
  const { x, y, w, h } = region;
  if (scale >= 1) {
    const data = Buffer.allocUnsafe(w * h * 3);
    for (let r = 0; r < h; r++) frame.data.copy(data, r * w * 3, ((y + r) * frame.width + x) * 3, ((y + r) * frame.width + x + w) * 3);
    return { width: w, height: h, data };
  }
  const ow = Math.max(1, Math.round(w * scale)), oh = Math.max(1, Math.round(h * scale));
  const data = Buffer.allocUnsafe(ow * oh * 3), src = frame.data, W = frame.width;
  for (let oy = 0; oy < oh; oy++) {
    const sy = Math.min(y + h - 1, Math.max(y, y + (oy + 0.5) * (h / oh) - 0.5));
    const y0 = Math.floor(sy), y1 = Math.min(y + h - 1, y0 + 1), fy = sy - y0;
    for (let ox = 0; ox < ow; ox++) {
      const sx = Math.min(x + w - 1, Math.max(x, x + (ox + 0.5) * (w / ow) - 0.5));
      const x0 = Math.floor(sx), x1 = Math.min(x + w - 1, x0 + 1), fx = sx - x0;
      const a = (y0 * W + x0) * 3, b = (y0 * W + x1) * 3, c = (y1 * W + x0) * 3, d = (y1 * W + x1) * 3, o = (oy * ow + ox) * 3;
      for (let k = 0; k < 3; k++) {
        const top = src[a + k]! + (src[b + k]! - src[a + k]!) * fx, bot = src[c + k]! + (src[d + k]! - src[c + k]!) * fx;
        data[o + k] = (top + (bot - top) * fy + 0.5) | 0;
      }
    }
  }
  return { width: ow, height: oh, data };
}

/** Overlapping square tiles covering the frame, each `tile` px with `overlap` share shared. */
export function tiles(width: number, height: number, tile: number, overlap = 0.25): Region[] {
  if (width <= tile && height <= tile) return [];
  const step = Math.max(1, Math.floor(tile * (1 - overlap)));
  const starts = (len: number) => {
    if (len <= tile) return [0];
    const out: number[] = [];
    for (let s = 0; s + tile < len; s += step) out.push(s);
    out.push(len - tile);
    return out;
  };
  const out: Region[] = [];
  for (const y of starts(height)) for (const x of starts(width)) out.push({ x, y, w: Math.min(tile, width), h: Math.min(tile, height) });
  return out;
}
