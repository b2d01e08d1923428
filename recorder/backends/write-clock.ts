import { statSync } from 'node:fs';

/** How far apart, at most, a refined offset may put two segments that follow each other in media time and still be joined (see date). */
const CONTIGUOUS_SLACK_MS = 1000;

/**
 * Maps a recorder's media time (seconds on its output timeline) to the wall clock, from moments
 * at which the recorder itself saw a known media time. ffmpeg: the kernel stamps a segment
 * file's birth time when ffmpeg creates it for the segment's first packet, and its modification
 * time when ffmpeg writes the trailer as the next segment's first packet arrives. GStreamer: the
 * recording child reports each picture's arrival on the pipeline clock with its RTP time. Both
 * are taken in the recorder's process, so a busy daemon reading the lines late changes nothing.
 *
 * Each such moment is an upper bound of the true offset (a packet is written after it arrives,
 * and arrives after it was made, never before), so the offset is the smallest seen. Late
 * moments come in bursts: ffmpeg buffers a second or more while it probes a new stream and
 * writes it at once; a camera starting its stream sends what its encoder queued, or a picture
 * it kept, at once. Observations are kept for WINDOW_S of media, so a camera whose clock runs
 * slower or faster than the box's is followed (100 ppm is 12 ms over the window).
 */
export class WriteClock {
  static readonly WINDOW_S = 120;
  private readonly seen: Array<{ mediaS: number; offsetMs: number }> = [];
  /** the last segment dated: media end (s) and wall-clock end (ms) */
  private lastDated?: { endS: number; endMs: number };

  /** `wallMs` is when media time `mediaS` was written (or later). */
  observe(mediaS: number, wallMs: number): void {
    if (!Number.isFinite(mediaS) || !Number.isFinite(wallMs) || wallMs <= 0) return;
    this.seen.push({ mediaS, offsetMs: wallMs - mediaS * 1000 });
    const newest = Math.max(...this.seen.map((o) => o.mediaS));
    while (this.seen.length > 2 && this.seen[0]!.mediaS < newest - WriteClock.WINDOW_S) this.seen.shift();
  }

  /** Wall-clock ms at media time 0, or undefined before any observation. */
  offsetMs(): number | undefined {
    return this.seen.length ? Math.min(...this.seen.map((o) => o.offsetMs)) : undefined;
  }

  /**
   * Wall-clock times of a segment from media `startS` to `endS`, or undefined before any
   * observation. Segments are dated in order. The offset is refined as better observations come
   * (and old ones leave its window), by tens or hundreds of ms. Segments that follow each other
   * in media time follow each other in wall time too: the segment after a refinement starts
   * where the one before ended and absorbs the correction in its length, instead of overlapping
   * it or leaving a sliver.
   */
  date(startS: number, endS: number): { startMs: number; endMs: number } | undefined {
    const offsetMs = this.offsetMs();
    if (offsetMs === undefined) return undefined;
    let startMs = offsetMs + startS * 1000;
    const endMs = offsetMs + endS * 1000;
    const prev = this.lastDated;
    if (prev && Math.abs(startS - prev.endS) < 0.001 && Math.abs(startMs - prev.endMs) < CONTIGUOUS_SLACK_MS && endMs > prev.endMs) startMs = prev.endMs;
    this.lastDated = { endS, endMs };
    return { startMs, endMs };
  }
}

/**
 * When the file was created and last written, in epoch ms, from the kernel (statx). `bornMs` is
 * undefined on a file system that keeps no birth time.
 */
export function fileWriteTimes(path: string): { bornMs?: number; modifiedMs: number } | undefined {
  try {
    const s = statSync(path, { bigint: true });
    const born = Number(s.birthtimeNs / 1000n) / 1000;
    return { bornMs: born > 0 ? born : undefined, modifiedMs: Number(s.mtimeNs / 1000n) / 1000 };
  } catch {
    return undefined;
  }
}
