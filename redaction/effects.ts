import { polygonSpans, type MaskShape } from '../common/mask-geometry.js';
import { clampBox, paint, planes, type Frame } from './frame.js';

export type Method = 'pixelate' | 'blur' | 'fill';
type Rect = { x: number; y: number; w: number; h: number };

/**
 * Blocks across the short side of a hidden box. Measured: with 5 blocks BlazeFace still finds a
 * face in about a third of the pixelated faces of Megamind.avi (a 5x5 mosaic keeps the eye and
 * mouth layout); with 3 far fewer, and the redactor's second look catches what is left.
 */
const BLOCKS = 3;

type Span = { x0: number; y0: number; x1: number; y1: number };

/** Hides a rectangle in place (blocks of at least 6 px), in an RGB24 or a YUV 4:2:0 frame. */
export function hide(frame: Frame, box: Rect, method: Method, blocks = BLOCKS): void {
  const r = clampBox(box, frame.width, frame.height);
  if (r.empty) return;
  if (method === 'fill') return paint(frame, r, false);
  const block = Math.max(6, Math.ceil(Math.min(r.x1 - r.x0, r.y1 - r.y0) / blocks));
  if (frame.format === 'yuv420p') return hideYuv(frame, r, method, block);
  if (method === 'pixelate') return pixelate(frame, r, block);
  // blur: pixelate first (it alone is irreversible), then smooth the block edges away
  pixelate(frame, r, block);
  boxBlur(frame, r, Math.ceil(block / 2));
}

/**
 * The same in YUV 4:2:0: each plane on its own, luma in blocks of `block`, chroma over the
 * 2x2 cells the rectangle touches in blocks of half that (the same blocks of the picture).
 */
function hideYuv(frame: Frame, r: Span, method: Method, block: number): void {
  const { width, height, data } = frame;
  const { u, v, cw, ch } = planes(frame);
  const c: Span = { x0: r.x0 >> 1, y0: r.y0 >> 1, x1: Math.min(cw, (r.x1 + 1) >> 1), y1: Math.min(ch, (r.y1 + 1) >> 1) };
  const cblock = Math.max(1, Math.round(block / 2));
  const each = (fn: (data: Buffer, at: number, stride: number, lines: number, s: Span, b: number) => void) => {
    fn(data, 0, width, height, r, block);
    fn(data, u, cw, ch, c, cblock);
    fn(data, v, cw, ch, c, cblock);
  };
  each(pixelatePlane);
  if (method === 'blur') each((d, at, stride, _lines, s, b) => blurPlane(d, at, stride, s, Math.ceil(b / 2)));
}

/** One plane (one byte a pixel, `stride` a row, starting at `at`): the mean of each block. */
function pixelatePlane(data: Buffer, at: number, stride: number, _lines: number, r: Span, block: number): void {
  for (let by = r.y0; by < r.y1; by += block) {
    const ey = Math.min(r.y1, by + block);
    for (let bx = r.x0; bx < r.x1; bx += block) {
      const ex = Math.min(r.x1, bx + block);
      let sum = 0;
      for (let y = by; y < ey; y++) for (let i = at + y * stride + bx, e = at + y * stride + ex; i < e; i++) sum += data[i]!;
      const mean = Math.round(sum / ((ey - by) * (ex - bx)));
      for (let y = by; y < ey; y++) data.fill(mean, at + y * stride + bx, at + y * stride + ex);
    }
  }
}

/** One plane: horizontal then vertical running mean, inside the rectangle only. */
function blurPlane(data: Buffer, at: number, stride: number, r: Span, radius: number): void {
  const pass = (len: number, lines: number, idx: (line: number, k: number) => number) => {
    const tmp = new Float32Array(len);
    for (let l = 0; l < lines; l++) {
      for (let k = 0; k < len; k++) tmp[k] = data[idx(l, k)]!;
      for (let k = 0; k < len; k++) {
        const a = Math.max(0, k - radius), b = Math.min(len - 1, k + radius);
        let s = 0;
        for (let j = a; j <= b; j++) s += tmp[j]!;
        data[idx(l, k)] = Math.round(s / (b - a + 1));
      }
    }
  };
  pass(r.x1 - r.x0, r.y1 - r.y0, (l, k) => at + (r.y0 + l) * stride + r.x0 + k);
  pass(r.y1 - r.y0, r.x1 - r.x0, (l, k) => at + (r.y0 + k) * stride + r.x0 + l);
}

function pixelate(frame: Frame, r: Span, block: number): void {
  const { width, data } = frame;
  for (let by = r.y0; by < r.y1; by += block) {
    const ey = Math.min(r.y1, by + block);
    for (let bx = r.x0; bx < r.x1; bx += block) {
      const ex = Math.min(r.x1, bx + block);
      let s0 = 0, s1 = 0, s2 = 0;
      for (let y = by; y < ey; y++) for (let x = bx, i = (y * width + bx) * 3; x < ex; x++, i += 3) { s0 += data[i]!; s1 += data[i + 1]!; s2 += data[i + 2]!; }
      const n = (ey - by) * (ex - bx);
      const v0 = Math.round(s0 / n), v1 = Math.round(s1 / n), v2 = Math.round(s2 / n);
      for (let y = by; y < ey; y++) for (let x = bx, i = (y * width + bx) * 3; x < ex; x++, i += 3) { data[i] = v0; data[i + 1] = v1; data[i + 2] = v2; }
    }
  }
}

/** Horizontal then vertical running mean, inside the rectangle only. */
function boxBlur(frame: Frame, r: { x0: number; y0: number; x1: number; y1: number }, radius: number): void {
  const { width, data } = frame;
  const pass = (len: number, lines: number, at: (line: number, k: number) => number) => {
    const tmp = new Float32Array(len * 3);
    for (let l = 0; l < lines; l++) {
      for (let k = 0; k < len; k++) for (let c = 0; c < 3; c++) tmp[k * 3 + c] = data[at(l, k) + c]!;
      for (let k = 0; k < len; k++) {
        const a = Math.max(0, k - radius), b = Math.min(len - 1, k + radius);
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let j = a; j <= b; j++) s += tmp[j * 3 + c]!;
          data[at(l, k) + c] = Math.round(s / (b - a + 1));
        }
      }
    }
  };
  pass(r.x1 - r.x0, r.y1 - r.y0, (l, k) => ((r.y0 + l) * width + r.x0 + k) * 3);
  pass(r.y1 - r.y0, r.x1 - r.x0, (l, k) => ((r.y0 + k) * width + r.x0 + l) * 3);
}

/** Static masks (config `privacy_masks` and `capture_masks`, fractions of the frame): always solid black. */
export function burnMasks(frame: Frame, masks: MaskShape[]): number {
  for (const m of masks) {
    if ('points' in m) {
      polygonSpans(m, frame.width, frame.height, (y, x0, x1) => paint(frame, { x0, y0: y, x1, y1: y + 1 }, false), 'touched');
      continue;
    }
    const r = clampBox({ x: m.x * frame.width, y: m.y * frame.height, w: m.w * frame.width, h: m.h * frame.height }, frame.width, frame.height);
    if (!r.empty) paint(frame, r, false);
  }
  return masks.length;
}

/** Grows a box by `share` of its size on every side (detector boxes are tight; hair and ears are not in them). */
export function padBox<T extends Rect>(b: T, share: number): T {
  return { ...b, x: b.x - b.w * share, y: b.y - b.h * share, w: b.w * (1 + 2 * share), h: b.h * (1 + 2 * share) };
}
