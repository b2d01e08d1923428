import type { Frame } from './frame.js';

export interface Region { x: number; y: number; w: number; h: number }

/**
 * Samples `region` of a frame into a size x size float tensor, aspect kept (letterboxed at the
 * top left, the rest `pad`), bilinear. Returns the scale (model pixels per frame pixel), so
 * that boxes map back with x / scale + region.x.
 */
export function letterbox(frame: Frame, region: Region, size: number, layout: 'nhwc' | 'nchw',
  norm: (v: number, channel: number) => number, pad: number[]): { tensor: Float32Array; scale: number } {
  const scale = size / Math.max(region.w, region.h);
  const tensor = new Float32Array(size * size * 3);
  const plane = size * size;
  const outW = Math.min(size, Math.round(region.w * scale));
  const outH = Math.min(size, Math.round(region.h * scale));
  const { width, height, data } = frame;
  // Lookup tables for the normalisation: 3 x 256 values instead of a call per sample.
  const lut = [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => norm(v, c)));
  for (let y = 0; y < size; y++) {
    const sy = region.y + (y + 0.5) / scale - 0.5;
    const y0 = Math.max(0, Math.min(height - 1, Math.floor(sy)));
    const y1 = Math.min(height - 1, y0 + 1);
    const fy = Math.max(0, Math.min(1, sy - y0));
    for (let x = 0; x < size; x++) {
      const o = y * size + x;
      if (x >= outW || y >= outH) {
        for (let c = 0; c < 3; c++) tensor[layout === 'nhwc' ? o * 3 + c : c * plane + o] = pad[c]!;
        continue;
      }
      const sx = region.x + (x + 0.5) / scale - 0.5;
      const x0 = Math.max(0, Math.min(width - 1, Math.floor(sx)));
      const x1 = Math.min(width - 1, x0 + 1);
      const fx = Math.max(0, Math.min(1, sx - x0));
      const i00 = (y0 * width + x0) * 3, i01 = (y0 * width + x1) * 3, i10 = (y1 * width + x0) * 3, i11 = (y1 * width + x1) * 3;
      for (let c = 0; c < 3; c++) {
        const top = data[i00 + c]! + (data[i01 + c]! - data[i00 + c]!) * fx;
        const bot = data[i10 + c]! + (data[i11 + c]! - data[i10 + c]!) * fx;
        const v = Math.round(top + (bot - top) * fy);
        tensor[layout === 'nhwc' ? o * 3 + c : c * plane + o] = lut[c]![v]!;
      }
    }
  }
  return { tensor, scale };
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
