/**
 * What a media file or stream holds, read by ffprobe: the one place that runs it. Recovery asks
 * how long a staged segment plays, egress asks the size and rate of what it decodes, `probe` and
 * `check` read a few seconds of a camera's packets. Always asynchronous: a probe runs while the
 * daemon records, answers MQTT and feeds the systemd watchdog, and must not stop its event loop.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { scrubCredentials } from './credentials.js';

export interface ProbedStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  /** with `countPackets` */
  nb_read_packets?: string;
}

export interface ProbedPacket {
  stream_index: number;
  pts_time?: string;
  dts_time?: string;
  size?: string;
  flags?: string;
}

export interface Probe {
  streams: ProbedStream[];
  /** with `packets` */
  packets: ProbedPacket[];
  /** seconds, when the container says */
  durationS?: number;
}

export interface ProbeOptions {
  /** the first video stream only */
  videoOnly?: boolean;
  /** count each stream's packets (reads the whole input) */
  countPackets?: boolean;
  /** list every packet read (stream, times, size, keyframe flag) */
  packets?: boolean;
  /** read only this many seconds of a live stream */
  readSeconds?: number;
  /** an RTSP input: over TCP, with this socket timeout */
  rtspTimeoutS?: number;
  /** the whole probe's deadline (default 30 s, or the read time plus three socket timeouts) */
  timeoutMs?: number;
}

/** A failed probe; the message is one line without credentials. */
export class ProbeError extends Error {
  constructor(input: string, why: string) {
    super(`${scrubCredentials(input)}: ${scrubCredentials(why)}`);
    this.name = 'ProbeError';
  }
}

export async function probe(input: string, opts: ProbeOptions = {}): Promise<Probe> {
  const streamEntries = 'stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,sample_rate,channels'
    + (opts.countPackets ? ',nb_read_packets' : '');
  const entries = [streamEntries, 'format=duration', ...(opts.packets ? ['packet=stream_index,pts_time,dts_time,size,flags'] : [])].join(':');
  const args = ['-v', 'error'];
  if (opts.rtspTimeoutS !== undefined) args.push('-rtsp_transport', 'tcp', '-timeout', String(Math.round(opts.rtspTimeoutS * 1_000_000)));
  if (opts.readSeconds !== undefined) args.push('-read_intervals', `%+${opts.readSeconds}`);
  if (opts.videoOnly) args.push('-select_streams', 'v:0');
  if (opts.countPackets) args.push('-count_packets');
  if (opts.packets) args.push('-show_packets');
  args.push('-show_entries', entries, '-of', 'json', input);
  const timeout = opts.timeoutMs ?? (opts.readSeconds !== undefined ? (opts.readSeconds + (opts.rtspTimeoutS ?? 5) * 3 + 5) * 1000 : 30_000);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('ffprobe', args, { timeout, maxBuffer: 64 * 2 ** 20 }, (err, out, stderr) => {
      if (!err) return resolve(out);
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const why = e.code === 'ENOENT' ? 'ffprobe not found on PATH (apt install ffmpeg)'
        : e.killed ? `did not finish within ${Math.round(timeout / 1000)} s`
          : stderr.trim().split('\n').pop() || err.message.split('\n')[0] || 'ffprobe failed';
      // ffprobe names the input itself ("rtsp://...: Connection refused"); ProbeError names it once
      reject(new ProbeError(input, why.startsWith(`${input}: `) ? why.slice(input.length + 2) : why));
    });
  });
  let out: { streams?: ProbedStream[]; packets?: ProbedPacket[]; format?: { duration?: string } };
  try {
    out = JSON.parse(stdout) as typeof out;
  } catch (err) {
    throw new ProbeError(input, `unreadable ffprobe output (${(err as Error).message})`);
  }
  const duration = Number(out.format?.duration);
  return { streams: out.streams ?? [], packets: out.packets ?? [], ...(Number.isFinite(duration) ? { durationS: duration } : {}) };
}

/** "30000/1001" -> 29.97; null for "0/0" or nothing. */
export function frameRate(r?: string): number | null {
  if (!r) return null;
  const [n, d] = r.split('/').map(Number);
  return n && d ? n / d : null;
}

export interface RecordedMedia {
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
export type RecordedProbe = { kind: 'media'; info: RecordedMedia } | { kind: 'empty'; why: string } | { kind: 'unknown'; why: string };

export const RECORDED_PROBE_TIMEOUT_MS = 15_000;

export async function recordedMedia(path: string, timeoutMs = RECORDED_PROBE_TIMEOUT_MS): Promise<RecordedProbe> {
  try {
    if (statSync(path).size === 0) return { kind: 'empty', why: 'zero bytes' };
  } catch (err) {
    return { kind: 'unknown', why: `cannot stat: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  let p: Probe;
  try {
    p = await probe(path, { videoOnly: true, countPackets: true, timeoutMs });
  } catch (err) {
    return { kind: 'unknown', why: (err as Error).message };
  }
  const stream = p.streams[0];
  const videoPackets = Number(stream?.nb_read_packets ?? 0);
  if (!stream || videoPackets === 0) return { kind: 'empty', why: stream ? 'no video packet' : 'no video stream' };
  return { kind: 'media', info: { durationMs: Math.round((p.durationS ?? 0) * 1000), videoPackets, codec: stream.codec_name ?? null } };
}

export interface VideoInfo { width: number; height: number; fps: number }

/** The picture size and frame rate of a video or image file (the rate clamped to 1-120, 15 when unknown). */
export async function videoInfo(path: string): Promise<VideoInfo> {
  let p: Probe;
  try {
    p = await probe(path, { videoOnly: true });
  } catch {
    throw new Error(`${path}: not a video or image ffprobe can read`);
  }
  const s = p.streams[0];
  if (!s?.width || !s.height) throw new Error(`${path}: no video stream`);
  const fps = frameRate(s.avg_frame_rate) || frameRate(s.r_frame_rate) || 15;
  return { width: s.width, height: s.height, fps: Math.min(120, Math.max(1, fps)) };
}
