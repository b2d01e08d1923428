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

/**
 * The mask grown outward by `by` (a fraction of the frame) on every side, kept within the frame:
 * a rectangle stays a rectangle; a polygon's corners move out along their bisectors (mitred, at
 * most 4 x `by` at a sharp corner, which still keeps the corner inside). What the box asks a
 * camera to hold, so that a camera rounding corners to its own grid still covers the mask.
 */
export function growMask(m: MaskShape, by: number): MaskShape {
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  if (!('points' in m)) {
    const x0 = clamp(m.x - by), y0 = clamp(m.y - by), x1 = clamp(m.x + m.w + by), y1 = clamp(m.y + m.h + by);
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  const pts = maskPolygon(m);
  const n = pts.length;
  // the shoelace sum's sign says which way the polygon turns, so which side of each edge is out
  let area = 0;
  for (let i = 0; i < n; i++) area += pts[i]![0] * pts[(i + 1) % n]![1] - pts[(i + 1) % n]![0] * pts[i]![1];
  const out = area >= 0 ? 1 : -1;
  const normal = (a: readonly number[], b: readonly number[]): [number, number] | null => {
    const dx = b[0]! - a[0]!, dy = b[1]! - a[1]!, len = Math.hypot(dx, dy);
    return len > 0 ? [(out * dy) / len, (-out * dx) / len] : null;
  };
  const edgeNormal = (i: number, step: 1 | -1): [number, number] => {
    // the nearest edge of non-zero length on that side (repeated corners have none of their own)
    for (let k = 0; k < n; k++) {
      const a = pts[(((i + step * k) % n) + n) % n]!, b = pts[(((i + step * (k + 1)) % n) + n) % n]!;
      const nv = step === 1 ? normal(a, b) : normal(b, a);
      if (nv) return nv;
    }
    return [0, 0];
  };
  return {
    points: pts.map((p, i) => {
      const [ax, ay] = edgeNormal(i, -1), [bx, by2] = edgeNormal(i, 1);
      const sx = ax + bx, sy = ay + by2, dot = ax * bx + ay * by2;
      // the mitre: the point `by` from both edges' lines; a corner turning back on itself goes along its edge
      let mx = dot > -1 + 1e-9 ? sx / (1 + dot) : -out * ay, my = dot > -1 + 1e-9 ? sy / (1 + dot) : out * ax;
      const len = Math.hypot(mx, my);
      if (len > 4) { mx *= 4 / len; my *= 4 / len; }
      return [clamp(p[0] + by * mx), clamp(p[1] + by * my)];
    }),
  };
}

/** The resolution (cells per side of the frame) at which `maskCoverage` compares areas: under a quarter pixel of a 1080p frame. */
const COVER_GRID = 4096;

/**
 * Whether the union of `covers` hides a mask: every cell of a fine grid over the frame that any
 * part of the mask touches has its centre inside one of `covers`: a cover moved inward by a
 * quarter of a 1080p pixel fails, one grown by a few thousandths of the frame passes. The covers
 * are laid on the grid once, for every mask asked about.
 */
export function maskCoverage(covers: MaskShape[]): (m: MaskShape) => boolean {
  const rows: Array<Array<[number, number]>> = Array.from({ length: COVER_GRID }, () => []);
  for (const c of covers) polygonSpans(c, COVER_GRID, COVER_GRID, (y, x0, x1) => { rows[y]!.push([x0, x1]); });
  for (const r of rows) r.sort((a, b) => a[0] - b[0]);
  return (m) => {
    let covered = true;
    polygonSpans(m, COVER_GRID, COVER_GRID, (y, x0, x1) => {
      if (!covered) return;
      // walk the row's cover spans in order, extending `reach` while they touch
      let reach = x0;
      for (const [a, b] of rows[y]!) {
        if (a > reach) break;
        reach = Math.max(reach, b);
        if (reach >= x1) return;
      }
      covered = false;
    }, 'touched');
    return covered;
  };
}
