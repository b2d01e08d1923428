/**
 * Is a masked area blank in a picture? The run-time check behind capture masks: a sampled
 * keyframe of the recording (the frame sampler's, downscaled) is read under each mask, away from
 * its edges (an encoded edge rings into the transform blocks it crosses), and outside all masks.
 * A masked area whose luma varies (picture detail) while the rest of the picture also varies is
 * a mask not in force. A flat picture (night, a covered lens) proves nothing either way.
 */
import { polygonSpans, type MaskShape } from '../common/mask-geometry.js';
import { stats, toGray } from './tamper-image.js';

export interface MaskDetail {
  /** luma standard deviation under each mask (NaN when a mask is too small to read at this size) */
  inside: number[];
  /** luma standard deviation outside every mask */
  outside: number;
}

/** Luma std-dev above which an area holds picture detail; a black mask through H.264 reads 0-2. */
export const DETAIL_STD = 8;

/** Pixels of the mask `margin` px and more from its edges (a box erosion of the filled polygon). */
function interior(mask: MaskShape, w: number, h: number, margin: number): Uint8Array {
  const filled = new Uint8Array(w * h);
  polygonSpans(mask, w, h, (y, x0, x1) => filled.fill(1, y * w + x0, y * w + x1));
  return erode(filled, w, h, margin);
}

function erode(img: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const rows = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let all = 1;
      for (let d = -r; d <= r && all; d++) { const xx = x + d; all = xx >= 0 && xx < w ? img[y * w + xx]! : 0; }
      rows[y * w + x] = all;
    }
  }
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let all = 1;
      for (let d = -r; d <= r && all; d++) { const yy = y + d; all = yy >= 0 && yy < h ? rows[yy * w + x]! : 0; }
      out[y * w + x] = all;
    }
  }
  return out;
}

/** How much picture detail each mask's interior holds, and the rest of the frame, in a packed RGB24 picture. */
export function maskDetail(rgb: Uint8Array, width: number, height: number, masks: MaskShape[]): MaskDetail {
  const gray = toGray(rgb, width, height).data;
  const margin = Math.max(8, Math.round(Math.min(width, height) / 30));
  const covered = new Uint8Array(width * height);
  const inside = masks.map((m) => {
    polygonSpans(m, width, height, (y, x0, x1) => covered.fill(1, y * width + x0, y * width + x1));
    const sel = interior(m, width, height, margin);
    const values = gray.filter((_, i) => sel[i] === 1);
    return values.length >= 16 ? stats(values).std : Number.NaN;
  });
  const away = erode(covered.map((v) => 1 - v), width, height, margin);
  return { inside, outside: stats(gray.filter((_, i) => away[i] === 1)).std };
}

/** The masks whose area shows picture detail while the rest of the picture does too (indexes); empty when all are blank or the picture is flat. */
export function visibleMasks(d: MaskDetail): number[] {
  if (!(d.outside > DETAIL_STD)) return [];
  return d.inside.flatMap((std, i) => (std > DETAIL_STD ? [i] : []));
}
