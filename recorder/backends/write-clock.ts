import { statSync } from 'node:fs';

/**
 * Maps a recorder's media time (seconds on its output timeline) to the wall clock, from moments
 * at which the recorder itself wrote a known media time: the kernel stamps a segment file's
 * birth time when ffmpeg creates it for the segment's first packet, and its modification time
 * when ffmpeg writes the trailer as the next segment's first packet arrives. Both are taken in
 * the recorder's process, so a busy daemon reading the segment list late changes nothing.
 *
 * Each such moment is an upper bound of the true offset (a packet is written after it arrives,
 * never before), so the offset is the smallest seen. ffmpeg writes late only in bursts: while
 * it probes a new stream it buffers a second or more and then writes it at once. Observations
 * are kept for WINDOW_S of media, so a camera whose clock runs slower or faster than the box's
 * is followed (100 ppm is 12 ms over the window).
 */
export class WriteClock {
  static readonly WINDOW_S = 120;
  private readonly seen: Array<{ mediaS: number; offsetMs: number }> = [];

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
