import { iou, type Box } from './frame.js';

/**
 * Weighted NMS as MediaPipe (and keijiro's port) does it: overlapping boxes are averaged,
 * weighted by score, instead of keeping only the best, which steadies boxes between frames
 * and merges the same face seen by two tiles.
 */
export function weightedNms(boxes: Box[], threshold = 0.3): Box[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const used = new Array<boolean>(sorted.length).fill(false);
  const out: Box[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (used[i]) continue;
    const a = sorted[i]!;
    let sx = 0, sy = 0, sw = 0, sh = 0, ss = 0;
    for (let j = i; j < sorted.length; j++) {
      if (used[j]) continue;
      const b = sorted[j]!;
      if (j !== i && (iou(a, b) < threshold || b.cls !== a.cls)) continue;
      used[j] = true;
      sx += b.x * b.score; sy += b.y * b.score; sw += b.w * b.score; sh += b.h * b.score; ss += b.score;
    }
    out.push({ x: sx / ss, y: sy / ss, w: sw / ss, h: sh / ss, cls: a.cls, score: a.score });
  }
  return out;
}
