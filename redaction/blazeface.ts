import ort from './ort.js';
import type { Detector } from './detector.js';
import type { Box, Frame } from './frame.js';
import { modelPath, readModel } from './models.js';
import { weightedNms } from './nms.js';
import { sessionOptions } from './onnx-detector.js';
import { letterbox, tiles, type Region } from './resample.js';

export interface BlazeFaceOptions {
  /** models/face_detection_back_256x256_barracuda.onnx unless given */
  model?: string;
  /** sigmoid score above which an anchor is a face; low on purpose: a missed face leaks */
  threshold?: number;
  /** tile edge in frame pixels for small faces; 0 = whole frame only; 'auto': 384 above 800 lines, 512 below */
  tile?: number | 'auto';
  /** intra-op threads: 2 by default, without spinning (measured at 720p: 1 thread 14.3 fps, 2 spinning 15.3 fps at 100 ms CPU a frame, 2 idle-waiting 15.9 fps at 72 ms) */
  threads?: number;
}

/**
 * The anchor layout of MediaPipe's BlazeFace as exported by keijiro (both the 128 front and the
 * 256 back model): a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 6, 896 in all,
 * anchors at cell centres with unit size. Outputs Identity/Identity_2 are scores and boxes of
 * the first grid, Identity_1/Identity_3 of the second; each box row is
 * [dx, dy, w, h, 6 keypoints x 2], in model-input pixels relative to the anchor.
 */
const GRIDS = [
  { cells: 16, anchors: 2, scores: 'Identity:0', boxes: 'Identity_2:0' },
  { cells: 8, anchors: 6, scores: 'Identity_1:0', boxes: 'Identity_3:0' },
] as const;

/**
 * Tiles of 384 px find 24-30 px faces in a 1080p frame (11-12 of 12 in our test, against 0 for
 * the whole frame alone); at 720p tiles of 512 px keep detection at 7 inferences a frame, which
 * finds faces from about 32 px.
 */
export function autoTile(height: number): number {
  return height > 800 ? 384 : 512;
}

export class BlazeFace implements Detector {
  readonly name = 'blazeface';
  readonly version: string;
  private constructor(private readonly session: ort.InferenceSession, private readonly size: number,
    private readonly opts: { threshold: number; tile: number | 'auto' }, sha: string, file: string) {
    this.version = `${file}@sha256:${sha.slice(0, 16)} threshold=${opts.threshold} tile=${opts.tile}`;
  }

  static async create(options: BlazeFaceOptions = {}): Promise<BlazeFace> {
    const path = options.model ?? modelPath('face_detection_back_256x256_barracuda.onnx');
    const { bytes, sha256 } = readModel(path, 'run scripts/fetch-models');
    const session = await ort.InferenceSession.create(bytes, sessionOptions(options.threads));
    const shape = (session.inputMetadata[0] as { shape?: unknown[] } | undefined)?.shape;
    const size = typeof shape?.[1] === 'number' ? shape[1] : 256;
    return new BlazeFace(session, size, { threshold: options.threshold ?? 0.35, tile: options.tile ?? 0 },
      sha256, path.split('/').pop()!);
  }

  /** The whole frame, then overlapping tiles so that 20-30 px faces of a 1080p frame stay big enough. */
  async detect(frame: Frame): Promise<Box[]> {
    const regions: Region[] = [{ x: 0, y: 0, w: frame.width, h: frame.height }];
    const tile = this.opts.tile === 'auto' ? autoTile(frame.height) : this.opts.tile;
    if (tile > 0) regions.push(...tiles(frame.width, frame.height, tile));
    const found: Box[] = [];
    for (const r of regions) found.push(...(await this.detectRegion(frame, r)));
    return weightedNms(found, 0.3);
  }

  async detectRegion(frame: Frame, region: Region): Promise<Box[]> {
    const size = this.size;
    // The model takes RGB in [-1, 1]; letterbox padding is mid grey.
    const { tensor, scaleX: scale } = letterbox(frame, region, { width: size, height: size, layout: 'nhwc', norm: (v) => v / 127.5 - 1, pad: [0, 0, 0] });
    const input = new ort.Tensor('float32', tensor, [1, size, size, 3]);
    const out = await this.session.run({ [this.session.inputNames[0]!]: input });
    const boxes: Box[] = [];
    const logit = Math.log(this.opts.threshold / (1 - this.opts.threshold));
    for (const g of GRIDS) {
      const scores = out[g.scores]!.data as Float32Array;
      const regs = out[g.boxes]!.data as Float32Array;
      for (let i = 0; i < scores.length; i++) {
        if (scores[i]! < logit) continue;
        const cell = Math.floor(i / g.anchors);
        const ax = ((cell % g.cells) + 0.5) / g.cells;
        const ay = (Math.floor(cell / g.cells) + 0.5) / g.cells;
        const cx = (ax + regs[i * 16]! / size) * size;
        const cy = (ay + regs[i * 16 + 1]! / size) * size;
        const w = regs[i * 16 + 2]!;
        const h = regs[i * 16 + 3]!;
        if (!(w > 0 && h > 0)) continue;
        boxes.push({
          x: (cx - w / 2) / scale + region.x, y: (cy - h / 2) / scale + region.y, w: w / scale, h: h / scale,
          cls: 'face', score: 1 / (1 + Math.exp(-scores[i]!)),
        });
      }
    }
    return boxes;
  }
}
