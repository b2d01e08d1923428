import { iou, type Box } from './frame.js';

/** A detection at frame `n`, with the motion of its content per frame (redaction/motion.ts). */
export interface Sighting { n: number; box: Box; vx: number; vy: number }

interface Track { sightings: Sighting[]; missed: number; open: boolean }

/**
 * A track a detection round started (nothing of an earlier round matched it): the object may
 * have entered at any frame since that round. `earlier` adds a sighting found by looking back at
 * those frames (Redactor's look back), so the track starts where the object really was.
 */
export interface NewTrack { sighting: Sighting; earlier: (s: Sighting) => void }
/** A track a round did not find again: `sighting` is its last; `later` adds one found between it and the round. */
export interface LostTrack { sighting: Sighting; later: (s: Sighting) => void }
/**
 * A track a round found again, but not where its last sighting's motion carried it (overlap
 * under half): the object turned, sped up, or one of the two detections holds only part of it
 * (or another thing nearby). `between` adds a sighting found between the two.
 */
export interface UnevenTrack { before: Sighting; after: Sighting; between: (s: Sighting) => void }

const centre = (b: Box) => [b.x + b.w / 2, b.y + b.h / 2] as const;
/** A sighting's box carried to frame n by its motion. */
export const moved = (s: Sighting, n: number): Box => ({ ...s.box, x: s.box.x + s.vx * (n - s.n), y: s.box.y + s.vy * (n - s.n) });
/** The smallest box holding all of `boxes` (the first one's class and score). */
export function union(boxes: Box[]): Box {
  const x0 = Math.min(...boxes.map((b) => b.x)), y0 = Math.min(...boxes.map((b) => b.y));
  const x1 = Math.max(...boxes.map((b) => b.x + b.w)), y1 = Math.max(...boxes.map((b) => b.y + b.h));
  return { ...boxes[0]!, x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
/** Centres closer than 0.6 box sizes: the same object, even where a detection holds only part of it. */
export function near(a: Box, b: Box): boolean {
  const [ax, ay] = centre(a), [bx, by] = centre(b);
  return Math.hypot(ax - bx, ay - by) < 0.6 * Math.max(a.w, a.h, b.w, b.h);
}
/** A sighting into its track, in frame order (looking between rounds finds them out of order). */
function insert(t: Track, s: Sighting): void {
  const at = t.sightings.findIndex((x) => x.n > s.n);
  t.sightings.splice(at < 0 ? t.sightings.length : at, 0, s);
}
function grow(b: Box, share: number): Box {
  return { ...b, x: b.x - b.w * share, y: b.y - b.h * share, w: b.w * (1 + 2 * share), h: b.h * (1 + 2 * share) };
}

/**
 * One detector's tracks over a whole clip, built from its detection rounds (every k-th frame and
 * scene changes) and then turned into the boxes to hide in every frame. An export is not live:
 * the whole clip is seen before a pixel is written, so a box is carried both ways:
 * - between two detections of a track, the union of the straight line between them and each
 *   end moved by its own motion; on a detection, the detection joined with its neighbours
 *   moved there (a detection may hold only part of the object);
 * - before a track's first detection and after its last, for `hold` more detection rounds (the
 *   detector may have missed it there) and at least up to the round that did not see it: the
 *   box where it was, joined with the box moved by its motion, growing with the distance. So an
 *   object is hidden from the first frame it appears, not from the first frame a detector ran on.
 * Tracks never cross a scene change (`cut`); a detection round runs on every cut.
 */
export class TrackBuilder {
  private readonly tracks: Track[] = [];
  private readonly rounds: number[] = [];
  private readonly cuts: number[] = [0];
  /** settledBefore() until the tracks change (it walks every track; pass 2 beside pass 1 asks after every frame) */
  private settled: number | undefined;
  constructor(private readonly every: number, private readonly hold = 2, private readonly matchIou = 0.1) {}

  /** A scene change at frame n: no track goes on past it. */
  cut(n: number): void {
    this.settled = undefined;
    for (const t of this.tracks) t.open = false;
    if (n > this.cuts[this.cuts.length - 1]!) this.cuts.push(n);
  }

  /** A detection round at frame n and what it found; the tracks it started, and those it lost (not found again, for the first time). */
  round(n: number, found: Sighting[]): { started: NewTrack[]; lost: LostTrack[]; uneven: UnevenTrack[] } {
    this.rounds.push(n);
    this.settled = undefined;
    // looking between rounds adds sightings later, through the callbacks below
    const insertInto = (t: Track, s: Sighting) => { this.settled = undefined; insert(t, s); };
    const open = this.tracks.filter((t) => t.open);
    const pairs: Array<[number, Track, Sighting]> = [];
    for (const t of open) {
      const last = t.sightings[t.sightings.length - 1]!;
      const p = moved(last, n);
      for (const s of found) {
        if (s.box.cls !== p.cls) continue;
        const v = iou(p, s.box);
        if (v > this.matchIou || near(p, s.box)) pairs.push([v > this.matchIou ? v : 0.01, t, s]);
      }
    }
    pairs.sort((a, b) => b[0] - a[0]);
    const usedT = new Set<Track>(), usedS = new Set<Sighting>();
    const uneven: UnevenTrack[] = [];
    for (const [, t, s] of pairs) {
      if (usedT.has(t) || usedS.has(s)) continue;
      usedT.add(t); usedS.add(s);
      const before = t.sightings[t.sightings.length - 1]!;
      if (iou(moved(before, n), s.box) < 0.5) uneven.push({ before, after: s, between: (m) => insertInto(t, m) });
      t.sightings.push(s);
      t.missed = 0;
    }
    const lost: LostTrack[] = [];
    for (const t of open) {
      if (usedT.has(t)) continue;
      if (++t.missed > this.hold) t.open = false;
      if (t.missed === 1) lost.push({ sighting: t.sightings[t.sightings.length - 1]!, later: (s) => insertInto(t, s) });
    }
    const started: NewTrack[] = [];
    for (const s of found) {
      if (usedS.has(s)) continue;
      const t: Track = { sightings: [s], missed: 0, open: true };
      this.tracks.push(t);
      started.push({ sighting: s, earlier: (e) => insertInto(t, e) });
    }
    return { started, lost, uneven };
  }

  /** Found outside a round (the second look at a redacted frame): new tracks, matched later like any other. */
  add(found: Sighting[]): void {
    this.settled = undefined;
    for (const s of found) this.tracks.push({ sightings: [s], missed: 0, open: true });
  }

  /**
   * The boxes to hide in each of `frames` frames, or (`from`, `to`) in frames from..to-1 only
   * (out[0] is frame `from`): the same boxes in the same order as the whole clip's, since every
   * track puts its boxes in frame order whatever the range.
   */
  boxes(frames: number, from = 0, to = frames): Box[][] {
    const upto = Math.min(to, frames);
    const out: Box[][] = Array.from({ length: Math.max(0, upto - from) }, () => []);
    const put = (n: number, b: Box) => { if (n >= from && n < upto) out[n - from]!.push(b); };
    for (const t of this.tracks) {
      const ss = t.sightings;
      const first = ss[0]!, last = ss[ss.length - 1]!;
      const [start, end] = this.shot(first.n, frames);
      const back = Math.max(start, this.roundAway(first.n, -(this.hold + 1)) + 1);
      const ahead = Math.min(end, this.roundAway(last.n, this.hold + 1) - 1);
      if (Math.max(ahead, last.n) < from || back >= upto) continue; // none of its boxes in the range
      for (let k = 0; k < ss.length; k++) {
        const a = ss[k]!, b = ss[k + 1], before = ss[k - 1];
        // a detection may hold only part of the object (a word of a plate, a face half turned):
        // its neighbours, carried here by their motion, stand in for the rest
        if (a.n >= from && a.n < upto) put(a.n, union([a.box, ...(before ? [moved(before, a.n)] : []), ...(b ? [moved(b, a.n)] : [])]));
        if (!b) break;
        for (let n = Math.max(a.n + 1, from); n < Math.min(b.n, upto); n++) {
          const f = (n - a.n) / (b.n - a.n);
          const line = { ...a.box, x: a.box.x + (b.box.x - a.box.x) * f, y: a.box.y + (b.box.y - a.box.y) * f, w: a.box.w + (b.box.w - a.box.w) * f, h: a.box.h + (b.box.h - a.box.h) * f };
          put(n, union([line, moved(a, n), moved(b, n)]));
        }
      }
      for (let n = Math.max(back, from); n < Math.min(first.n, upto); n++) put(n, this.carried(first, n));
      for (let n = Math.max(last.n + 1, from); n <= Math.min(ahead, upto - 1); n++) put(n, this.carried(last, n));
    }
    return out;
  }

  /**
   * The first frame whose boxes rounds still to come may change: every frame before it has its
   * final boxes, whatever the rest of the clip holds (pass 2 can write it while pass 1 goes on).
   * Rounds to come (the due ones, a cut's, the clip's last frame's, which may be the last frame
   * already looked at) change boxes only through
   * - a new track (found by such a round, by looking back from it, or by the look after hiding
   *   there): its first sighting comes after the last round that ran (looking back looks only at
   *   the frames since it), so its boxes are carried back at most to `hold + 1` rounds before
   *   that, and never past the shot's first frame;
   * - an open track found again, looked for between rounds (lost or uneven) or carried further:
   *   its new sightings come after its last one, and what changes is that sighting's box (joined
   *   with its new neighbour) and the frames after it.
   * A closed track is never matched again; its boxes after its last sighting end at a round that
   * ran (`hold + 1` misses) or at the cut that closed it. (Where a failing detector ran no round,
   * the frames it failed on are blank whatever their boxes.)
   */
  settledBefore(): number {
    if (this.settled !== undefined) return this.settled;
    const lastRound = this.rounds[this.rounds.length - 1];
    if (lastRound === undefined) return 0;
    let before = Math.max(this.cuts[this.cuts.length - 1]!, this.roundAway(lastRound + 1, -(this.hold + 1)) + 1);
    for (const t of this.tracks) if (t.open) before = Math.min(before, t.sightings[t.sightings.length - 1]!.n);
    return (this.settled = before);
  }

  /** A sighting carried to frame n: where it was and where its motion takes it, grown 3% of its size a frame (at most half). */
  private carried(s: Sighting, n: number): Box {
    return grow(union([s.box, moved(s, n)]), Math.min(0.5, 0.03 * Math.abs(n - s.n)));
  }

  /** The first and last frame of the shot holding frame n. */
  private shot(n: number, frames: number): [number, number] {
    let start = 0, end = frames - 1;
    for (const c of this.cuts) { if (c <= n) start = c; else { end = c - 1; break; } }
    return [start, end];
  }

  /**
   * The frame of the round `k` rounds away from frame n (negative: before). Past the rounds that
   * ran (the clip's ends), rounds are counted as if they went on every `every` frames.
   */
  private roundAway(n: number, k: number): number {
    const r = this.rounds; // ascending
    let lo = 0, hi = r.length; // first index with r[i] > n
    while (lo < hi) { const mid = (lo + hi) >> 1; if (r[mid]! > n) hi = mid; else lo = mid + 1; }
    if (k > 0) {
      const i = lo + k - 1;
      return i < r.length ? r[i]! : (r[r.length - 1] !== undefined && r[r.length - 1]! > n ? r[r.length - 1]! : n) + (i - r.length + 1) * this.every;
    }
    let below = lo; // rounds at or before n
    while (below > 0 && r[below - 1]! >= n) below--; // strictly before n
    const i = below + k;
    return i >= 0 ? r[i]! : (below > 0 ? r[0]! : n) + i * this.every;
  }
}
