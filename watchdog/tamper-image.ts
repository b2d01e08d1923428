/**
 * Pixel arithmetic for view analysis, on small grayscale images (Float32, row-major). Plain
 * loops: a 640x360 picture costs a few milliseconds, a sample every few seconds.
 */

export interface Gray {
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * A grey picture kept as whole grey levels, a byte a pixel: a quarter of a Gray's memory, for a
 * picture kept between samples (the frozen check's previous one). Rounding moves a tile's mean
 * by at most half a level.
 */
export interface GrayBytes {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/**
 * Luma (BT.601) of packed RGB24, or a grey picture's own levels (`channels` 1: the decoder's
 * full-range luma, the same levels), into `into` when it is large enough (a buffer reused from
 * picture to picture).
 */
export function toGray(pixels: Uint8Array, width: number, height: number, into?: Float32Array, channels: 1 | 3 = 3): Gray {
  const n = width * height;
  const data = into && into.length >= n ? into.subarray(0, n) : new Float32Array(n);
  if (channels === 1) data.set(pixels.subarray(0, n));
  else for (let i = 0, j = 0; i < n; i++, j += 3) data[i] = 0.299 * pixels[j]! + 0.587 * pixels[j + 1]! + 0.114 * pixels[j + 2]!;
  return { width, height, data };
}

/**
 * Float32 buffers reused from picture to picture, one per use, for pictures analysed one at a
 * time (the analysis thread): intermediate pictures (a picture's copies at other scales and their
 * gradients, 0.3 MB a 640x360 sample) made anew for each were garbage outside the heap that the
 * thread's collector let pile up to 36-50 MB at 16 cameras before freeing it.
 */
export class Scratch {
  private readonly buffers = new Map<string, Float32Array>();

  /** `n` floats for `use`, written over by the next call for the same use (contents not cleared). */
  get(use: string, n: number): Float32Array {
    let b = this.buffers.get(use);
    if (!b || b.length < n) {
      b = new Float32Array(n);
      this.buffers.set(use, b);
    }
    return b.subarray(0, n);
  }
}

/** Box-averages `factor` x `factor` blocks (the remainder at the right and bottom is dropped), into `into` when given. */
export function shrink(g: Gray, factor: number, into?: Float32Array): Gray {
  if (factor <= 1) return g;
  const width = Math.floor(g.width / factor);
  const height = Math.floor(g.height / factor);
  const data = into && into.length >= width * height ? into.subarray(0, width * height) : new Float32Array(width * height);
  const area = factor * factor;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * g.width + x * factor;
        for (let dx = 0; dx < factor; dx++) sum += g.data[row + dx]!;
      }
      data[y * width + x] = sum / area;
    }
  }
  return { width, height, data };
}

/** Gradient magnitude by central differences (borders 0), into `into` when given. */
export function gradientMagnitude(g: Gray, into?: Float32Array): Gray {
  const { width: w, height: h } = g;
  const out = into && into.length >= w * h ? into.subarray(0, w * h).fill(0) : new Float32Array(w * h);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const gx = g.data[i + 1]! - g.data[i - 1]!;
      const gy = g.data[i + w]! - g.data[i - w]!;
      out[i] = Math.sqrt(gx * gx + gy * gy) / 2;
    }
  }
  return { width: w, height: h, data: out };
}

export function mean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return a.length ? s / a.length : 0;
}

/** Mean and standard deviation. */
export function stats(a: Float32Array): { mean: number; std: number } {
  const m = mean(a);
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - m) ** 2;
  return { mean: m, std: Math.sqrt(a.length ? v / a.length : 0) };
}

/** A rectangle of cells over an image: cell (cx, cy) covers [x0, x1) x [y0, y1). */
export interface CellGrid { cols: number; rows: number; bounds: Array<{ x0: number; x1: number; y0: number; y1: number }> }

export function cellGrid(width: number, height: number, cols: number, rows: number): CellGrid {
  const bounds = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      bounds.push({ x0: Math.floor((c * width) / cols), x1: Math.floor(((c + 1) * width) / cols), y0: Math.floor((r * height) / rows), y1: Math.floor(((r + 1) * height) / rows) });
    }
  }
  return { cols, rows, bounds };
}

/** Mean of each cell. */
export function cellMeans(g: Gray, grid: CellGrid): Float32Array {
  const out = new Float32Array(grid.bounds.length);
  grid.bounds.forEach((b, i) => {
    let s = 0;
    for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) s += g.data[y * g.width + x]!;
    out[i] = s / Math.max(1, (b.x1 - b.x0) * (b.y1 - b.y0));
  });
  return out;
}

/**
 * Normalised cross-correlation of two images inside one cell, allowing the second to be
 * shifted by up to `slack` pixels (a camera on a pole sways a little); the best shift counts.
 */
export function cellCorrelation(a: Gray, b: Gray, cell: CellGrid['bounds'][number], slack: number): number {
  let best = -1;
  for (let sy = -slack; sy <= slack; sy++) {
    for (let sx = -slack; sx <= slack; sx++) {
      const x0 = Math.max(cell.x0, -sx, 0), x1 = Math.min(cell.x1, a.width - sx, a.width);
      const y0 = Math.max(cell.y0, -sy, 0), y1 = Math.min(cell.y1, a.height - sy, a.height);
      let n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const va = a.data[y * a.width + x]!;
          const vb = b.data[(y + sy) * b.width + x + sx]!;
          n++; sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb;
        }
      }
      if (n < 4) continue;
      const cov = sab - (sa * sb) / n;
      const va = saa - (sa * sa) / n, vb = sbb - (sb * sb) / n;
      const r = va > 1e-6 && vb > 1e-6 ? cov / Math.sqrt(va * vb) : 0;
      if (r > best) best = r;
    }
  }
  return best;
}

/** The largest mean absolute difference over `block` x `block` tiles of two same-sized images. */
export function maxBlockDifference(a: Gray | GrayBytes, b: Gray, block: number): number {
  let worst = 0;
  for (let y0 = 0; y0 + block <= a.height; y0 += block) {
    for (let x0 = 0; x0 + block <= a.width; x0 += block) {
      let s = 0;
      for (let y = y0; y < y0 + block; y++) {
        const row = y * a.width;
        for (let x = x0; x < x0 + block; x++) s += Math.abs(a.data[row + x]! - b.data[row + x]!);
      }
      worst = Math.max(worst, s / (block * block));
    }
  }
  return worst;
}

/** Per-pixel median of same-sized images. */
export function medianImage(images: Array<Gray | GrayBytes>): Gray {
  const { width, height } = images[0]!;
  const data = new Float32Array(width * height);
  const column = new Float32Array(images.length);
  for (let i = 0; i < data.length; i++) {
    for (let k = 0; k < images.length; k++) column[k] = images[k]!.data[i]!;
    column.sort();
    data[i] = column[column.length >> 1]!;
  }
  return { width, height, data };
}
