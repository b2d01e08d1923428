import type { Box, Frame } from './frame.js';
import type { Region } from './resample.js';

/** Edge of the blocks whose mean luma tells whether a part of the frame changed. */
const BLOCK = 16;

/** Mean luma of 16x16 blocks of one frame (every second pixel of every second row). */
class BlockMeans {
  readonly cols: number;
  readonly rows: number;
  readonly means: Float32Array;
  constructor(frame: Frame) {
    const { width, height, data } = frame;
    this.cols = Math.ceil(width / BLOCK);
    this.rows = Math.ceil(height / BLOCK);
    const sums = new Float32Array(this.cols * this.rows), counts = new Uint16Array(this.cols * this.rows);
    for (let y = 0; y < height; y += 2) {
      const row = Math.floor(y / BLOCK) * this.cols;
      for (let x = 0, i = y * width * 3; x < width; x += 2, i += 6) {
        const b = row + ((x / BLOCK) | 0);
        sums[b] += (data[i]! * 77 + data[i + 1]! * 150 + data[i + 2]! * 29) >> 8;
        counts[b]++;
      }
    }
    this.means = sums.map((s, i) => s / counts[i]!);
  }

  /** The block means covering `r`, in a fixed order. */
  of(r: Region): Float32Array {
    const x0 = Math.max(0, Math.floor(r.x / BLOCK)), y0 = Math.max(0, Math.floor(r.y / BLOCK));
    const x1 = Math.min(this.cols, Math.ceil((r.x + r.w) / BLOCK)), y1 = Math.min(this.rows, Math.ceil((r.y + r.h) / BLOCK));
    const out = new Float32Array(Math.max(0, (x1 - x0) * (y1 - y0)));
    let k = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[k++] = this.means[y * this.cols + x]!;
    return out;
  }
}

const grids = new WeakMap<Buffer, BlockMeans>();
function blocksOf(frame: Frame): BlockMeans {
  let g = grids.get(frame.data);
  if (!g) grids.set(frame.data, g = new BlockMeans(frame));
  return g;
}

/**
 * What a detector found in each of its inputs, kept with the block means of the pixels it saw:
 * an input none of whose 16x16 blocks changed its mean luma by more than `tolerance` since then
 * is not looked at again (a fixed camera's street, walls and sky). The comparison is with the
 * pixels at the last look, not the last frame, so slow changes add up and are looked at too.
 * A face or a plate entering an input changes the blocks it covers by far more than H.264 noise
 * on a still scene (1-2 levels).
 */
export class RegionCache {
  readonly stats = { looked: 0, reused: 0 };
  private readonly entries = new Map<string, { sig: Float32Array; boxes: Box[] }>();
  constructor(readonly tolerance = 5) {}

  reuse(frame: Frame, key: string, region: Region): Box[] | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = blocksOf(frame).of(region);
    if (now.length !== e.sig.length) return undefined;
    for (let i = 0; i < now.length; i++) if (Math.abs(now[i]! - e.sig[i]!) > this.tolerance) return undefined;
    this.stats.reused++;
    return e.boxes;
  }

  store(frame: Frame, key: string, region: Region, boxes: Box[]): void {
    this.stats.looked++;
    this.entries.set(key, { sig: blocksOf(frame).of(region), boxes });
  }

  /** Forget everything (a scene change: nothing seen before is on screen). */
  clear(): void {
    this.entries.clear();
  }
}

/**
 * The detector's inputs, each looked at or (when `cache` vouches for it) its boxes reused.
 * Keys carry the frame size, so a cache never answers for another geometry.
 */
export async function lookAt<T extends { region: Region; width: number; height: number }>(frame: Frame, name: string, inputs: T[], cache: RegionCache | undefined,
  look: (input: T) => Promise<Box[]>): Promise<Box[]> {
  const found: Box[] = [];
  for (const input of inputs) {
    const r = input.region;
    const key = `${name} ${frame.width}x${frame.height} ${r.x},${r.y},${r.w},${r.h} ${input.width}x${input.height}`;
    const kept = cache?.reuse(frame, key, r);
    if (kept) { found.push(...kept); continue; }
    const boxes = await look(input);
    cache?.store(frame, key, r, boxes);
    found.push(...boxes);
  }
  return found;
}
