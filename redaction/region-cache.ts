import type { Box, Frame } from './frame.js';
import type { Region } from './resample.js';

/** Edge of the blocks whose mean luma and texture tell whether a part of the frame changed. */
const BLOCK = 16;

/**
 * A block's texture may move by this share of what it was (or by the tolerance, if more) before
 * it counts as changed: compression makes a textured block's fine detail come and go by less.
 */
const TEXTURE_SHARE = 0.3;

/**
 * Per 16x16 block of one frame, from every second pixel of every second row: the mean luma, and
 * the texture, the mean absolute luma step between neighbouring samples of a row. The mean
 * alone misses what keeps a block's brightness: dark letters appearing on a light plate that
 * replaced a grey wall, a sign's text changing. Text and faces are all edges, so the texture
 * moves where the mean does not.
 */
class BlockStats {
  readonly cols: number;
  readonly rows: number;
  /** mean and texture of each block, interleaved */
  readonly stats: Float32Array;
  constructor(frame: Frame) {
    const { width, height, data } = frame;
    this.cols = Math.ceil(width / BLOCK);
    this.rows = Math.ceil(height / BLOCK);
    const n = this.cols * this.rows;
    const sums = new Float32Array(n), counts = new Uint16Array(n), steps = new Float32Array(n), stepCounts = new Uint16Array(n);
    for (let y = 0; y < height; y += 2) {
      const row = Math.floor(y / BLOCK) * this.cols;
      let last = -1;
      for (let x = 0, i = y * width * 3; x < width; x += 2, i += 6) {
        const b = row + ((x / BLOCK) | 0);
        const l = (data[i]! * 77 + data[i + 1]! * 150 + data[i + 2]! * 29) >> 8;
        sums[b] += l;
        counts[b]++;
        if (x % BLOCK !== 0) { steps[b] += Math.abs(l - last); stepCounts[b]++; }
        last = l;
      }
    }
    this.stats = new Float32Array(2 * n);
    for (let b = 0; b < n; b++) {
      this.stats[2 * b] = sums[b]! / counts[b]!;
      this.stats[2 * b + 1] = stepCounts[b] ? steps[b]! / stepCounts[b]! : 0;
    }
  }

  /** The blocks covering `r`: columns x0..x1 and rows y0..y1 (ends excluded). */
  span(r: Region): { x0: number; y0: number; x1: number; y1: number } {
    return { x0: Math.max(0, Math.floor(r.x / BLOCK)), y0: Math.max(0, Math.floor(r.y / BLOCK)),
      x1: Math.min(this.cols, Math.ceil((r.x + r.w) / BLOCK)), y1: Math.min(this.rows, Math.ceil((r.y + r.h) / BLOCK)) };
  }

  /** Mean and texture of the blocks covering `r`, row by row, interleaved. */
  of(r: Region): Float32Array {
    const { x0, y0, x1, y1 } = this.span(r);
    const out = new Float32Array(2 * Math.max(0, (x1 - x0) * (y1 - y0)));
    let k = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) { out[k++] = this.stats[2 * (y * this.cols + x)]!; out[k++] = this.stats[2 * (y * this.cols + x) + 1]!; }
    return out;
  }
}

const grids = new WeakMap<Buffer, BlockStats>();
function blocksOf(frame: Frame): BlockStats {
  let g = grids.get(frame.data);
  if (!g) grids.set(frame.data, g = new BlockStats(frame));
  return g;
}

/** Whether two rectangles overlap (by more than an edge). */
const overlaps = (a: Region, b: Region) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** What changed in an input since the detector last looked at it, and what it found then. */
export interface Changes {
  /** the 16x16 blocks (frame pixels, cut to the input's region) whose mean luma or texture moved by more than the tolerance */
  blocks: Region[];
  /** the boxes of the last look */
  boxes: Box[];
}

interface Entry {
  /** block means and textures at the last look at each block, row by row over the region's blocks (BlockStats.of) */
  sig: Float32Array;
  boxes: Box[];
  /** looks since the last whole one that reused what it found (in whole or in part) */
  reused: number;
}

/**
 * An input's earlier answer is reused (in whole or in part) at most this many looks in a row,
 * then the input is looked at whole again: a detector's answer on the same pixels flickers
 * with compression noise (a small plate found in one look and not the next), and a reused miss
 * must not last (text every 5th frame: at least every 20th frame, faces every 40th).
 */
export const MAX_REUSE = 3;

/**
 * What a detector found in each of its inputs, kept with the block means and textures of the
 * pixels it saw: an input none of whose 16x16 blocks changed its mean luma by more than
 * `tolerance`, or its texture by more than the tolerance or 30% of what it was, since then
 * is not looked at again (a fixed camera's street, walls and sky). The comparison is with the
 * pixels at the last look, not the last frame, so slow changes add up and are looked at too.
 * A face or a plate entering an input changes the blocks it covers by far more than H.264 noise
 * on a still scene (1-2 levels). An earlier answer is reused at most MAX_REUSE looks in a row. An input where only some blocks changed may be looked at in
 * part (`lookAt` with `part`): then only the changed blocks take the pixels of this look as
 * their reference; the others keep theirs, so a slow change there still adds up.
 */
export class RegionCache {
  readonly stats = { looked: 0, reused: 0, cropped: 0, croppedShare: 0 };
  private readonly entries = new Map<string, Entry>();
  constructor(readonly tolerance = 5) {}

  /** What was found at `key` unchanged: one more look that reuses it. */
  reuse(key: string): Box[] {
    const e = this.entries.get(key)!;
    e.reused++;
    this.stats.reused++;
    return e.boxes;
  }

  /** The blocks of `region` that changed since the last look at `key`; undefined when it must be looked at whole (never, or reused MAX_REUSE times in a row). */
  changes(frame: Frame, key: string, region: Region): Changes | undefined {
    const e = this.entries.get(key);
    if (!e || e.reused >= MAX_REUSE) return undefined;
    const g = blocksOf(frame), now = g.of(region);
    if (now.length !== e.sig.length) return undefined;
    const { x0, y0, x1 } = g.span(region);
    const blocks: Region[] = [];
    for (let i = 0; i < now.length / 2; i++) {
      const mean = Math.abs(now[2 * i]! - e.sig[2 * i]!), texture = Math.abs(now[2 * i + 1]! - e.sig[2 * i + 1]!);
      if (mean <= this.tolerance && texture <= Math.max(this.tolerance, TEXTURE_SHARE * e.sig[2 * i + 1]!)) continue;
      const bx = (x0 + (i % (x1 - x0))) * BLOCK, by = (y0 + Math.floor(i / (x1 - x0))) * BLOCK;
      const x = Math.max(bx, region.x), y = Math.max(by, region.y);
      blocks.push({ x, y, w: Math.min(bx + BLOCK, region.x + region.w) - x, h: Math.min(by + BLOCK, region.y + region.h) - y });
    }
    return { blocks, boxes: e.boxes };
  }

  store(frame: Frame, key: string, region: Region, boxes: Box[]): void {
    this.stats.looked++;
    this.entries.set(key, { sig: blocksOf(frame).of(region), boxes, reused: 0 });
  }

  /** After a look at part of an input: `changed` (its changed blocks, from `changes`) take this frame's means; `boxes` are the input's boxes now. */
  storePart(frame: Frame, key: string, region: Region, changed: Changes, boxes: Box[], share: number): void {
    const e = this.entries.get(key);
    if (!e) throw new Error(`storePart before a whole look at ${key}`);
    this.stats.cropped++;
    this.stats.croppedShare += share;
    e.reused++;
    const g = blocksOf(frame), now = g.of(region), { x0, y0, x1 } = g.span(region);
    for (const b of changed.blocks) {
      const i = (Math.floor(b.y / BLOCK) - y0) * (x1 - x0) + (Math.floor(b.x / BLOCK) - x0);
      e.sig[2 * i] = now[2 * i]!;
      e.sig[2 * i + 1] = now[2 * i + 1]!;
    }
    e.boxes = boxes;
  }

  /** Forget everything (a scene change: nothing seen before is on screen). */
  clear(): void {
    this.entries.clear();
  }
}

/** Looking at part of an input: `reach` (frame px) is how far an object the input answers for extends; `look` runs the model on a part of the input's region. */
export interface PartLook {
  reach: { x: number; y: number };
  look: (part: Region) => Promise<Box[]>;
}

/**
 * A part of an input is looked at only when the parts together are at most this share of it:
 * above, one look at the whole input costs about the same and sees the same.
 */
export const MAX_PART_SHARE = 0.6;

/**
 * The parts of `region` to look at again when `changes.blocks` changed: each changed block
 * widened by `reach` on every side (an object touching a changed block lies whole inside), and
 * each box of the last look that touches a changed block, widened by one block (text that was
 * there and is now partly covered or uncovered is looked at whole); overlapping parts merged,
 * cut to the region.
 */
export function partsToLook(region: Region, changes: Changes, reach: { x: number; y: number }): Region[] {
  const cut = (r: Region): Region => {
    const x = Math.max(region.x, r.x), y = Math.max(region.y, r.y);
    return { x, y, w: Math.min(region.x + region.w, r.x + r.w) - x, h: Math.min(region.y + region.h, r.y + r.h) - y };
  };
  // runs of changed blocks along a row first (blocks come row by row): fewer rectangles to merge
  const runs: Region[] = [];
  for (const b of changes.blocks) {
    const last = runs[runs.length - 1];
    if (last && last.y === b.y && last.h === b.h && last.x + last.w === b.x) last.w += b.w;
    else runs.push({ ...b });
  }
  const parts: Region[] = runs.map((b) => cut({ x: b.x - reach.x, y: b.y - reach.y, w: b.w + 2 * reach.x, h: b.h + 2 * reach.y }));
  for (const b of changes.boxes) {
    if (changes.blocks.some((c) => overlaps(b, c))) parts.push(cut({ x: b.x - BLOCK, y: b.y - BLOCK, w: b.w + 2 * BLOCK, h: b.h + 2 * BLOCK }));
  }
  // merge until no two overlap (the union of two is their bounding rectangle)
  for (let merged = true; merged;) {
    merged = false;
    for (let i = 0; i < parts.length && !merged; i++) {
      for (let j = i + 1; j < parts.length; j++) {
        const a = parts[i]!, b = parts[j]!;
        if (!overlaps(a, b)) continue;
        const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
        parts[i] = { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
        parts.splice(j, 1);
        merged = true;
        break;
      }
    }
  }
  return parts.filter((p) => p.w > 0 && p.h > 0);
}

/**
 * The detector's inputs, each looked at or (when `cache` vouches for it) its boxes reused.
 * Keys carry the frame size, so a cache never answers for another geometry. With `part`, an
 * input where only some blocks changed is looked at only around them (`partsToLook`): its boxes
 * are then the last look's boxes that touch no changed block (their pixels did not change) and
 * this look's boxes that touch one (what is new, moved or uncovered). The boxes this look finds
 * away from every changed block are dropped: they lie on unchanged pixels, which the last look
 * answered for, and may be text cut by the part's edge.
 */
export async function lookAt<T extends { region: Region; width: number; height: number }>(frame: Frame, name: string, inputs: T[], cache: RegionCache | undefined,
  look: (input: T) => Promise<Box[]>, part?: (input: T) => PartLook | undefined): Promise<Box[]> {
  const found: Box[] = [];
  for (const input of inputs) {
    const r = input.region;
    const key = `${name} ${frame.width}x${frame.height} ${r.x},${r.y},${r.w},${r.h} ${input.width}x${input.height}`;
    const changes = cache?.changes(frame, key, r);
    if (changes && changes.blocks.length === 0) {
      found.push(...cache!.reuse(key));
      continue;
    }
    const p = changes && part?.(input);
    // the parts hold every changed block: when those alone are over the share, look at it whole
    if (p && changes.blocks.reduce((a, b) => a + b.w * b.h, 0) <= MAX_PART_SHARE * r.w * r.h) {
      const parts = partsToLook(r, changes, p.reach);
      const share = parts.reduce((s, q) => s + q.w * q.h, 0) / (r.w * r.h);
      if (share <= MAX_PART_SHARE) {
        const touches = (b: Box) => changes.blocks.some((c) => overlaps(b, c));
        const boxes = changes.boxes.filter((b) => !touches(b));
        for (const q of parts) boxes.push(...(await p.look(q)).filter(touches));
        cache!.storePart(frame, key, r, changes, boxes, share);
        found.push(...boxes);
        continue;
      }
    }
    const boxes = await look(input);
    cache?.store(frame, key, r, boxes);
    found.push(...boxes);
  }
  return found;
}
