/**
 * One decoded picture, row-major, no padding between rows: packed RGB24 (what the detectors
 * read), or planar YUV 4:2:0 (`format: 'yuv420p'`: the full-size Y plane, then U and V at half
 * the width and height, rounded up), what ffmpeg decodes and x264 encodes without converting:
 * the frames of an export's second pass, which are only hidden, masked and watermarked.
 */
export interface Frame {
  width: number;
  height: number;
  data: Buffer;
  format?: 'yuv420p';
}

/** Bytes of a frame of this size and format. */
export function frameBytes(width: number, height: number, format?: 'yuv420p'): number {
  return format === 'yuv420p' ? width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2) : width * height * 3;
}

/** The planes of a YUV 4:2:0 frame: offsets into `data`, and the chroma planes' size. */
export function planes(frame: Frame): { u: number; v: number; cw: number; ch: number } {
  const cw = Math.ceil(frame.width / 2), ch = Math.ceil(frame.height / 2);
  return { u: frame.width * frame.height, v: frame.width * frame.height + cw * ch, cw, ch };
}

/**
 * Paints a rectangle (x1, y1 excluded) black (0) or white (255). In YUV these are what ffmpeg's
 * RGB24 to yuv420p conversion (limited range, BT.601) makes of RGB black and white: Y 16 or
 * 235, U and V 128, so a frame painted either way encodes alike. Chroma rows and columns that the
 * rectangle touches are painted whole (a 2x2 block half inside is neutral too).
 */
export function paint(frame: Frame, r: { x0: number; y0: number; x1: number; y1: number }, white: boolean): void {
  const { width, data } = frame;
  if (frame.format !== 'yuv420p') {
    for (let y = r.y0; y < r.y1; y++) data.fill(white ? 255 : 0, (y * width + r.x0) * 3, (y * width + r.x1) * 3);
    return;
  }
  for (let y = r.y0; y < r.y1; y++) data.fill(white ? 235 : 16, y * width + r.x0, y * width + r.x1);
  const { u, v, cw } = planes(frame);
  const cx0 = r.x0 >> 1, cx1 = (r.x1 + 1) >> 1;
  for (let y = r.y0 >> 1; y < (r.y1 + 1) >> 1; y++) {
    data.fill(128, u + y * cw + cx0, u + y * cw + cx1);
    data.fill(128, v + y * cw + cx0, v + y * cw + cx1);
  }
}

/** A region in pixels of the frame it was found in. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  /** what it hides: face, text, or a detector-specific class */
  cls: string;
  score: number;
}

/** A black frame of this size and format. */
export function blankFrame(width: number, height: number, format?: 'yuv420p'): Frame {
  const f: Frame = { width, height, data: Buffer.alloc(frameBytes(width, height, format)), ...(format ? { format } : {}) };
  if (format) paint(f, { x0: 0, y0: 0, x1: width, y1: height }, false);
  return f;
}

/** Clamps a box to the frame, rounding outwards so no edge pixel escapes. */
export function clampBox(b: { x: number; y: number; w: number; h: number }, width: number, height: number) {
  const x0 = Math.max(0, Math.floor(b.x));
  const y0 = Math.max(0, Math.floor(b.y));
  const x1 = Math.min(width, Math.ceil(b.x + b.w));
  const y1 = Math.min(height, Math.ceil(b.y + b.h));
  return { x0, y0, x1, y1, empty: x1 <= x0 || y1 <= y0 };
}

export function iou(a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number; h: number }): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}
