/**
 * What the redaction benches share: their inputs (the first N seconds of Debian's opencv-doc
 * videos, scaled and at 15 fps, the rate cameras are recorded at here) and their results file
 * (the machine and its load at start and end, so a reader can tell a quiet run from a loaded one).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

/** real faces, a moving camera with cuts */
export const MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi';
/** a fixed street camera */
export const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

/** The first `seconds` of `src` at `w`x`h` (square pixels: stretched, as the benches always measured it), 15 fps, H.264 (GOP 30), as `dir`/in-`label`.mp4. */
export function clip(dir: string, src: string, seconds: number, w: number, h: number, label: string): string {
  const path = join(dir, `in-${label}.mp4`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', src, '-t', String(seconds), '-an', '-vf', `scale=${w}:${h},setsar=1,fps=15`, '-c:v', 'libx264',
    '-preset', 'veryfast', '-g', '30', path]);
  return path;
}

/** A results record started with the date, the machine and its load now. */
export function startResults(seconds: number): Record<string, unknown> {
  return { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, load_at_start: loadavg()[0], seconds };
}

/** The load now into `results`, and `results` into `out` as JSON when given. */
export function finishResults(results: Record<string, unknown>, out: string | undefined): void {
  results.load_at_end = loadavg()[0];
  if (!out) return;
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
}
