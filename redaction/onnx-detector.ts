import { basename } from 'node:path';
import ort from './ort.js';
import type { OnnxDetectorConfig } from '../config/schema.js';
import type { Detector } from './detector.js';
import type { Box, Frame } from './frame.js';
import { readModel } from './models.js';
import { weightedNms } from './nms.js';
import { letterbox, tiles, type Region, type SampleSpec } from './resample.js';

/**
 * Any ONNX detector, configured by path with its input and output layout
 * (`redaction.detectors[]`): a YOLO-style or SSD-style model whose rows are boxes with scores,
 * or a segmentation-style model whose output is a per-pixel probability map. The layout is
 * checked against the model's own metadata when it loads, so a wrong config fails there with
 * the field to fix, not later as silent misses.
 */

/**
 * Two intra-op threads, without spinning: the same settings for every detector. Measured on
 * Megamind.avi at 720p (EDGE_NVR_REDACTION_PROFILE, bench/README.md "Redaction"): one thread
 * costs 5-9% less CPU per frame for the same inferences (detection 60 ms a frame against 69 in
 * one profile; Node 85 against 90 ms over three alternated runs), but inference then holds the
 * export's one JavaScript thread alone: on two cores an export would be slower by about the
 * inference's parallel share. The detection thread (redaction/detection-worker.ts), where
 * decoding runs beside inference, uses one.
 * Graph optimisation stays onnxruntime's default (all): `basic` and `extended` cost 1.15-2 times
 * the CPU; without the CPU memory arena text detection cost 3 times as much.
 * The memory pattern is off: with it onnxruntime plans one block per input shape it has seen
 * and keeps it in the arena (the text detector's inputs come in many shapes: its levels, and the
 * parts of an input looked at around what changed), which held 50-100 MB more at 720p-4K for
 * no CPU saved (bench/README.md "Redaction: memory"); the kernels and so the outputs are the
 * same (test/redaction/pass1-memory.test.ts).
 */
export function sessionOptions(threads = 2): ort.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3, enableMemPattern: false, extra: { session: { intra_op: { allow_spinning: '0' } } } };
}

type Dims = ReadonlyArray<number | string>;
function dimsOf(meta: unknown): Dims | undefined {
  const shape = (meta as { shape?: unknown } | undefined)?.shape;
  return Array.isArray(shape) ? shape as Dims : undefined;
}

export class OnnxDetector implements Detector {
  readonly name: string;
  readonly version: string;
  private readonly input: string;
  private readonly output: string;
  private readonly sample: SampleSpec;

  private constructor(private readonly session: ort.InferenceSession, private readonly cfg: OnnxDetectorConfig, sha: string) {
    this.name = cfg.name;
    const o = cfg.output;
    this.version = `${basename(cfg.model)}@sha256:${sha.slice(0, 16)} ${o.format} threshold=${cfg.threshold} tile=${cfg.tile}`;
    this.input = cfg.input.tensor ?? session.inputNames[0]!;
    this.output = o.tensor ?? session.outputNames[0]!;
    const { width, height, layout, channels, mean, std, resize, pad_value } = cfg.input;
    const norm = (v: number, c: number) => (v / 255 - mean[c]!) / std[c]!;
    this.sample = { width, height, layout, norm, pad: [0, 1, 2].map((c) => norm(typeof pad_value === 'number' ? pad_value : pad_value[c]!, c)), stretch: resize === 'stretch', bgr: channels === 'bgr' };
  }

  /** `where` names the config entry in errors, e.g. redaction.detectors[0]. */
  static async create(cfg: OnnxDetectorConfig, where = `detector ${cfg.name}`, threads?: number): Promise<OnnxDetector> {
    const { bytes, sha256 } = readModel(cfg.model, `${where}.model`);
    if (cfg.sha256 && cfg.sha256 !== sha256) {
      throw new Error(`${where}.sha256: ${cfg.model} has sha256 ${sha256}, not the configured ${cfg.sha256}; refusing a model that changed`);
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions(threads));
    } catch (err) {
      throw new Error(`${where}.model: ${cfg.model} is not a model onnxruntime can load (${(err as Error).message.split('\n')[0]})`);
    }
    checkLayout(session, cfg, where);
    return new OnnxDetector(session, cfg, sha256);
  }

  async detect(frame: Frame): Promise<Box[]> {
    const regions: Region[] = [{ x: 0, y: 0, w: frame.width, h: frame.height }];
    if (this.cfg.tile > 0) regions.push(...tiles(frame.width, frame.height, this.cfg.tile));
    const found: Box[] = [];
    for (const r of regions) found.push(...(await this.detectRegion(frame, r)));
    return regions.length > 1 ? weightedNms(found, this.cfg.output.format === 'boxes' ? this.cfg.output.nms_iou : 0.3) : found;
  }

  async detectRegion(frame: Frame, region: Region): Promise<Box[]> {
    const { width: W, height: H, layout } = this.cfg.input;
    const { tensor, scaleX, scaleY } = letterbox(frame, region, this.sample);
    const shape = layout === 'nchw' ? [1, 3, H, W] : [1, H, W, 3];
    const result = await this.session.run({ [this.input]: new ort.Tensor('float32', tensor, shape) });
    const out = result[this.output];
    if (!out || out.type !== 'float32') throw new Error(`${this.name}: output ${this.output} is missing or not float32`);
    // model-input pixels to frame pixels
    const toFrame = (x: number, y: number, w: number, h: number, cls: string, score: number): Box =>
      ({ x: x / scaleX + region.x, y: y / scaleY + region.y, w: w / scaleX, h: h / scaleY, cls, score });
    const o = this.cfg.output;
    if (o.format === 'heatmap') {
      const [mh, mw] = out.dims.slice(-2) as [number, number];
      return heatmapBoxes(out.data as Float32Array, mw, mh, this.cfg.threshold, o.min_area, o.grow)
        .map((b) => toFrame(b.x * W / mw, b.y * H / mh, b.w * W / mw, b.h * H / mh, this.cfg.label, b.score));
    }
    return weightedNms(decodeRows(out.data as Float32Array, out.dims, o, this.cfg, W, H).map((r) => toFrame(r.x, r.y, r.w, r.h, r.cls, r.score)), o.nms_iou);
  }
}

type BoxesOutput = Extract<OnnxDetectorConfig['output'], { format: 'boxes' }>;

/** Rows of [.. box .. score .. class scores ..] to boxes in model-input pixels. */
export function decodeRows(data: Float32Array, dims: readonly number[], o: BoxesOutput, cfg: Pick<OnnxDetectorConfig, 'threshold' | 'label'>, W: number, H: number): Box[] {
  const last = dims[dims.length - 1]!;
  const rest = dims.length > 1 ? data.length / last : 1;
  // rows x values; transposed outputs are values x rows
  const rows = o.transposed ? last : rest, values = o.transposed ? rest : last;
  const at = (r: number, v: number) => data[o.transposed ? v * rows + r : r * values + v]!;
  const squash = (s: number) => (o.sigmoid ? 1 / (1 + Math.exp(-s)) : s);
  const sx = o.normalized ? W : 1, sy = o.normalized ? H : 1;
  const classes = o.classes_at !== undefined ? values - o.classes_at : 0;
  const boxes: Box[] = [];
  for (let r = 0; r < rows; r++) {
    let score = o.score_at !== undefined ? squash(at(r, o.score_at)) : 1;
    let cls = cfg.label;
    if (classes > 0) {
      let best = 0, bestScore = -Infinity;
      for (let c = 0; c < classes; c++) { const s = at(r, o.classes_at! + c); if (s > bestScore) { bestScore = s; best = c; } }
      score *= squash(bestScore);
      if (o.labels) {
        const name = o.labels[best];
        if (name === undefined) continue;
        cls = name;
      }
    }
    if (!(score > cfg.threshold)) continue;
    const a = at(r, o.box_at) * sx, b = at(r, o.box_at + 1) * sy, c = at(r, o.box_at + 2) * sx, d = at(r, o.box_at + 3) * sy;
    let x: number, y: number, w: number, h: number;
    if (o.box === 'xyxy') { x = a; y = b; w = c - a; h = d - b; }
    else if (o.box === 'xywh') { x = a; y = b; w = c; h = d; }
    else { x = a - c / 2; y = b - d / 2; w = c; h = d; }
    if (!(w > 0 && h > 0)) continue;
    boxes.push({ x, y, w, h, cls, score });
  }
  return boxes;
}

/**
 * A probability map to boxes in map pixels: 4-connected regions above the threshold, each grown
 * by `grow` times its thinner side (DBNet's map is the text shrunk by about that much).
 */
export function heatmapBoxes(map: Float32Array, width: number, height: number, threshold: number, minArea: number, grow: number): Array<Omit<Box, 'cls'>> {
  const out: Array<Omit<Box, 'cls'>> = [];
  for (const c of components(map, width, height, threshold)) {
    const h = c.y1 - c.y0 + 1, w = c.x1 - c.x0 + 1;
    if (c.area < minArea || h < 2) continue; // specks: no readable text is that small
    const pad = grow * Math.min(h, w);
    out.push({ x: c.x0 - pad, y: c.y0 - pad, w: w + 2 * pad, h: h + 2 * pad, score: c.sum / c.area });
  }
  return out;
}

/** 4-connected regions of map > threshold, with their bounds (iterative flood fill, no recursion). */
export function components(map: Float32Array, width: number, height: number, threshold: number) {
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const out: Array<{ x0: number; y0: number; x1: number; y1: number; area: number; sum: number }> = [];
  for (let start = 0; start < width * height; start++) {
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

/** The config against the model's metadata: every mismatch names the field to change. */
function checkLayout(session: ort.InferenceSession, cfg: OnnxDetectorConfig, where: string): void {
  const input = cfg.input.tensor ?? session.inputNames[0];
  const inIdx = input === undefined ? -1 : session.inputNames.indexOf(input);
  if (inIdx < 0) throw new Error(`${where}.input.tensor: the model has no input ${JSON.stringify(input)}; its inputs are ${session.inputNames.join(', ')}`);
  const output = cfg.output.tensor ?? session.outputNames[0];
  const outIdx = output === undefined ? -1 : session.outputNames.indexOf(output);
  if (outIdx < 0) throw new Error(`${where}.output.tensor: the model has no output ${JSON.stringify(output)}; its outputs are ${session.outputNames.join(', ')}`);
  const metaIn = dimsOf(session.inputMetadata?.[inIdx]);
  if (metaIn && metaIn.length !== 4) throw new Error(`${where}.input: the model's input ${input} has shape [${metaIn.join(', ')}]; expected an image tensor of 4 dimensions`);
  if (metaIn) {
    const { width, height, layout } = cfg.input;
    const want = layout === 'nchw' ? [1, 3, height, width] : [1, height, width, 3];
    const bad = want.findIndex((v, i) => typeof metaIn[i] === 'number' && metaIn[i] !== v);
    if (bad >= 0) {
      const other = layout === 'nchw' ? 'nhwc' : 'nchw';
      const channelsElsewhere = metaIn[other === 'nchw' ? 1 : 3] === 3;
      const fix = channelsElsewhere ? `layout ${other} (the model's 3 channels are ${other === 'nchw' ? 'second' : 'last'})` : bad === 0 ? 'a batch of 1' : 'width and height as the model has them';
      throw new Error(`${where}.input: the model's input ${input} has shape [${metaIn.join(', ')}] but the config gives [${want.join(', ')}] (layout ${layout}); expected ${fix}`);
    }
  }
  const metaOut = dimsOf(session.outputMetadata?.[outIdx]);
  const o = cfg.output;
  if (!metaOut || o.format !== 'boxes') return;
  const values = o.transposed ? metaOut[metaOut.length - 2] : metaOut[metaOut.length - 1];
  if (typeof values !== 'number') return;
  const need = Math.max(o.box_at + 4, (o.score_at ?? -1) + 1, (o.classes_at ?? -1) + 1);
  if (values < need) {
    throw new Error(`${where}.output: rows of ${output} hold ${values} values (shape [${metaOut.join(', ')}]) but box_at, score_at and classes_at need ${need}; ${o.transposed ? 'check transposed (the model may write rows along the middle axis)' : 'check transposed (YOLOv8 writes [1, values, rows]) and the indices'}`);
  }
}
