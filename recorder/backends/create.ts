import type { Logger } from 'pino';
import type { RecorderBackend, RecorderBackendOptions } from './backend.js';
import { FfmpegBackend } from './ffmpeg.js';
import { GstreamerBackend } from './gstreamer.js';

export type BackendName = RecorderBackend['name'];

/** A camera with capture masks is always recorded by the masked GStreamer pipeline, whatever its backend. */
export function createBackend(name: BackendName, opts: RecorderBackendOptions, log: Logger): RecorderBackend {
  if (opts.captureMasks?.masks.length) return new GstreamerBackend(opts, log);
  return name === 'gstreamer' ? new GstreamerBackend(opts, log) : new FfmpegBackend(opts, log);
}
