import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import type { Detector } from '../../redaction/detector.js';
import type { Frame } from '../../redaction/frame.js';
import { videoInfo } from '../../common/media-probe.js';
import { decodeFrames } from '../../redaction/video-io.js';

/** Public test media from Debian (opencv-doc, python3-skimage): real photos and video, never generated faces. */
export const OPENCV = '/usr/share/doc/opencv-doc/examples/data';
export const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
export const MEDIA = {
  messi: join(OPENCV, 'messi5.jpg'),
  megamind: join(OPENCV, 'Megamind.avi'),
  plate: join(OPENCV, 'licenseplate_motion.jpg'),
  astronaut: join(SKIMAGE, 'astronaut.png'),
  lfw: join(SKIMAGE, 'lfw_subset.npy'),
};

const made: string[] = [];
// tap runs each test file in its own process: what it made goes when it ends, pass or fail
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

export function tmp(prefix = 'edge-nvr-redact-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** The first `seconds` of Megamind.avi as H.264 MP4 (fragmented, as the recorder writes). */
export function megamindClip(dir: string, seconds = 3, startS = 0): string {
  const out = join(dir, `megamind-${startS}-${seconds}.mp4`);
  if (!existsSync(out)) {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-ss', String(startS), '-i', MEDIA.megamind, '-t', String(seconds), '-an', '-c:v', 'libx264', '-preset', 'veryfast',
      '-g', '12', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', out]);
  }
  return out;
}

export async function allFrames(path: string): Promise<Frame[]> {
  const info = await videoInfo(path);
  const out: Frame[] = [];
  for await (const f of decodeFrames({ path }, info)) out.push(f);
  return out;
}

/**
 * lfw_subset.npy (200 crops of 25x25, float 0..1: 100 faces, then 100 non-faces) as grey RGB frames.
 * numpy is read with Debian's /usr/bin/python3 (a python3 earlier on PATH may lack it).
 */
export function lfwCrops(dir: string): Frame[] {
  const raw = join(dir, 'lfw.u8');
  execFileSync('/usr/bin/python3', ['-c', `import numpy as np; a=np.load(${JSON.stringify(MEDIA.lfw)}); assert a.shape==(200,25,25), a.shape; (a*255).round().astype(np.uint8).tofile(${JSON.stringify(raw)})`]);
  const bytes = readFileSync(raw);
  return Array.from({ length: 200 }, (_, i) => {
    const data = Buffer.alloc(25 * 25 * 3);
    for (let p = 0; p < 625; p++) data.fill(bytes[i * 625 + p]!, p * 3, p * 3 + 3);
    return { width: 25, height: 25, data };
  });
}

/** Mean absolute difference of two frames inside a box (all channels). */
export function meanDiff(a: Frame, b: Frame, box: { x: number; y: number; w: number; h: number }): number {
  let s = 0, n = 0;
  for (let y = Math.max(0, Math.floor(box.y)); y < Math.min(a.height, Math.ceil(box.y + box.h)); y++) {
    for (let x = Math.max(0, Math.floor(box.x)); x < Math.min(a.width, Math.ceil(box.x + box.w)); x++) {
      const i = (y * a.width + x) * 3;
      for (let c = 0; c < 3; c++) { s += Math.abs(a.data[i + c]! - b.data[i + c]!); n++; }
    }
  }
  return n ? s / n : 0;
}

/** Variance of the 4-neighbour Laplacian of luma inside a box: how much fine detail (edges, strokes) it holds. */
export function laplacianVariance(f: Frame, box: { x: number; y: number; w: number; h: number }): number {
  const luma = (x: number, y: number) => { const i = (y * f.width + x) * 3; return 0.299 * f.data[i]! + 0.587 * f.data[i + 1]! + 0.114 * f.data[i + 2]!; };
  const vals: number[] = [];
  for (let y = Math.max(1, Math.floor(box.y)); y < Math.min(f.height - 1, Math.ceil(box.y + box.h)); y++) {
    for (let x = Math.max(1, Math.floor(box.x)); x < Math.min(f.width - 1, Math.ceil(box.x + box.w)); x++) {
      vals.push(4 * luma(x, y) - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1));
    }
  }
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  return vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length;
}

/** `dir`/data with its catalog, closed when the test ends: what the egress gate is given. */
export function egressContext(t: { teardown(fn: () => void): void }, dir: string): { catalog: Catalog; dataDir: string } {
  const dataDir = join(dir, 'data');
  const catalog = Catalog.open(dataDir);
  t.teardown(() => catalog.close());
  return { catalog, dataDir };
}

export const silent = pino({ level: 'silent' });

/**
 * Correlation of the Laplacians (luma) of `before` and `after` inside a box: 1 when the letters'
 * strokes are all still there, about 0 when what is left (a mosaic's block edges) has nothing
 * to do with them.
 */
export function strokeCorrelation(before: Frame, after: Frame, box: { x: number; y: number; w: number; h: number }): number {
  const lap = (f: Frame, x: number, y: number) => {
    const l = (xx: number, yy: number) => { const i = (yy * f.width + xx) * 3; return 0.299 * f.data[i]! + 0.587 * f.data[i + 1]! + 0.114 * f.data[i + 2]!; };
    return 4 * l(x, y) - l(x - 1, y) - l(x + 1, y) - l(x, y - 1) - l(x, y + 1);
  };
  let sab = 0, saa = 0, sbb = 0;
  for (let y = Math.max(1, Math.floor(box.y)); y < Math.min(before.height - 1, Math.ceil(box.y + box.h)); y++) {
    for (let x = Math.max(1, Math.floor(box.x)); x < Math.min(before.width - 1, Math.ceil(box.x + box.w)); x++) {
      const a = lap(before, x, y), b = lap(after, x, y);
      sab += a * b; saa += a * a; sbb += b * b;
    }
  }
  return saa && sbb ? sab / Math.sqrt(saa * sbb) : 0;
}

/**
 * Share of the frame changed by redaction away from the given objects: pixels that differ (sum
 * of the channels' differences above 24) outside every object grown by its own size on each
 * side (a hidden box is padded) and above the watermark band. What a false detection costs.
 */
export function changedOutside(before: Frame, after: Frame, objects: Array<{ x: number; y: number; w: number; h: number }>): number {
  const grown = objects.map((o) => ({ x0: o.x - o.w, y0: o.y - o.h, x1: o.x + 2 * o.w, y1: o.y + 2 * o.h }));
  const band = Math.max(1, Math.floor(before.height / 360)) * 9;
  let changed = 0;
  const rows = before.height - band;
  for (let y = 0; y < rows; y++) for (let x = 0; x < before.width; x++) {
    if (grown.some((g) => x >= g.x0 && x < g.x1 && y >= g.y0 && y < g.y1)) continue;
    const i = (y * before.width + x) * 3;
    if (Math.abs(before.data[i]! - after.data[i]!) + Math.abs(before.data[i + 1]! - after.data[i + 1]!) + Math.abs(before.data[i + 2]! - after.data[i + 2]!) > 24) changed++;
  }
  return changed / (before.width * rows);
}

/** A real detector, made to throw on the calls `failOn` picks (a crash of the model, an OOM). */
export class Throwing implements Detector {
  readonly name: string;
  readonly version: string;
  calls = 0;
  constructor(private readonly inner: Detector, private readonly failOn: (call: number) => boolean) {
    this.name = inner.name;
    this.version = inner.version;
  }
  async detect(frame: Frame) {
    if (this.failOn(++this.calls)) throw new Error('injected detector failure');
    return this.inner.detect(frame);
  }
}
