import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { scrubCredentials, splitCredentials } from '../../common/credentials.js';
import { maskSvg, type MaskEncoder } from '../capture-masks.js';
import type { BackendEvents, BackendExit, RecorderBackend, RecorderBackendOptions } from './backend.js';
import { waitForExit } from './process-group.js';

/*
 * The parts of gstreamer-superficial (a CommonJS native addon) this backend uses. Bus messages
 * arrive as plain objects: `type` is the message type ("eos", "error", "element", ...) unless
 * the message's structure has a field of that name (stream-status and progress messages do),
 * the structure's own fields are copied in (guint64 values as decimal strings), `name` is the
 * structure name (for errors: the element's path) and `_src_element_name` the poster's name.
 */
interface GstBusMessage {
  type: string;
  name?: string;
  _src_element_name?: string;
  /** GError message, debug text and details of errors and warnings: strings when present */
  message?: string;
  debug?: string;
  details?: string;
  [field: string]: unknown;
}
type GstElementHandle = Record<string, unknown>;
interface GstPipelineHandle {
  play(): void;
  stop(): void;
  sendEOS(): void;
  pollBus(cb: (msg: GstBusMessage) => void): void;
  findChild(name: string): GstElementHandle | undefined;
  'auto-flush-bus': boolean;
}
interface GstModule {
  Pipeline: new (launch: string) => GstPipelineHandle;
}

let gstModule: GstModule | undefined;

/** Loaded on first use, so that a box without the addon or GStreamer fails one backend, not the daemon. */
function loadGstreamer(): GstModule {
  if (!gstModule) {
    const require = createRequire(import.meta.url);
    gstModule = require('gstreamer-superficial') as GstModule;
  }
  return gstModule;
}

/**
 * Pipelines whose bus is being polled. gstreamer-superficial waits for bus messages in a
 * blocking call on a libuv thread-pool thread, so every running pipeline holds one of
 * UV_THREADPOOL_SIZE threads (default 4) for as long as it runs; file system, crypto and dns
 * work shares the rest.
 */
let polledPipelines = 0;

/**
 * splitmuxsink closes a file before a GOP that would take it past max-size-time. Camera clocks
 * run a little slow or fast (measured: 15-frame GOPs of 1.004 s at "15 fps"), so an exact limit
 * makes every file one GOP short (1 s files for 2 s segments). The slack lets the GOP that ends
 * at about the segment length in, like ffmpeg's segmenter which cuts at the first keyframe at
 * or after it.
 */
export function maxSizeTimeNs(segmentSeconds: number): bigint {
  const slackMs = Math.min(500, segmentSeconds * 100);
  return BigInt(Math.round(segmentSeconds * 1000 + slackMs)) * 1_000_000n;
}

/** MP4 fragment length: what a kill -9 or power cut can lose of the open file, at most. */
export const FRAGMENT_MS = 500;

/**
 * The launch line. It carries no URL, credentials or paths: those are set as properties, so
 * nothing secret can leak through parse errors, and odd characters in paths need no quoting.
 *
 * - rtspsrc over TCP; tcp-timeout bounds connecting and every RTSP request (a dead host).
 * - only the video stream is linked (audio is left unlinked, like ffmpeg's `-map 0:v:0`);
 *   parsebin plugs the depayloader and parser for H.264, H.265 (or MJPEG): stream copy, it
 *   never decodes.
 * - progressreport posts a bus message about once a second while buffers flow: the progress
 *   signal for stall detection (it posts nothing while the camera is silent).
 * - splitmuxsink cuts at keyframes; each file gets a fresh mp4mux in fragmented mode
 *   (ftyp+moov with mvex up front, then a moof+mdat every FRAGMENT_MS), which stays playable
 *   up to its last complete fragment after a kill. A file closed normally also gets its
 *   duration written back into the moov and an mfra index.
 */
export function gstreamerLaunch(opts: Pick<RecorderBackendOptions, 'segmentSeconds' | 'timeoutSeconds' | 'captureMasks'>): string {
  if (opts.captureMasks?.masks.length) return maskedLaunch(opts, opts.captureMasks.encoder);
  const tcpTimeoutUs = Math.max(1, Math.round(opts.timeoutSeconds * 1_000_000));
  return [
    `rtspsrc name=src protocols=tcp latency=200 tcp-timeout=${tcpTimeoutUs}`,
    'application/x-rtp,media=video',
    'parsebin',
    'progressreport name=progress update-freq=1 silent=true do-query=false',
    splitmux(maxSizeTimeNs(opts.segmentSeconds), false),
  ].join(' ! ');
}

function splitmux(maxSizeNs: bigint, requestKeyframes: boolean): string {
  return `splitmuxsink name=mux max-size-time=${maxSizeNs} async-finalize=true muxer-factory=mp4mux`
    + (requestKeyframes ? ' send-keyframe-requests=true' : '')
    + ` muxer-properties="properties,fragment-duration=(uint)${FRAGMENT_MS}"`
    + ' sink-properties="properties,buffer-mode=2"';
}

/**
 * From raw frames with the masks painted to H.264, per encoder. x264 is bounded: `veryfast`
 * with zero latency (no B-frames, no look-ahead: a fragment holds what arrived before it) at
 * constant quality. The hardware encoders take the same frames; their lines are written for
 * the Raspberry Pi 4 and Jetson and cannot run on this build machine.
 */
const ENCODE: Record<MaskEncoder, string[]> = {
  x264enc: ['videoconvert', 'video/x-raw,format=I420', 'x264enc speed-preset=veryfast tune=zerolatency pass=qual quantizer=23 key-int-max=120'],
  v4l2h264enc: ['videoconvert', 'video/x-raw,format=I420',
    'v4l2h264enc extra-controls="controls,repeat_sequence_header=(int)1,video_bitrate=(int)4000000,h264_i_frame_period=(int)60"',
    'video/x-h264,level=(string)4'],
  nvv4l2h264enc: ['nvvidconv', 'video/x-raw(memory:NVMM),format=I420', 'nvv4l2h264enc insert-sps-pps=true bitrate=4000000 idrinterval=60'],
};

/**
 * The capture-masked launch line: decode, paint the masks (rsvgoverlay, its `data` set as a
 * property to an SVG of the masks, see capture-masks.ts), encode, then the same parse,
 * progress and splitmuxsink as stream copy. The camera's own picture exists only as buffers in
 * this pipeline: splitmuxsink, the only element that writes, receives the encoder's output.
 * splitmuxsink asks the encoder for a keyframe at each segment's length, so segments are
 * exactly as long as configured.
 */
export function maskedLaunch(opts: Pick<RecorderBackendOptions, 'segmentSeconds' | 'timeoutSeconds'>, encoder: MaskEncoder): string {
  const tcpTimeoutUs = Math.max(1, Math.round(opts.timeoutSeconds * 1_000_000));
  return [
    `rtspsrc name=src protocols=tcp latency=200 tcp-timeout=${tcpTimeoutUs}`,
    'application/x-rtp,media=video',
    'decodebin',
    // decoders on the boards may hand out device memory; the overlay paints in system memory
    ...(encoder === 'nvv4l2h264enc' ? ['nvvidconv', 'video/x-raw'] : []),
    'videoconvert',
    'rsvgoverlay name=masks fit-to-frame=true',
    ...ENCODE[encoder],
    'h264parse',
    'progressreport name=progress update-freq=1 silent=true do-query=false',
    splitmux(BigInt(opts.segmentSeconds * 1000) * 1_000_000n, true),
  ].join(' ! ');
}

/** A file splitmuxsink opened and this backend has not reported yet. */
interface Fragment {
  location: string;
  startRtNs: bigint;
  /** set when splitmuxsink reports the file closed */
  endRtNs?: bigint;
}

/**
 * Records one camera inside the daemon's process with GStreamer (gstreamer-superficial):
 * `rtspsrc ! parsebin ! splitmuxsink` into fragmented MP4, by stream copy.
 *
 * Times: splitmuxsink reports the running time (pipeline clock, ns) at which each file opens
 * and closes; a file's close time is exactly the next one's open time. Running time is turned
 * into wall-clock ms with one offset, taken when the first file opens (the message is posted as
 * its first buffer arrives): consecutive segments are contiguous by construction.
 *
 * Exits: EOS (the camera closed the connection, or rtspsrc's RTCP timeout after a long stall)
 * and ERROR (unreachable, refused, 401/404, write failure) end the run with `requested: false`.
 * stop() sends EOS, which closes the open file properly, and waits up to its deadline.
 */
export class GstreamerBackend extends EventEmitter<BackendEvents> implements RecorderBackend {
  readonly name = 'gstreamer' as const;
  runStartMs = 0;
  private pipeline?: GstPipelineHandle;
  private started = false;
  private polling = false;
  private state: 'idle' | 'running' | 'finishing' | 'done' = 'idle';
  private stopRequested = false;
  private finished?: Promise<void>;
  private eosSeen = false;
  private eosWaiter?: () => void;
  /**
   * Files in the order they were opened. With async-finalize a file can finish after the next
   * one (a split just before EOS); segments are reported in order, as the head closes.
   */
  private readonly fragments: Fragment[] = [];
  /** wall-clock ms at running time 0 */
  private baseMs?: number;
  private mediaSeen = false;
  private lastWarning?: string;
  private startTimer?: NodeJS.Timeout;

  constructor(private readonly opts: RecorderBackendOptions, private readonly log?: Logger) {
    super();
  }

  start(): void {
    if (this.started) throw new Error('a gstreamer backend is started once');
    this.started = true;
    this.runStartMs = Date.now();
    const { camera, safeUrl, stagingDir } = this.opts;

    let gst: GstModule;
    try {
      gst = loadGstreamer();
    } catch (err) {
      this.failEarly(`GStreamer backend not available here: ${this.clean(firstLine(err))}`);
      return;
    }
    let pipeline: GstPipelineHandle;
    try {
      mkdirSync(stagingDir, { recursive: true });
      pipeline = new gst.Pipeline(gstreamerLaunch(this.opts));
      const src = pipeline.findChild('src');
      const mux = pipeline.findChild('mux');
      if (!src || !mux) throw new Error('pipeline elements missing');
      const capture = this.opts.captureMasks;
      if (capture?.masks.length) {
        const overlay = pipeline.findChild('masks');
        // fail closed: without the overlay nothing may be recorded
        if (!overlay) throw new Error('capture masks cannot be enforced: the mask overlay is missing');
        overlay.data = maskSvg(capture.masks);
      }
      const { url: location, username, password } = splitCredentials(this.opts.url);
      src.location = location;
      if (username !== undefined) {
        src['user-id'] = username;
        src['user-pw'] = password ?? '';
      }
      mux.location = join(stagingDir, `${this.runStartMs}-%06d.mp4`);
      // Keep the messages posted while going to NULL: the bus poller, blocked on its thread,
      // must wake once more to see the pipeline stopped (a flushed bus would leave it blocked
      // and keep the process alive).
      pipeline['auto-flush-bus'] = false;
    } catch (err) {
      this.failEarly(`cannot build the GStreamer pipeline for camera ${safeUrl}: ${this.clean(firstLine(err))}`);
      return;
    }
    this.pipeline = pipeline;
    this.state = 'running';
    pipeline.pollBus((msg) => {
      try {
        this.onBus(msg);
      } catch (err) {
        this.log?.error({ camera, err: this.clean(firstLine(err)) }, 'cannot handle a GStreamer bus message');
      }
    });
    this.polling = true;
    polledPipelines++;
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    if (polledPipelines >= poolSize) {
      this.log?.warn({ camera, pipelines: polledPipelines, UV_THREADPOOL_SIZE: poolSize },
        'each GStreamer pipeline holds a libuv thread-pool thread; raise UV_THREADPOOL_SIZE above the number of GStreamer cameras');
    }
    pipeline.play();
    // rtspsrc's tcp-timeout bounds connecting and each request; this only backs it up for a
    // server that answers RTSP but never sends media.
    const noMediaMs = Math.max(2 * this.opts.timeoutSeconds, 5) * 1000;
    this.startTimer = setTimeout(() => {
      if (!this.mediaSeen && this.state === 'running') {
        void this.finish(false, `camera ${safeUrl} sent no video within ${Math.round(noMediaMs / 1000)} s`, 2000);
      }
    }, noMediaMs);
    this.log?.info({ camera, url: safeUrl, backend: 'gstreamer' }, 'gstreamer recorder started');
  }

  async stop(deadlineMs = 5000): Promise<void> {
    if (!this.started) return;
    this.stopRequested = true;
    if (this.finished) return this.finished;
    if (this.state !== 'running') return;
    return this.finish(true, 'stop requested', deadlineMs);
  }

  /** The run ends: let the open file close (EOS), release the pipeline, report. Once. */
  private finish(requested: boolean, reason: string, deadlineMs: number): Promise<void> {
    this.finished ??= (async () => {
      this.state = 'finishing';
      clearTimeout(this.startTimer);
      const pipeline = this.pipeline!;
      if (!this.eosSeen && this.fragments.length > 0) {
        const eos = new Promise<void>((resolve) => { this.eosWaiter = resolve; });
        pipeline.sendEOS();
        const inTime = await waitForExit(eos, deadlineMs);
        if (!inTime) this.log?.warn({ camera: this.opts.camera, deadlineMs }, 'gstreamer did not finish the open segment in time');
      }
      if (this.fragments.length > 0) {
        this.log?.warn({ camera: this.opts.camera, files: this.fragments.map((f) => f.location) },
          'segments not closed by gstreamer stay in staging for recovery');
      }
      pipeline.stop();
      this.releasePoller();
      this.state = 'done';
      const exit: BackendExit = { camera: this.opts.camera, requested, reason, code: null, signal: null };
      if (requested) this.log?.info({ camera: this.opts.camera }, 'gstreamer recorder stopped');
      else this.log?.warn({ camera: this.opts.camera, reason }, 'gstreamer recorder ended');
      this.emit('exit', exit);
    })();
    return this.finished;
  }

  private releasePoller(): void {
    if (!this.polling) return;
    this.polling = false;
    polledPipelines--;
  }

  private failEarly(reason: string): void {
    this.state = 'done';
    this.log?.error({ camera: this.opts.camera, reason }, 'gstreamer recorder cannot start');
    this.finished = new Promise<void>((resolve) => {
      setImmediate(() => {
        this.emit('exit', { camera: this.opts.camera, requested: false, reason, code: null, signal: null });
        resolve();
      });
    });
  }

  private onBus(msg: GstBusMessage): void {
    if (this.state === 'done') return;
    switch (msg.type) {
      case 'element':
        this.onElementMessage(msg);
        return;
      case 'eos':
        this.eosSeen = true;
        if (this.eosWaiter) {
          this.eosWaiter();
          return;
        }
        if (this.state === 'running') {
          const why = this.lastWarning ? `: ${this.lastWarning}` : '';
          void this.finish(this.stopRequested, `camera ${this.opts.safeUrl} closed the stream (EOS)${why}`, 0);
        }
        return;
      case 'error': {
        const reason = this.describeError(msg);
        this.log?.debug({ camera: this.opts.camera, element: msg._src_element_name, debug: this.clean(String(msg.debug ?? '')) }, 'gstreamer error');
        if (this.state === 'running') void this.finish(this.stopRequested, reason, 2000);
        return;
      }
      case 'warning': {
        const text = this.clean(lastLine(msg.debug) ?? String(msg.message ?? 'warning'));
        this.lastWarning = text;
        this.log?.debug({ camera: this.opts.camera, element: msg._src_element_name, warning: text }, 'gstreamer warning');
        return;
      }
      default:
    }
  }

  private onElementMessage(msg: GstBusMessage): void {
    switch (msg.name) {
      case 'progress':
        if (msg._src_element_name === 'progress') this.onMedia();
        return;
      case 'splitmuxsink-fragment-opened': {
        const rt = BigInt(String(msg['running-time']));
        // The first buffer of the run just arrived: calibrate running time to the wall clock.
        this.baseMs ??= Date.now() - nsToMs(rt);
        this.fragments.push({ location: String(msg.location), startRtNs: rt });
        this.onMedia();
        return;
      }
      case 'splitmuxsink-fragment-closed': {
        const fragment = this.fragments.find((f) => f.location === String(msg.location));
        if (!fragment) return;
        fragment.endRtNs = BigInt(String(msg['running-time']));
        this.reportClosed();
        return;
      }
      case 'GstRTSPSrcTimeout':
        this.lastWarning = 'no data from the camera (RTCP timeout)';
        return;
      default:
    }
  }

  /** Reports closed files from the head of the queue, in the order they were opened. */
  private reportClosed(): void {
    for (let head = this.fragments[0]; head?.endRtNs !== undefined; head = this.fragments[0]) {
      this.fragments.shift();
      const { location, startRtNs, endRtNs } = head;
      if (endRtNs <= startRtNs || this.baseMs === undefined) {
        // no frame in it; recovery discards staged files without video
        this.log?.debug({ camera: this.opts.camera, location }, 'empty segment left for recovery');
        continue;
      }
      this.emit('segment', {
        camera: this.opts.camera,
        stagedPath: location,
        startMs: Math.round(this.baseMs + nsToMs(startRtNs)),
        endMs: Math.round(this.baseMs + nsToMs(endRtNs)),
      });
    }
  }

  private onMedia(): void {
    this.mediaSeen = true;
    if (this.state === 'running') this.emit('progress', { camera: this.opts.camera, atMs: Date.now() });
  }

  /** One line, no credentials: "camera rtsp://***@host/x unauthorized (401)". */
  private describeError(msg: GstBusMessage): string {
    const { safeUrl } = this.opts;
    const text = this.clean(String(msg.message ?? 'error'));
    const detail = this.clean(lastLine(msg.debug) ?? '');
    const fromCamera = msg._src_element_name === 'src' || /GstRTSPSrc/.test(String(msg.name ?? ''));
    if (!fromCamera) {
      const element = this.clean(String(msg._src_element_name ?? 'pipeline'));
      return `gstreamer ${element} failed while recording camera ${safeUrl}: ${text}${detail ? ` (${detail})` : ''}`;
    }
    const status = /rtsp-status-code=\(uint\)(\d+)/.exec(String(msg.details ?? ''))?.[1] ?? /\((\d{3})\)\s*$/.exec(detail)?.[1];
    if (status === '401' || status === '403') return `camera ${safeUrl} unauthorized (${status})`;
    if (status === '404') return `camera ${safeUrl} has no such stream (404)`;
    if (status) return `camera ${safeUrl} answered ${detail || status}`;
    if (/failed to connect/i.test(detail)) return `camera ${safeUrl} unreachable: ${detail}`;
    return `camera ${safeUrl}: ${text}${detail ? ` (${detail})` : ''}`;
  }

  /** Strips the URL, the password and any userinfo from text GStreamer produced. */
  private clean(text: string): string {
    let out = this.opts.url ? text.split(this.opts.url).join(this.opts.safeUrl) : text;
    const { password } = splitCredentials(this.opts.url);
    if (password && password.length >= 3) out = out.split(password).join('***');
    return scrubCredentials(out).replace(/\s+/g, ' ').trim();
  }
}

function nsToMs(ns: bigint): number {
  return Number(ns / 1000n) / 1000;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/** GStreamer's debug strings end with the human part after "file(line): function (): path:\n". */
function lastLine(debug: unknown): string | undefined {
  if (typeof debug !== 'string' || !debug.trim()) return undefined;
  const lines = debug.trim().split('\n');
  return lines[lines.length - 1]?.trim() || undefined;
}
