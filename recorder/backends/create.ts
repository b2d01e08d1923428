import type { Logger } from 'pino';
import type { RecorderBackend, RecorderBackendOptions } from './backend.js';
import { FfmpegBackend } from './ffmpeg.js';
import { GstreamerBackend } from './gstreamer.js';

export type BackendName = RecorderBackend['name'];

export function createBackend(name: BackendName, opts: RecorderBackendOptions, log: Logger): RecorderBackend {
  return name === 'gstreamer' ? new GstreamerBackend(opts, log) : new FfmpegBackend(opts, log);
}
