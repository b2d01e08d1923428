import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Frame } from './frame.js';

const run = promisify(execFile);

/** Any still image ffmpeg reads (jpg, png, ...) as one RGB frame. */
export async function readImage(path: string): Promise<Frame> {
  const { stdout: probe } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', path]);
  const [w, h] = probe.trim().split(',').map(Number);
  if (!w || !h) throw new Error(`cannot read the size of ${path}`);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: w * h * 3 + 1024 });
  if (stdout.length !== w * h * 3) throw new Error(`${path}: decoded ${stdout.length} bytes, expected ${w * h * 3}`);
  return { width: w, height: h, data: stdout };
}
