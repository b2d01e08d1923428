/**
 * Pass 2 beside pass 1. An export's plan is made from the whole clip, but the boxes of frame n
 * can change only while pass 1 is within reach of n (Redactor.finalBefore): once every detector
 * has gone far enough past it, its boxes and its blanking are final. Pass 1 hands those over as
 * it goes (`add`), and pass 2 (a second decoder, hiding, the encoder) writes each frame once it
 * is final (`until`), a bounded number of frames behind pass 1, so the second core hides and
 * encodes while the first detects.
 *
 * The guard: when pass 1 ends, every frame written this way is compared with the whole clip's
 * plan (`firstDifference`). The output must be byte for byte what the sequential path writes, so
 * a frame that would now get other boxes, or a blank it did not get (or lose one), means the file
 * is not shipped: pass 2 is written again after pass 1, as without the overlap.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Box, Frame } from './frame.js';
import type { PassOne, Redactor, Settled } from './redactor.js';

/** Whether pass 2 runs beside pass 1: yes unless EDGE_NVR_OVERLAP=0 (after it, as before). */
export function overlapEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.EDGE_NVR_OVERLAP !== '0';
}

/** Pass 2 beside pass 1 stopped because a frame it wrote differs from the whole plan: it is written again. */
export class WriteAgain extends Error {}

/** The final boxes of the frames pass 1 is done with, for pass 2 to write while pass 1 goes on. */
export class SettledPlan {
  private readonly boxes: Box[][] = [];
  private readonly blanked = new Set<number>();
  /** frames pass 2 drew from settled boxes, 0..drawn-1 (the guard's to check) */
  private drawn = 0;
  private planned = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  /** the most frames pass 1 had been handed and not yet settled (what the overlap held back) */
  maxLag = 0;

  /** frames pass 2 drew from settled boxes, before pass 1 ended */
  get written(): number { return this.drawn; }

  /** frames settled so far: 0..count-1 */
  get count(): number { return this.boxes.length; }

  /** A settled range from pass 1 (Redactor.settled), continuing where the last one ended. */
  add(part: Settled | undefined): void {
    if (!part) return;
    if (part.from !== this.boxes.length) throw new Error(`settled frames from ${part.from}, expected ${this.boxes.length}`);
    for (const b of part.boxes) this.boxes.push(b);
    for (const n of part.blanked) this.blanked.add(n);
    this.wake?.();
  }

  /** Pass 1 has been handed `frames` frames (for maxLag). */
  handed(frames: number): void {
    this.maxLag = Math.max(this.maxLag, frames - this.boxes.length);
  }

  /**
   * Until frame n can be written: 'settled' (its boxes are final: `draw` it) or 'planned' (pass 1
   * ended and the guard passed: render it from the plan). Throws when the job failed, or
   * WriteAgain when the guard did not pass.
   */
  async until(n: number): Promise<'settled' | 'planned'> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.planned) return 'planned';
      if (n < this.boxes.length) return 'settled';
      await new Promise<void>((resolve) => { this.wake = resolve; });
      this.wake = undefined;
    }
  }

  /** Frame n (settled) drawn with its settled boxes. */
  draw(redactor: Redactor, frame: Frame, n: number): Frame {
    this.drawn = Math.max(this.drawn, n + 1);
    return redactor.draw(frame, n, this.boxes[n]!, this.blanked.has(n));
  }

  /** The first frame pass 2 drew whose boxes or blanking are not the whole plan's, or undefined: the guard. A blank frame's boxes do not matter (none is drawn). */
  firstDifference(done: Pick<PassOne, 'planned' | 'blanked'>): number | undefined {
    const blank = new Set(done.blanked);
    for (let n = 0; n < this.drawn; n++) {
      const was = this.blanked.has(n), is = blank.has(n);
      if (was !== is) return n;
      if (!is && !isDeepStrictEqual(this.boxes[n], done.planned[n] ?? [])) return n;
    }
    return undefined;
  }

  /** Pass 1 ended and the guard passed: the frames not yet written come from the plan. */
  plannedNow(): void {
    this.planned = true;
    this.wake?.();
  }

  /** The job failed (pass 1, or the guard: WriteAgain): pass 2 stops at its next frame. */
  fail(err: Error): void {
    this.error ??= err;
    this.wake?.();
  }
}
