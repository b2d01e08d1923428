import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { videoInfo } from '../common/media-probe.js';
import type { Frame } from './frame.js';

const run = promisify(execFile);

/** Any still image ffmpeg reads (jpg, png, ...) as one RGB frame. */
export async function readImage(path: string): Promise<Frame> {
  const { width: w, height: h } = await videoInfo(path);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: w * h * 3 + 1024 });
  if (stdout.length !== w * h * 3) throw new Error(`${path}: decoded ${stdout.length} bytes, expected ${w * h * 3}`);
  return { width: w, height: h, data: stdout };
}
