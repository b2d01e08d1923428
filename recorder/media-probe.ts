import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';

export interface MediaInfo {
  durationMs: number;
  videoPackets: number;
  codec: string | null;
}

/**
 * What ffprobe says about a recorded file:
 * - `media`: it holds video (partial fragmented MP4 files after a kill read fine up to their last
 *   complete fragment);
 * - `empty`: proven to hold none: zero bytes, or ffprobe read it and found no video packet (an
 *   ftyp-only file from a run that died before its first keyframe);
 * - `unknown`: ffprobe failed, crashed or timed out: nothing is proven, the file may be evidence.
 */
export type ProbeResult = { kind: 'media'; info: MediaInfo } | { kind: 'empty'; why: string } | { kind: 'unknown'; why: string };

export const PROBE_TIMEOUT_MS = 15_000;

export async function probeMedia(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  try {
    if (statSync(path).size === 0) return { kind: 'empty', why: 'zero bytes' };
  } catch (err) {
    return { kind: 'unknown', why: `cannot stat: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const run = await new Promise<{ stdout: string; error: (Error & { code?: unknown; signal?: unknown; killed?: boolean }) | null }>((resolve) => {
    execFile('ffprobe', [
      '-v', 'error', '-select_streams', 'v:0', '-count_packets',
      '-show_entries', 'stream=codec_name,nb_read_packets:format=duration', '-of', 'json', path,
    ], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout) => resolve({ stdout: String(stdout), error }));
  });
  if (run.error) {
    const e = run.error;
    const why = e.killed ? `ffprobe did not finish within ${timeoutMs / 1000} s` : typeof e.signal === 'string' ? `ffprobe was killed by ${e.signal}`
      : typeof e.code === 'string' ? `ffprobe cannot run (${e.code})` : `ffprobe failed (exit ${String(e.code)})`;
    return { kind: 'unknown', why };
  }
  let info: { streams?: Array<{ codec_name?: string; nb_read_packets?: string }>; format?: { duration?: string } };
  try {
    info = JSON.parse(run.stdout) as typeof info;
  } catch {
    return { kind: 'unknown', why: 'ffprobe printed no readable answer' };
  }
  const stream = info.streams?.[0];
  const videoPackets = Number(stream?.nb_read_packets ?? 0);
  if (!stream || videoPackets === 0) return { kind: 'empty', why: stream ? 'no video packet' : 'no video stream' };
  return { kind: 'media', info: { durationMs: Math.round(Number(info.format?.duration ?? 0) * 1000), videoPackets, codec: stream.codec_name ?? null } };
}
