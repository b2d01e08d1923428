/** One decoded picture: packed RGB24, row-major, no padding between rows. */
export interface Frame {
  width: number;
  height: number;
  data: Buffer;
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

export function blankFrame(width: number, height: number): Frame {
  return { width, height, data: Buffer.alloc(width * height * 3) };
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
