import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/*
 * Reads the time code the camera simulator draws into each picture (`--source timecode`, see
 * recorder/sources/rtsp-simulator.py): 64 bits in a grid of 16 x 4 square cells at the top
 * left, most significant first, white 1 and black 0; bits 0-47 the epoch ms at which the
 * picture was made, bits 48-63 a check word.
 */
const COLS = 16;
const ROWS = 4;
const CHECK = 0xa5a5;

/** The epoch ms drawn into a grey picture of `width` x `height` (one byte per pixel). */
export function decodeTimecode(gray: Buffer, width: number, height: number): number {
  const cell = Math.min(Math.floor(width / COLS), Math.floor(height / (ROWS * 2)));
  let word = 0n;
  for (let bit = 0; bit < COLS * ROWS; bit++) {
    const x0 = (bit % COLS) * cell;
    const y0 = Math.floor(bit / COLS) * cell;
    // the middle half of the cell: the encoder's ringing stays at its edges
    let sum = 0;
    let n = 0;
    for (let y = y0 + (cell >> 2); y < y0 + cell - (cell >> 2); y++) {
      for (let x = x0 + (cell >> 2); x < x0 + cell - (cell >> 2); x++) {
        sum += gray[y * width + x]!;
        n++;
      }
    }
    word = (word << 1n) | (sum / n > 128 ? 1n : 0n);
  }
  const ms = Number(word >> 16n);
  const check = Number(word & 0xffffn);
  // JS bitwise operators work on 32 bits: take the 16-bit words apart by division
  const words = [Math.floor(ms / 2 ** 32) & 0xffff, Math.floor(ms / 2 ** 16) & 0xffff, ms & 0xffff];
  const want = (words[0]! ^ words[1]! ^ words[2]! ^ CHECK) & 0xffff;
  if (check !== want) throw new Error(`no readable time code (check ${check.toString(16)}, expected ${want.toString(16)})`);
  return ms;
}

/**
 * The time code of each file's first picture: one ffmpeg for them all (each file an input,
 * its first picture an output), since starting ffmpeg costs more than decoding one picture.
 */
export async function firstFrameTimecodes(paths: string[], width: number, height: number): Promise<Array<number | Error>> {
  if (paths.length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'timecode-'));
  try {
    const args = ['-v', 'error', ...paths.flatMap((p) => ['-i', p])];
    paths.forEach((_, i) => args.push('-map', `${i}:v:0`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', join(dir, `${i}.gray`)));
    await run('ffmpeg', args, { maxBuffer: 1 << 20 }).catch(() => undefined); // an unreadable file is reported below
    return paths.map((p, i) => {
      try {
        const gray = readFileSync(join(dir, `${i}.gray`));
        if (gray.length < width * height) throw new Error(`no picture of ${width}x${height} decoded (${gray.length} bytes)`);
        return decodeTimecode(gray, width, height);
      } catch (err) {
        return new Error(`${p}: ${(err as Error).message}`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
