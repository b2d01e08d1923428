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

/** Where a horizontal line at `cy` crosses the polygon's edges, left to right (even-odd pairs). */
function crossings(pts: ReadonlyArray<readonly [number, number]>, cy: number): number[] {
  const xs: number[] = [];
  for (let i = 0; i < pts.length; i++) {
    const [ax, ay] = pts[i]!;
    const [bx, by] = pts[(i + 1) % pts.length]!;
    if ((ay <= cy && by > cy) || (by <= cy && ay > cy)) xs.push(ax + ((cy - ay) / (by - ay)) * (bx - ax));
  }
  return xs.sort((a, b) => a - b);
}

/**
 * Calls `span(y, x0, x1)` for each pixel row of a `width` x `height` frame with the pixels
 * x0 <= x < x1 of the polygon (even-odd rule): `centres`, the pixels whose centres lie inside
 * (what a check that a mask is painted may ask of every pixel); `touched`, every pixel any part
 * of the polygon covers, as the recording path's outlined masks paint them (what hiding must
 * blank: centres alone left a pixel up to half inside a mask's edge as it was, and a mask under
 * a pixel wide blank nowhere). `touched` is exact for convex polygons (each row's band is
 * sampled at its edges, quarters and centre, and spans the band's own corners); a concave one
 * can only be covered more, never less, than it is, between those samples.
 */
export function polygonSpans(m: MaskShape, width: number, height: number, span: (y: number, x0: number, x1: number) => void, cover: 'centres' | 'touched' = 'centres'): void {
  const pts = maskPolygon(m).map(([x, y]) => [x * width, y * height] as const);
  for (let y = 0; y < height; y++) {
    if (cover === 'centres') {
      const xs = crossings(pts, y + 0.5);
      for (let i = 0; i + 1 < xs.length; i += 2) {
        const x0 = Math.max(0, Math.ceil(xs[i]! - 0.5));
        const x1 = Math.min(width, Math.ceil(xs[i + 1]! - 0.5));
        if (x1 > x0) span(y, x0, x1);
      }
      continue;
    }
    const ranges: Array<[number, number]> = [];
    for (const cy of [y, y + 0.25, y + 0.5, y + 0.75, y + 1]) {
      const xs = crossings(pts, cy);
      for (let i = 0; i + 1 < xs.length; i += 2) ranges.push([xs[i]!, xs[i + 1]!]);
    }
    const corners = pts.filter(([, py]) => py >= y && py <= y + 1).map(([px]) => px);
    if (corners.length) ranges.push([Math.min(...corners), Math.max(...corners)]);
    const pixels = ranges.map(([a, b]) => [Math.max(0, Math.floor(a)), Math.min(width, Math.max(Math.ceil(b), Math.floor(a) + 1))] as [number, number])
      .filter(([a, b]) => b > a).sort((p, q) => p[0] - q[0]);
    let run: [number, number] | undefined;
    for (const p of pixels) {
      if (run && p[0] <= run[1]) run[1] = Math.max(run[1], p[1]);
      else {
        if (run) span(y, run[0], run[1]);
        run = [...p];
      }
    }
    if (run) span(y, run[0], run[1]);
  }
}
