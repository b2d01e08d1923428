/**
 * Is a masked area blank in a picture? The run-time check behind capture masks: a sampled
 * keyframe of the recording (the frame sampler's, downscaled) is read under each mask, away from
 * its edges (an encoded edge rings into the transform blocks it crosses), and outside all masks.
 * A masked area whose luma varies (picture detail) while the rest of the picture also varies is
 * a mask not in force. A flat picture (night, a covered lens) proves nothing either way.
 */
import { polygonSpans, type MaskShape } from '../common/mask-geometry.js';

export interface MaskDetail {
  /** luma standard deviation under each mask (NaN when a mask is too small to read at this size) */
  inside: number[];
  /** luma standard deviation outside every mask */
  outside: number;
}

/** Luma std-dev above which an area holds picture detail; a black mask through H.264 reads 0-2. */
export const DETAIL_STD = 8;

/** Erodes a 0/1 image by a (2r+1)-square: a pixel stays 1 when every pixel of its square is 1 (out of the frame counts as 0). */
function erode(img: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const pass = (src: Uint8Array, len: number, lines: number, at: (line: number, i: number) => number): Uint8Array => {
    const out = new Uint8Array(w * h);
    for (let line = 0; line < lines; line++) {
      // a running count of 1s in the window [i - r, i + r]
      let ones = 0;
      for (let i = 0; i < Math.min(r, len); i++) ones += src[at(line, i)]!;
      for (let i = 0; i < len; i++) {
        if (i + r < len) ones += src[at(line, i + r)]!;
        if (i - r - 1 >= 0) ones -= src[at(line, i - r - 1)]!;
        out[at(line, i)] = ones === 2 * r + 1 ? 1 : 0;
      }
    }
    return out;
  };
  const rows = pass(img, w, h, (y, x) => y * w + x);
  return pass(rows, h, w, (x, y) => y * w + x);
}

interface Regions { inside: Uint32Array[]; outside: Uint32Array }

/**
 * The masks' interiors (`margin` px and more from their edges) and the area away from all masks,
 * as pixel indexes for one frame size: computed once per size, so a sample costs a pass over
 * the selected pixels.
 */
export class MaskRegions {
  private readonly bySize = new Map<string, Regions>();
  constructor(readonly masks: MaskShape[]) {}

  private regions(width: number, height: number): Regions {
    const key = `${width}x${height}`;
    let r = this.bySize.get(key);
    if (r) return r;
    const margin = Math.max(8, Math.round(Math.min(width, height) / 30));
    const covered = new Uint8Array(width * height);
    const indexes = (sel: Uint8Array) => {
      let n = 0;
      for (let i = 0; i < sel.length; i++) n += sel[i]!;
      const out = new Uint32Array(n);
      for (let i = 0, k = 0; i < sel.length; i++) if (sel[i]) out[k++] = i;
      return out;
    };
    const inside = this.masks.map((m) => {
      const filled = new Uint8Array(width * height);
      polygonSpans(m, width, height, (y, x0, x1) => { filled.fill(1, y * width + x0, y * width + x1); covered.fill(1, y * width + x0, y * width + x1); });
      return indexes(erode(filled, width, height, margin));
    });
    r = { inside, outside: indexes(erode(covered.map((v) => 1 - v), width, height, margin)) };
    this.bySize.set(key, r);
    return r;
  }

  /**
   * How much picture detail each mask's interior holds, and the rest of the frame, in a packed
   * RGB24 picture, or a grey one (`channels` 1: the decoder's full-range luma).
   */
  detail(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 = 3): MaskDetail {
    const r = this.regions(width, height);
    // luma (BT.601) of the selected pixels only
    const std = (idx: Uint32Array) => {
      if (idx.length < 16) return Number.NaN;
      let sum = 0, sq = 0;
      for (let k = 0; k < idx.length; k++) {
        const j = idx[k]! * channels;
        const v = channels === 1 ? pixels[j]! : 0.299 * pixels[j]! + 0.587 * pixels[j + 1]! + 0.114 * pixels[j + 2]!;
        sum += v; sq += v * v;
      }
      const mean = sum / idx.length;
      return Math.sqrt(Math.max(0, sq / idx.length - mean * mean));
    };
    return { inside: r.inside.map(std), outside: std(r.outside) };
  }
}

/** `MaskRegions.detail` for one picture. */
export function maskDetail(rgb: Uint8Array, width: number, height: number, masks: MaskShape[]): MaskDetail {
  return new MaskRegions(masks).detail(rgb, width, height);
}

/** The masks whose area shows picture detail while the rest of the picture does too (indexes); empty when all are blank or the picture is flat. */
export function visibleMasks(d: MaskDetail): number[] {
  if (!(d.outside > DETAIL_STD)) return [];
  return d.inside.flatMap((std, i) => (std > DETAIL_STD ? [i] : []));
}
