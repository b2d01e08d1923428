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
  /** "N:M", "0:1" when unknown (with `picture`) */
  sample_aspect_ratio?: string;
  pix_fmt?: string;
  /** a display matrix (with `picture`): how a player turns and mirrors the coded picture */
  side_data_list?: Array<{ displaymatrix?: string }>;
  /** with `countPackets` */
  nb_read_packets?: string;
}

export interface ProbedPacket {
  stream_index: number;
  pts_time?: string;
  dts_time?: string;
  duration_time?: string;
  size?: string;
  flags?: string;
}

export interface Probe {
  streams: ProbedStream[];
  /** with `packets` */
  packets: ProbedPacket[];
  /** seconds, when the container says */
  durationS?: number;
  /** ffmpeg's demuxer ("image2" for a still read by its name, "mov,mp4,m4a,3gp,3g2,mj2" for an MP4) */
  formatName?: string;
  /** the first frame's display matrix (with `picture`): how ffmpeg 5.1 reports a JPEG's EXIF orientation */
  firstFrameMatrix?: string;
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
  /**
   * a local file's picture as a viewer sees it: pixel aspect, pixel format, the stream's and the
   * first frame's display matrix, the demuxer; the name is taken literally (not as an image
   * sequence pattern, where '%d' would be a frame number)
   */
  picture?: boolean;
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
    + (opts.countPackets ? ',nb_read_packets' : '') + (opts.picture ? ',sample_aspect_ratio,pix_fmt' : '');
  const entries = [streamEntries, 'format=duration,format_name',
    ...(opts.picture ? ['stream_side_data=displaymatrix', 'frame=media_type', 'frame_side_data=displaymatrix'] : []),
    ...(opts.packets ? ['packet=stream_index,pts_time,dts_time,duration_time,size,flags'] : [])].join(':');
  const args = ['-v', 'error'];
  // ffprobe ignores the option for demuxers that do not have it (ffmpeg refuses it: video-io asks formatName)
  if (opts.picture) args.push('-pattern_type', 'none', '-read_intervals', '%+#1', '-show_frames');
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
  let out: { streams?: ProbedStream[]; packets?: ProbedPacket[]; format?: { duration?: string; format_name?: string };
    frames?: Array<{ side_data_list?: Array<{ displaymatrix?: string }> }> };
  try {
    out = JSON.parse(stdout) as typeof out;
  } catch (err) {
    throw new ProbeError(input, `unreadable ffprobe output (${(err as Error).message})`);
  }
  const duration = Number(out.format?.duration);
  const firstFrameMatrix = out.frames?.[0]?.side_data_list?.find((d) => d.displaymatrix)?.displaymatrix;
  return { streams: out.streams ?? [], packets: out.packets ?? [], ...(Number.isFinite(duration) ? { durationS: duration } : {}),
    ...(out.format?.format_name ? { formatName: out.format.format_name } : {}), ...(firstFrameMatrix ? { firstFrameMatrix } : {}) };
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
 *   complete fragment), `durationMs` what the packets read play;
 * - `empty`: proven to hold none: zero bytes, or ffprobe read it and found no video packet (an
 *   ftyp-only file from a run that died before its first keyframe);
 * - `unknown`: ffprobe failed, crashed or timed out, or read it as something other than an MP4:
 *   nothing is proven, the file may be evidence.
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
    p = await probe(path, { videoOnly: true, countPackets: true, packets: true, timeoutMs });
  } catch (err) {
    return { kind: 'unknown', why: (err as Error).message };
  }
  // The recorders write MP4 and nothing else. Bytes ffprobe reads as something else (random bytes
  // read as raw H.263 video or as text, one run in about 70) are not a recording of the box's: a
  // "video" was indexed as a segment, a "text" one deleted as empty. Kept, they are set aside.
  if (!/(^|,)mp4(,|$)/.test(p.formatName ?? '')) return { kind: 'unknown', why: `not an MP4 as the recorders write (ffprobe reads it as ${p.formatName ?? 'no format'})` };
  const stream = p.streams[0];
  const videoPackets = Number(stream?.nb_read_packets ?? 0);
  if (!stream || videoPackets === 0) return { kind: 'empty', why: stream ? 'no video packet' : 'no video stream' };
  const playsS = Math.min(p.durationS ?? Infinity, packetSpanS(p.packets));
  return { kind: 'media', info: { durationMs: Math.round((Number.isFinite(playsS) ? playsS : 0) * 1000), videoPackets, codec: stream.codec_name ?? null } };
}

/**
 * From the first packet's time to the end of the last one read. A fragmented MP4 cut short (a full
 * disk failing the recorder's writes part-way) declares its last fragment's samples in the moof
 * while the mdat holding them is missing: the container's duration counts them (2.0 s for a file
 * whose 11 pictures play 1.1 s), the packets read do not.
 */
function packetSpanS(packets: ProbedPacket[]): number {
  let first = Infinity, end = -Infinity;
  for (const pk of packets) {
    const pts = Number(pk.pts_time);
    if (!Number.isFinite(pts)) continue;
    first = Math.min(first, pts);
    end = Math.max(end, pts + (Number(pk.duration_time) || 0));
  }
  // no packet with a time: unknown (the container's word stands); one without a duration plays nothing
  // measurable (it was "unknown" too, and a 4 KB file of one partial packet was indexed as 1 s)
  return first === Infinity ? Infinity : Math.max(0, end - first);
}

/**
 * How a player turns and mirrors a coded picture to show it (a display matrix's quarter turns):
 * `cw` a quarter turn clockwise (a phone's portrait clip, EXIF orientation 6), `ccw` anticlockwise
 * (EXIF 8), `180`, the mirrors `hflip` (EXIF 2) and `vflip` (EXIF 4), `transpose` (across the
 * top-left to bottom-right diagonal, EXIF 5) and `transverse` (across the other one, EXIF 7).
 */
export type Orientation = 'cw' | 'ccw' | '180' | 'hflip' | 'vflip' | 'transpose' | 'transverse';

/**
 * A picture as a viewer sees it. `width` x `height` is the frame everything after the decoder
 * works on: upright, in square pixels, and (`picture`) larger than the picture when an encoder
 * needs it so.
 */
export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** turned and mirrored as decoded, before anything sees it; absent when shown as coded */
  orientation?: Orientation;
  /** the decoded pictures carry transparency: flattened onto black as decoded (what the detectors see is what is written) */
  alpha?: boolean;
  /** read by ffmpeg's image demuxer, which must be told to take the name literally */
  imageFile?: boolean;
  /** the picture, when smaller than the frame: at its top left, the rest of the frame black */
  picture?: { width: number; height: number };
}

/** The quarter turn or mirror a display matrix (ffprobe's text of its nine numbers) describes; null when upright, throws for other angles. */
export function orientationOf(matrix: string | undefined): Orientation | null {
  if (!matrix) return null;
  const m = matrix.split('\n').map((l) => l.replace(/^\s*[0-9a-f]+:/, '').trim()).filter(Boolean).flatMap((l) => l.split(/\s+/).map(Number));
  if (m.length !== 9 || m.some((v) => !Number.isFinite(v))) return null;
  // ffmpeg's layout: a displayed point is (a x + c y, b x + d y) of a coded one, y downwards
  const [a, b, , c, d] = m.map((v) => Math.sign(v)) as number[];
  if (a === 0 && b === 0) return null; // no rotation in it: ffmpeg ignores such a matrix too
  const key = `${a} ${b} ${c} ${d}`;
  const known: Record<string, Orientation | null> = {
    '1 0 0 1': null, '-1 0 0 1': 'hflip', '1 0 0 -1': 'vflip', '-1 0 0 -1': '180',
    '0 1 -1 0': 'cw', '0 -1 1 0': 'ccw', '0 1 1 0': 'transpose', '0 -1 -1 0': 'transverse',
  };
  const exact = m[1] === 0 && m[3] === 0 || m[0] === 0 && m[4] === 0;
  if (!exact || !(key in known)) {
    const clockwise = (Math.round(Math.atan2(m[1]!, m[0]!) * 180 / Math.PI) + 360) % 360;
    throw new Error(`its display matrix turns the picture by ${clockwise}° clockwise; only quarter turns and mirrors are handled`);
  }
  return known[key]!;
}

const ALPHA_FORMAT = /^(rgba|bgra|argb|abgr|gbrap|yuva|ya8|ya16|pal8)/;

/**
 * The picture size and frame rate of a video or image file as a player shows it (the rate
 * clamped to 1-120, 15 when unknown): turned by its display matrix (a phone's portrait clip) or,
 * for a JPEG, its EXIF orientation (ffmpeg 5.1 reports it but applies neither to a still); a
 * video's non-square pixels (a sample aspect ratio other than 1:1) widened or narrowed to square ones.
 */
export async function videoInfo(path: string): Promise<VideoInfo> {
  let p: Probe;
  try {
    p = await probe(path, { videoOnly: true, picture: true });
  } catch (err) {
    const why = err instanceof ProbeError ? err.message.slice(err.message.lastIndexOf(': ') + 2) : '';
    throw new Error(`${path}: not a video or image ffprobe can read${why ? ` (${why})` : ''}`);
  }
  const s = p.streams[0];
  if (!s?.width || !s.height) throw new Error(`${path}: no video stream`);
  const fps = frameRate(s.avg_frame_rate) || frameRate(s.r_frame_rate) || 15;
  let orientation: Orientation | null;
  try {
    orientation = orientationOf(s.side_data_list?.find((d) => d.displaymatrix)?.displaymatrix ?? p.firstFrameMatrix);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  // players stretch a video's non-square pixels; image viewers show a still's pixels as they are
  // (a PNG's pHYs or a JPEG's JFIF density aspect is ignored by browsers and viewers alike)
  const image = p.formatName === 'image2' || /_pipe$/.test(p.formatName ?? '');
  const [sn, sd] = (s.sample_aspect_ratio ?? '').split(':').map(Number);
  const width = !image && sn && sd && sn !== sd ? Math.max(1, Math.round(s.width * sn / sd)) : s.width;
  const sideways = orientation === 'cw' || orientation === 'ccw' || orientation === 'transpose' || orientation === 'transverse';
  return {
    width: sideways ? s.height : width, height: sideways ? width : s.height, fps: Math.min(120, Math.max(1, fps)),
    ...(orientation ? { orientation } : {}), ...(s.pix_fmt && ALPHA_FORMAT.test(s.pix_fmt) ? { alpha: true } : {}),
    ...(p.formatName === 'image2' ? { imageFile: true } : {}),
  };
}
