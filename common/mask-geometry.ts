/**
 * Masks (config `privacy_masks` and `capture_masks`): a rectangle `{x, y, w, h}` or a polygon
 * `{points: [[x, y], ...]}`, in fractions of the frame. One geometry for the recording path
 * (painted by GStreamer) and the egress gate (burnt into exported frames).
 */
export type MaskShape = { x: number; y: number; w: number; h: number } | { points: number[][] };

/** The mask's corners in fractions of the frame, clockwise from the top left for a rectangle. */
export function maskPolygon(m: MaskShape): Array<[number, number]> {
  if ('points' in m) return m.points.map((p) => [p[0] ?? 0, p[1] ?? 0]);
  return [[m.x, m.y], [m.x + m.w, m.y], [m.x + m.w, m.y + m.h], [m.x, m.y + m.h]];
}

/**
 * Calls `span(y, x0, x1)` for each pixel row of a `width` x `height` frame with the pixels
 * x0 <= x < x1 whose centres lie inside the polygon (even-odd rule).
 */
export function polygonSpans(m: MaskShape, width: number, height: number, span: (y: number, x0: number, x1: number) => void): void {
  const pts = maskPolygon(m).map(([x, y]) => [x * width, y * height] as const);
  for (let y = 0; y < height; y++) {
    const cy = y + 0.5;
    const xs: number[] = [];
    for (let i = 0; i < pts.length; i++) {
      const [ax, ay] = pts[i]!;
      const [bx, by] = pts[(i + 1) % pts.length]!;
      if ((ay <= cy && by > cy) || (by <= cy && ay > cy)) xs.push(ax + ((cy - ay) / (by - ay)) * (bx - ax));
    }
    xs.sort((a, b) => a - b);
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const x0 = Math.max(0, Math.ceil(xs[i]! - 0.5));
      const x1 = Math.min(width, Math.ceil(xs[i + 1]! - 0.5));
      if (x1 > x0) span(y, x0, x1);
    }
  }
}
