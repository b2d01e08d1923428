import { iou, type Box } from './frame.js';

interface Track { box: Box; vx: number; vy: number; missed: number; lastSeen: number }

/**
 * Carries boxes between detection frames: each track moves by its velocity (from its last two
 * detections), and a track that found no detection is held `hold` detection rounds before it is
 * dropped, so a face the detector misses for a moment stays hidden.
 */
export class Tracker {
  private tracks: Track[] = [];
  constructor(private readonly hold = 2, private readonly matchIou = 0.2) {}

  /** New detections at frame `n`. */
  update(n: number, detections: Box[]): void {
    const unmatched = new Set(this.tracks.keys());
    const next: Track[] = [];
    for (const d of detections) {
      let best = -1, bestIou = this.matchIou;
      for (const i of unmatched) {
        const p = this.predict(this.tracks[i]!, n);
        const v = p.cls === d.cls ? iou(p, d) : 0;
        if (v > bestIou) { best = i; bestIou = v; }
      }
      if (best >= 0) {
        unmatched.delete(best);
        const t = this.tracks[best]!;
        const dt = Math.max(1, n - t.lastSeen);
        next.push({ box: d, vx: (d.x - t.box.x) / dt, vy: (d.y - t.box.y) / dt, missed: 0, lastSeen: n });
      } else {
        next.push({ box: d, vx: 0, vy: 0, missed: 0, lastSeen: n });
      }
    }
    for (const i of unmatched) {
      const t = this.tracks[i]!;
      if (t.missed + 1 <= this.hold) next.push({ ...t, box: this.predict(t, n), lastSeen: n, missed: t.missed + 1 });
    }
    this.tracks = next;
  }

  /** Boxes found at frame `n` outside a detection round (a recheck): new tracks, matched later like any other. */
  add(n: number, boxes: Box[]): void {
    for (const b of boxes) this.tracks.push({ box: b, vx: 0, vy: 0, missed: 0, lastSeen: n });
  }

  /** Boxes to hide at frame `n`: each track's predicted place, stretched to cover where it was too. */
  boxes(n: number): Box[] {
    return this.tracks.map((t) => {
      const p = this.predict(t, n);
      // The union of the last known and the predicted box: a wrong velocity still hides the face.
      const x0 = Math.min(p.x, t.box.x), y0 = Math.min(p.y, t.box.y);
      const x1 = Math.max(p.x + p.w, t.box.x + t.box.w), y1 = Math.max(p.y + p.h, t.box.y + t.box.h);
      return { ...p, x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
    });
  }

  private predict(t: Track, n: number): Box {
    const dt = n - t.lastSeen;
    return { ...t.box, x: t.box.x + t.vx * dt, y: t.box.y + t.vy * dt };
  }
}
