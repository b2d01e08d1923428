import type { Box, Frame } from './frame.js';

const luma = (f: Frame, x: number, y: number) => {
  const i = (Math.min(f.height - 1, Math.max(0, y)) * f.width + Math.min(f.width - 1, Math.max(0, x))) * 3;
  return (f.data[i]! * 77 + f.data[i + 1]! * 150 + f.data[i + 2]! * 29) >> 8;
};

/**
 * How far the content of `box` moved per frame from `prev` to `cur`, by block matching on luma
 * in the middle half of the box (up to 16x16 samples, a coarse search then a fine one around its best). Tracks use it to
 * carry a box to the frames before its first and after its last detection; an answer no better
 * than standing still (a textureless box) is 0, and those frames also keep the box where it was.
 */
export function boxMotion(prev: Frame, cur: Frame, box: Box): { vx: number; vy: number } {
  // the middle half of the box: detector boxes are padded (text by a line's height on each
  // side), and a padded box is mostly background, which holds still while the object moves
  const x0 = Math.max(0, Math.round(box.x + box.w / 4)), y0 = Math.max(0, Math.round(box.y + box.h / 4));
  const x1 = Math.min(cur.width, Math.round(box.x + (box.w * 3) / 4)), y1 = Math.min(cur.height, Math.round(box.y + (box.h * 3) / 4));
  if (x1 - x0 < 4 || y1 - y0 < 4) return { vx: 0, vy: 0 };
  const nx = Math.min(16, x1 - x0), ny = Math.min(16, y1 - y0);
  const px: number[] = [], py: number[] = [], ref: number[] = [];
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    const x = Math.round(x0 + ((i + 0.5) * (x1 - x0)) / nx), y = Math.round(y0 + ((j + 0.5) * (y1 - y0)) / ny);
    px.push(x); py.push(y); ref.push(luma(cur, x, y));
  }
  const sad = (dx: number, dy: number) => {
    let s = 0;
    for (let k = 0; k < ref.length; k++) s += Math.abs(ref[k]! - luma(prev, px[k]! + dx, py[k]! + dy));
    return s;
  };
  const reach = Math.round(Math.min(48, Math.max(8, 0.5 * Math.max(box.w, box.h))));
  const step = Math.max(1, Math.round(reach / 8));
  const still = sad(0, 0);
  let best = still, bx = 0, by = 0;
  for (let dy = -reach; dy <= reach; dy += step) for (let dx = -reach; dx <= reach; dx += step) {
    const s = sad(dx, dy);
    if (s < best) { best = s; bx = dx; by = dy; }
  }
  const cx = bx, cy = by;
  for (let dy = cy - step + 1; dy < cy + step; dy++) for (let dx = cx - step + 1; dx < cx + step; dx++) {
    const s = sad(dx, dy);
    if (s < best) { best = s; bx = dx; by = dy; }
  }
  // not clearly better than no motion: a flat or repetitive box, where matching says nothing
  if (best > still * 0.8) return { vx: 0, vy: 0 };
  // content at p now was at p + (bx, by) in the previous frame
  return { vx: -bx, vy: -by };
}
