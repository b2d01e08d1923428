import { statSync } from 'node:fs';

/** How far apart, at most, a refined offset may put two segments that follow each other in media time and still be joined (see date). */
const CONTIGUOUS_SLACK_MS = 1000;
/**
 * How far apart in media time two segments may be and still follow each other: ffmpeg ends a
 * segment at its last packet's time plus that packet's duration, which it guesses (a camera
 * whose SDP gives no frame rate: the next segment began one frame, 100 ms, after the end it
 * printed; otherwise 1-4 ms either way). Left apart, each segment had a sliver of nothing after
 * it, or overlapped the next by a few ms.
 */
const CONTIGUOUS_MEDIA_S = 0.5;

interface Observation { mediaS: number; wallMs: number; offsetMs: number }

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
 *
 * **A camera whose media clock breaks** starts an epoch, from the media time where it broke:
 * - an observation more than JUMP_MS under the offset is impossible for a clock that runs
 *   on (a picture cannot arrive before it was made): the camera's timestamps jumped forward
 *   (a camera resetting its RTP clock). Segments from there are dated in the new epoch, and a
 *   segment that spans the jump starts in the old one and ends in the new: the +1 h jump of a
 *   probe had dated such a segment an hour before its pictures, 3600 s long. JUMP_MS is above
 *   what a recorder's start-up burst makes its first observations late by (ffmpeg's probe,
 *   a camera flushing its queue: under 3 s), which reads the same way; a smaller jump is taken
 *   as such a burst, as before (a segment spanning it starts up to that much early).
 * - observations all more than LATE_MS over the offset for PERSIST_MS of wall time: the
 *   camera's clock lost that time (it paused but went on counting from where it stopped, or
 *   ran slow). A late burst after a network hiccup is shorter (over stall_timeout_s the camera
 *   is restarted, and a new run has a new clock); while such a streak lasts, `unsettled` is
 *   true and the backends wait before dating segments, so neither case dates a segment
 *   wrongly. Before, segments after a 7 s pause were dated 7 s early for the whole window (120 s).
 */
export class WriteClock {
  static readonly WINDOW_S = 120;
  static readonly JUMP_MS = 5000;
  static readonly LATE_MS = 2000;
  static readonly PERSIST_MS = 20_000;
  /** each epoch's observations (the newest last), from the media time it starts at */
  private epochs: Array<{ fromS: number; seen: Observation[] }> = [];
  /** observations late by more than LATE_MS since a wall time, not yet PERSIST_MS long */
  private late?: { sinceMs: number; seen: Observation[] };
  /** the last segment dated: media end (s) and wall-clock end (ms) */
  private lastDated?: { endS: number; endMs: number };

  /** `wallMs` is when media time `mediaS` was written (or later). */
  observe(mediaS: number, wallMs: number): void {
    if (!Number.isFinite(mediaS) || !Number.isFinite(wallMs) || wallMs <= 0) return;
    const o: Observation = { mediaS, wallMs, offsetMs: wallMs - mediaS * 1000 };
    const epoch = this.epochs.at(-1);
    const current = this.offsetMs();
    if (!epoch || current === undefined) {
      this.epochs.push({ fromS: -Infinity, seen: [o] });
      return;
    }
    if (o.offsetMs < current - WriteClock.JUMP_MS) {
      this.startEpoch(mediaS, [o]);
      return;
    }
    if (o.offsetMs > current + WriteClock.LATE_MS) {
      this.late ??= { sinceMs: wallMs, seen: [] };
      this.late.seen.push(o);
      if (wallMs - this.late.sinceMs >= WriteClock.PERSIST_MS) this.startEpoch(Math.min(...this.late.seen.map((l) => l.mediaS)), this.late.seen);
      return;
    }
    this.late = undefined;
    epoch.seen.push(o);
    const newest = Math.max(...epoch.seen.map((s) => s.mediaS));
    while (epoch.seen.length > 2 && epoch.seen[0]!.mediaS < newest - WriteClock.WINDOW_S) epoch.seen.shift();
  }

  /** Late observations are being watched: whether the camera's clock lost time is not known yet (see the class). */
  get unsettled(): boolean {
    return this.late !== undefined;
  }

  /** Wall-clock ms at media time 0 in the current epoch, or undefined before any observation. */
  offsetMs(): number | undefined {
    const epoch = this.epochs.at(-1);
    return epoch ? Math.min(...epoch.seen.map((o) => o.offsetMs)) : undefined;
  }

  /**
   * Wall-clock times of a segment from media `startS` to `endS`, or undefined before any
   * observation. Segments are dated in order, each end in the epoch it falls in. The offset is
   * refined as better observations come (and old ones leave its window), by tens or hundreds of
   * ms. Segments that follow each other in media time follow each other in wall time too: the
   * segment after a refinement starts where the one before ended and absorbs the correction in
   * its length, instead of overlapping it or leaving a sliver.
   */
  date(startS: number, endS: number): { startMs: number; endMs: number } | undefined {
    if (this.offsetMs() === undefined) return undefined;
    let startMs = this.offsetAt(startS) + startS * 1000;
    const endMs = this.offsetAt(endS) + endS * 1000;
    const prev = this.lastDated;
    if (prev && Math.abs(startS - prev.endS) < CONTIGUOUS_MEDIA_S && Math.abs(startMs - prev.endMs) < CONTIGUOUS_SLACK_MS && endMs > prev.endMs) startMs = prev.endMs;
    this.lastDated = { endS, endMs };
    return { startMs, endMs };
  }

  /** The offset of the epoch media time `s` falls in (a time before every epoch: the oldest kept). */
  private offsetAt(s: number): number {
    const epoch = [...this.epochs].reverse().find((e) => e.fromS <= s) ?? this.epochs[0]!;
    return Math.min(...epoch.seen.map((o) => o.offsetMs));
  }

  private startEpoch(fromS: number, seen: Observation[]): void {
    this.late = undefined;
    this.epochs.push({ fromS, seen });
    // segments are dated within seconds of their close: two epochs back is all a date needs
    if (this.epochs.length > 3) this.epochs.shift();
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
