import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { Orientation, VideoInfo } from '../common/media-probe.js';
import { frameBytes, type Frame } from './frame.js';

/**
 * Niceness of the egress decoder and encoder processes: the box's recorders (stream copy, at
 * the default 0) keep the CPU when an export competes with them.
 */
export const EGRESS_NICE = 10;

/** `cmd args` started through nice(1), so every thread it starts runs at EGRESS_NICE (same pid: nice execs it). */
function spawnNiced(cmd: string, args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  return spawn('nice', ['-n', String(EGRESS_NICE), cmd, ...args], options);
}

export interface DecodeRange { path: string; startS?: number; durationS?: number; keyframesOnly?: boolean; /** at most this many frames */ frames?: number }

/** What a frame is decoded to: RGB24 for the detectors, yuv420p for the second pass (frame.ts). */
export type PixelFormat = 'rgb24' | 'yuv420p';

const TURN: Record<Orientation, string> = {
  cw: 'transpose=clock', ccw: 'transpose=cclock', 180: 'hflip,vflip', hflip: 'hflip', vflip: 'vflip', transpose: 'transpose=cclock_flip', transverse: 'transpose=clock_flip',
};

/**
 * The ffmpeg filters from a decoded picture to the frame `info` describes: turned upright as a
 * player shows it (ffmpeg's own turning is off, so one rule serves video display matrices and a
 * JPEG's EXIF orientation alike), transparency flattened onto black, scaled to `info`'s size
 * (square pixels; every source of a multi-segment export to the first one's size), padded with
 * black on the right and bottom to the frame's size.
 */
export function pictureFilters(info: VideoInfo): string {
  const pic = info.picture ?? info;
  return [
    ...(info.orientation ? [TURN[info.orientation]] : []),
    ...(info.alpha ? ['format=gbrap', 'premultiply=inplace=1'] : []),
    `scale=${pic.width}:${pic.height}`,
    ...(info.picture ? [`pad=${info.width}:${info.height}:0:0:black`] : []),
  ].join(',');
}

/**
 * The frame a video encoder can take: H.264 in yuv420p needs even sides, so an odd picture
 * (641x359) is padded with one black column or row on the right or bottom (nothing of the
 * source is cropped away).
 */
export function encodable(info: VideoInfo): VideoInfo {
  const pic = info.picture ?? info;
  const width = pic.width + (pic.width % 2), height = pic.height + (pic.height % 2);
  if (width === pic.width && height === pic.height) return info;
  return { ...info, width, height, picture: { width: pic.width, height: pic.height } };
}

/**
 * Frame buffers of one size, given back by whoever held a frame once nothing reads it any more,
 * for the next frame a decoder reads. A new buffer per frame is fresh memory the kernel maps page
 * by page as the pipe's bytes are first copied in: a 720p RGB24 frame copied into a new buffer
 * cost 4.05 ms of CPU against 0.10 into a reused one (bench/README.md "Redaction"). At most
 * `most` are kept; a buffer given back must not be written or read by its giver again.
 */
export class FrameBuffers {
  private readonly spare: Buffer[] = [];
  constructor(readonly bytes: number, private readonly most = 4) {}

  take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(this.bytes);
  }

  give(buf: Buffer): void {
    if (buf.length === this.bytes && this.spare.length < this.most && !this.spare.includes(buf)) this.spare.push(buf);
  }
}

/**
 * Frames of a file (or part of it) as RGB24 (or yuv420p), through an ffmpeg raw-video pipe. Any
 * decoder failure ends in a thrown error, and the caller discards what it wrote: a file that
 * cannot be decoded to the end is not exported half way. With `buffers` (of this frame size),
 * each frame is read into one of them (the caller gives each back once it is done with it).
 */
export async function* decodeFrames(src: DecodeRange, info: VideoInfo, signal?: AbortSignal, pixFmt: PixelFormat = 'rgb24', buffers?: FrameBuffers): AsyncGenerator<Frame> {
  const args = ['-v', 'error', '-nostdin', '-noautorotate'];
  if (src.keyframesOnly) args.push('-skip_frame', 'nokey');
  if (src.startS) args.push('-ss', src.startS.toFixed(3));
  if (src.durationS !== undefined) args.push('-t', src.durationS.toFixed(3));
  if (info.imageFile) args.push('-f', 'image2', '-pattern_type', 'none');
  // a variable-rate input comes out at the rate the encoder is given, so the export lasts as long as its source
  const rate = src.keyframesOnly ? ['-fps_mode', 'passthrough'] : ['-r', String(info.fps)];
  args.push('-i', src.path, '-map', '0:v:0', ...rate, ...(src.frames !== undefined ? ['-frames:v', String(src.frames)] : []),
    '-vf', pictureFilters(info), '-f', 'rawvideo', '-pix_fmt', pixFmt, 'pipe:1');
  const proc = spawnNiced('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { if (stderr.length < 4000) stderr += String(d); });
  const exited = once(proc, 'close') as Promise<[number | null]>;
  // a cancelled job must not wait for the decoder to reach the end of the range
  const kill = () => { if (proc.exitCode === null) proc.kill('SIGKILL'); };
  signal?.addEventListener('abort', kill, { once: true });
  const format = pixFmt === 'yuv420p' ? 'yuv420p' as const : undefined;
  const size = frameBytes(info.width, info.height, format);
  const next = () => (buffers?.bytes === size ? buffers.take() : Buffer.allocUnsafe(size));
  let buf = next();
  let filled = 0;
  try {
    for await (const chunk of proc.stdout! as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(size - filled, chunk.length - off);
        chunk.copy(buf, filled, off, off + n);
        filled += n; off += n;
        if (filled === size) {
          yield { width: info.width, height: info.height, data: buf, ...(format ? { format } : {}) };
          buf = next();
          filled = 0;
        }
      }
    }
    const [code] = await exited;
    if (code !== 0) throw new Error(`decoding ${src.path} failed (ffmpeg exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ')}`);
    if (filled !== 0) throw new Error(`decoding ${src.path} ended in the middle of a frame`);
  } finally {
    signal?.removeEventListener('abort', kill);
    kill();
  }
}

export type EncoderName = 'libx264' | 'h264_v4l2m2m' | 'nvv4l2h264enc';

/** Whether `cmd args` runs (and prints `re`); asynchronous, like every probe the daemon runs. */
function has(cmd: string, args: string[], re?: RegExp): Promise<boolean> {
  return new Promise((resolve) => execFile(cmd, args, { encoding: 'utf8', timeout: 10_000 }, (err, out) => resolve(!err && (!re || re.test(out)))));
}

/** Whether a hardware encoder is there, probed once per process: each probe runs a command, and the daemon exports without restarting. */
const presence = new Map<EncoderName, Promise<boolean>>();
function present(name: EncoderName, probe: () => Promise<boolean>): Promise<boolean> {
  let found = presence.get(name);
  if (found === undefined) presence.set(name, found = probe());
  return found;
}

/**
 * The H.264 encoder: EDGE_NVR_ENCODER names one, `auto` (the default) takes the board's hardware
 * encoder when it is really there (the Pi's V4L2 M2M device, the Jetson's nvv4l2h264enc element)
 * and libx264 otherwise. Naming a missing hardware encoder is an error, not a silent fallback.
 */
export async function chooseEncoder(pref = process.env.EDGE_NVR_ENCODER ?? 'auto'): Promise<EncoderName> {
  const v4l2 = () => present('h264_v4l2m2m', async () => existsSync('/dev/video11') && has('ffmpeg', ['-hide_banner', '-encoders'], /h264_v4l2m2m/));
  const nv = () => present('nvv4l2h264enc', () => has('gst-inspect-1.0', ['nvv4l2h264enc']));
  switch (pref) {
    case 'libx264': return 'libx264';
    case 'h264_v4l2m2m':
      if (!(await v4l2())) throw new Error('encoder h264_v4l2m2m is not available here (needs a Raspberry Pi V4L2 M2M encoder at /dev/video11 and an ffmpeg built with it)');
      return 'h264_v4l2m2m';
    case 'nvv4l2h264enc':
      if (!(await nv())) throw new Error('encoder nvv4l2h264enc is not available here (needs NVIDIA Jetson Linux with its GStreamer plugins)');
      return 'nvv4l2h264enc';
    case 'auto': return (await v4l2()) ? 'h264_v4l2m2m' : (await nv()) ? 'nvv4l2h264enc' : 'libx264';
    default: throw new Error(`EDGE_NVR_ENCODER=${pref}: expected auto, libx264, h264_v4l2m2m or nvv4l2h264enc`);
  }
}

/**
 * ffmpeg exits 0 when the disk fills as it writes the trailer ("Error writing trailer of ...: No
 * space left on device"), leaving a file without its moov that no player opens: an outside probe
 * got such a file signed, audited and reported written.
 */
const WRITE_FAILED = /No space left on device|Error writing trailer|Input\/output error|Read-only file system|Disk quota exceeded/i;

/**
 * A raw-video-in (RGB24, or yuv420p: then nothing converts it on the way), H.264-MP4-out encoder
 * process; `write` waits for the pipe to drain, and refuses a frame of another format.
 */
export class Encoder {
  private proc: ChildProcess;
  private stderr = '';
  private exited: Promise<[number | null]>;
  constructor(readonly out: string, info: VideoInfo, readonly encoder: EncoderName, readonly pixFmt: PixelFormat = 'rgb24') {
    const size = `${info.width}x${info.height}`;
    if (encoder === 'nvv4l2h264enc') {
      this.proc = spawnNiced('gst-launch-1.0', ['-q', 'fdsrc', 'fd=0', '!', 'rawvideoparse', `format=${pixFmt === 'yuv420p' ? 'i420' : 'rgb'}`, `width=${info.width}`, `height=${info.height}`,
        `framerate=${Math.round(info.fps * 1000)}/1000`, '!', 'nvvidconv', '!', 'video/x-raw(memory:NVMM),format=I420', '!', 'nvv4l2h264enc',
        '!', 'h264parse', '!', 'mp4mux', '!', 'filesink', `location=${out}`], { stdio: ['pipe', 'ignore', 'pipe'] });
    } else {
      const codec = encoder === 'h264_v4l2m2m' ? ['-c:v', 'h264_v4l2m2m', '-b:v', '4M'] : ['-c:v', 'libx264', '-preset', 'superfast', '-crf', '26'];
      this.proc = spawnNiced('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', pixFmt, '-s', size, '-r', String(info.fps), '-i', 'pipe:0',
        ...codec, '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-f', 'mp4', out], { stdio: ['pipe', 'ignore', 'pipe'] });
    }
    this.proc.stderr!.on('data', (d) => { if (this.stderr.length < 4000) this.stderr += String(d); });
    this.proc.stdin!.on('error', () => { /* reported by finish() through the exit status */ });
    this.exited = once(this.proc, 'close') as Promise<[number | null]>;
  }

  /**
   * `taken` is called once the pipe holds no reference to the frame's bytes any more (written to
   * the encoder, or the pipe closed): only then may its buffer be reused.
   */
  async write(frame: Frame, taken?: () => void): Promise<void> {
    if ((frame.format ?? 'rgb24') !== this.pixFmt) throw new Error(`encoder ${this.out}: a ${frame.format ?? 'rgb24'} frame given to a ${this.pixFmt} encoder`);
    if (this.proc.stdin!.write(frame.data, taken)) return;
    // an encoder that refused the stream closes the pipe (EPIPE): its own words are the error
    await Promise.race([once(this.proc.stdin!, 'drain'), this.exited]).catch(() => undefined);
    if (this.proc.exitCode !== null || this.proc.stdin!.destroyed) await this.ended();
  }

  async finish(): Promise<void> {
    this.proc.stdin!.end();
    await this.ended();
  }

  private async ended(): Promise<void> {
    const [code] = await this.exited;
    if (code !== 0 || WRITE_FAILED.test(this.stderr)) throw new Error(`encoding ${this.out} with ${this.encoder} failed (exit ${code}): ${this.stderr.trim().split('\n').slice(-2).join(' ')}`);
    if (!this.proc.stdin!.writableFinished) throw new Error(`encoding ${this.out} with ${this.encoder} failed: the encoder stopped before its input ended`);
  }

  abort(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** One frame to a still image; the format follows the extension (jpg, png). */
export async function writeImage(frame: Frame, out: string, format: 'mjpeg' | 'png'): Promise<void> {
  const proc = spawn('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${frame.width}x${frame.height}`, '-i', 'pipe:0',
    '-frames:v', '1', '-update', '1', '-c:v', format, ...(format === 'mjpeg' ? ['-q:v', '3', '-pix_fmt', 'yuvj444p'] : []), '-f', 'image2', out], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += String(d); });
  proc.stdin!.on('error', () => {});
  proc.stdin!.end(frame.data);
  const [code] = (await once(proc, 'close')) as [number | null];
  if (code !== 0 || WRITE_FAILED.test(stderr)) throw new Error(`writing ${out} failed (exit ${code}): ${stderr.trim()}`);
}
