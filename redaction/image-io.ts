import { videoInfo } from '../common/media-probe.js';
import type { Frame } from './frame.js';
import { decodeFrames } from './video-io.js';

/** Any still image ffmpeg reads (jpg, png, ...) as one RGB frame, as a viewer shows it (upright, opaque: video-io's pictureFilters). */
export async function readImage(path: string): Promise<Frame> {
  for await (const frame of decodeFrames({ path, frames: 1 }, await videoInfo(path))) return frame;
  throw new Error(`${path}: no picture could be decoded`);
}
