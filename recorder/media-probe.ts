import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MediaInfo {
  durationMs: number;
  videoPackets: number;
  codec: string | null;
}

/**
 * What ffprobe reads from a recorded file; null when it holds no video at all (an ftyp-only
 * file from a run that died before its first keyframe). Partial fragmented MP4 files after a
 * kill read fine up to their last complete fragment.
 */
export async function probeMedia(path: string): Promise<MediaInfo | null> {
  try {
    const { stdout } = await run('ffprobe', [
      '-v', 'error', '-select_streams', 'v:0', '-count_packets',
      '-show_entries', 'stream=codec_name,nb_read_packets:format=duration', '-of', 'json', path,
    ], { timeout: 30000 });
    const info = JSON.parse(stdout) as { streams?: Array<{ codec_name?: string; nb_read_packets?: string }>; format?: { duration?: string } };
    const stream = info.streams?.[0];
    const videoPackets = Number(stream?.nb_read_packets ?? 0);
    if (!stream || videoPackets === 0) return null;
    return { durationMs: Math.round(Number(info.format?.duration ?? 0) * 1000), videoPackets, codec: stream.codec_name ?? null };
  } catch {
    return null;
  }
}
