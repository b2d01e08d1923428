import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/** A missing model is a hard error: without it nothing may leave the box (fail closed). */
export function readModel(path: string, hint: string): { bytes: Buffer; sha256: string } {
  if (!existsSync(path)) throw new Error(`detector model ${path} is missing (${hint}); refusing to export without it`);
  const bytes = readFileSync(path);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
