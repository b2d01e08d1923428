import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { scrubCredentials, splitCredentials } from '../../common/credentials.js';
import { maskSvg, type MaskEncoder } from '../capture-masks.js';
import type { BackendEvents, RecorderBackend, RecorderBackendOptions } from './backend.js';
import { withParentDeathSignal } from './orphans.js';
import { killGroup, readLines, waitForExit, watchChildEnd } from './process-group.js';
import { spawnRecorder, type SpawnedChild } from './spawner.js';
import { WriteClock } from './write-clock.js';
import { ClockSteps } from '../../common/clock-steps.js';

/** The recording child ships beside the compiled code's sources: dist/recorder/... -> recorder/... */
export const GST_RECORDER = fileURLToPath(new URL('./gst-recorder.py', import.meta.url)).replace('/dist/recorder/', '/recorder/');
/** Debian's interpreter: the one python3-gi belongs to (a python3 earlier on PATH may lack `gi`) */
const PYTHON = '/usr/bin/python3';

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
 * The launch line. It carries no URL, credentials or paths: the recording child sets those as
 * properties, so nothing secret can leak through parse errors or a command line, and odd
 * characters in paths need no quoting.
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

/**
 * Whether this box can record with GStreamer: runs the recording child's own check (python3-gi,
 * GStreamer and every element the pipeline uses). `detail` says what to install when not.
 */
export function checkGstreamer(script = GST_RECORDER): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [script, '--check'], { timeout: 20_000 }, (err, stdout, stderr) => {
      const out = `${stdout}`.trim();
      if (!err) return resolve({ ok: true, detail: out });
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${PYTHON} not found`
        : /No module named 'gi'|Namespace Gst/.test(`${stderr}`) ? 'python3-gi, gir1.2-gstreamer-1.0 or gir1.2-gst-plugins-base-1.0 missing'
          : out || `${stderr}`.trim().split('\n').at(-1) || 'the check failed';
      resolve({ ok: false, detail: `${why}; install python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad` });
    });
  });
}

/** One line the recording child prints (recorder/backends/gst-recorder.py). */
export interface GstChildEvent {
  event: 'opened' | 'closed' | 'progress' | 'warning' | 'error' | 'eos';
  location?: string;
  /** wall-clock ms of the file's first (opened) or next (closed) buffer, from the pipeline clock;
   * progress: of the picture of the last second that arrived soonest for its media time */
  wall_ms?: number | null;
  /** that buffer's time on the camera's clock (RTP), s from the run's first picture; absent without RTP */
  media_s?: number;
  text?: string;
  element?: string;
  path?: string;
  message?: string;
  debug?: string;
  status?: number | null;
}

/** A file splitmuxsink opened and this backend has not reported yet. */
interface Fragment {
  location: string;
  startMs?: number;
  /** the camera's media time of its first picture */
  startS?: number;
  /** set when splitmuxsink reports the file closed */
  endMs?: number;
  endS?: number;
  closed: boolean;
}

/**
 * Records one camera with GStreamer, `rtspsrc ! parsebin ! splitmuxsink` into fragmented MP4
 * by stream copy, in a child process of its own (recorder/backends/gst-recorder.py, Debian's
 * python3-gi), like ffmpeg: one per camera, in its own process group, started through setpriv
 * --pdeathsig, stopped with SIGINT (EOS, the open file finished) and a deadline, then SIGKILL.
 *
 * Why a child and not GStreamer inside the daemon (gstreamer-superficial, until 2026-12): in
 * the daemon every pipeline start kept about 0.2 MB (the addon's pipeline objects are never
 * freed: a camera restarting every few seconds grew the daemon without bound), each pipeline's
 * bus was heard through a blocking call parked on one of libuv's few pool threads (16 cameras
 * left every message, and so every segment's time, up to 12 s late), and a crash in any plugin
 * took every camera down. A child's memory goes back to the system when it exits, its bus is
 * its own, and it computes each file's wall-clock time itself from the pipeline clock.
 *
 * Times: the child reports each file's first and next buffer as wall-clock ms (running time
 * mapped through the pipeline clock, see gst-recorder.py) with its time on the camera's clock
 * (RTP), and once a second the picture that arrived soonest for its camera time. A file's
 * close is exactly the next one's open. Files are dated through the camera's clock with the
 * smallest offset seen (WriteClock, as ffmpeg's): arrival alone dated the first file of a run
 * late by the burst a camera sends as it starts (up to half a second measured). When the daemon
 * reads a line does not matter.
 *
 * Exits: EOS (the camera closed the connection, or rtspsrc's RTCP timeout after a long stall)
 * and ERROR (unreachable, refused, 401/404, write failure) end the run with `requested: false`.
 */
export class GstreamerBackend extends EventEmitter<BackendEvents> implements RecorderBackend {
  readonly name = 'gstreamer' as const;
  runStartMs = 0;
  private proc?: SpawnedChild;
  private exited?: Promise<void>;
  private stopRequested = false;
  private stopping?: Promise<void>;
  /** why the run ends, when the backend itself decided (no media) */
  private endReason?: string;
  private eosSeen = false;
  private error?: GstChildEvent;
  private lastWarning?: string;
  private stderrTail: string[] = [];
  /**
   * Files in the order they were opened. With async-finalize a file can finish after the next
   * one (a split just before EOS); segments are reported in order, as the head closes.
   */
  private readonly fragments: Fragment[] = [];
  /** when the wall clock of the newest reported times was read (the child reads it at every file) */
  wallAnchorMono?: number;
  /** the camera's media time -> wall clock, from the child's arrival times (see WriteClock) */
  private clock = new WriteClock();
  /** the wall clock against the monotonic one between the child's lines: a second's difference is a step */
  private readonly wallSteps = new ClockSteps(1000);
  private mediaSeen = false;
  private startTimer?: NodeJS.Timeout;

  constructor(private readonly opts: RecorderBackendOptions, private readonly log?: Logger, private readonly script = GST_RECORDER) {
    super();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    if (this.proc) throw new Error('a gstreamer backend is started once');
    const { camera, safeUrl, stagingDir } = this.opts;
    mkdirSync(stagingDir, { recursive: true });
    this.runStartMs = Date.now();
    // Only the staging dir on the command line: recovery finds an orphan by it, and the URL
    // and credentials go through stdin, never into /proc/<pid>/cmdline.
    const [command, args] = withParentDeathSignal(PYTHON, [this.script, stagingDir]);
    // through the spawner (spawner.ts): the event loop does not wait for the fork and exec
    const proc = spawnRecorder(command, args, ['socket', 'socket', 'socket']);
    this.proc = proc;
    const { url: location, username: user, password } = splitCredentials(this.opts.url);
    const request = `${JSON.stringify({
      launch: gstreamerLaunch(this.opts), location, user, password,
      files: join(stagingDir, `${this.runStartMs}-%06d.mp4`), stop_deadline_ms: 5000,
      // capture masks: the child sets them on the overlay, or records nothing (fail closed)
      ...(this.opts.captureMasks?.masks.length ? { overlay_svg: maskSvg(this.opts.captureMasks.masks) } : {}),
    })}\n`;

    const { exited, streamClosed } = watchChildEnd(proc, 2, ({ code, signal, spawnError }) => {
      clearTimeout(this.startTimer);
      this.reportClosed(true);
      const reason = spawnError
        ? `GStreamer backend not available here: cannot run ${PYTHON}: ${spawnError.message}`
        : proc.lostWith ?? this.describeExit(code, signal);
      const requested = this.stopRequested && this.endReason === undefined;
      if (requested) this.log?.info({ camera }, 'gstreamer recorder stopped');
      else this.log?.warn({ camera, reason }, 'gstreamer recorder ended');
      this.emit('exit', { camera, requested, reason, code, signal });
    });
    this.exited = exited;
    proc.once('spawn', () => {
      proc.stdin!.end(request);
      readLines(proc.stdout!, (l) => this.onLine(l), streamClosed);
      readLines(proc.stderr!, (l) => this.onStderr(l), streamClosed);
      this.log?.info({ camera, pid: proc.pid, url: safeUrl, backend: 'gstreamer' }, 'gstreamer recorder started');
      this.emit('spawned', { camera, pid: proc.pid });
    });

    // rtspsrc's tcp-timeout bounds connecting and each request; this only backs it up for a
    // server that answers RTSP but never sends media.
    const noMediaMs = Math.max(2 * this.opts.timeoutSeconds, 5) * 1000;
    this.startTimer = setTimeout(() => {
      if (this.mediaSeen || this.stopRequested) return;
      this.endReason = `camera ${safeUrl} sent no video within ${Math.round(noMediaMs / 1000)} s`;
      void this.stop(2000);
    }, noMediaMs);
  }

  /** EOS through the pipeline (SIGINT), so the open file is finished; SIGKILL after the deadline. */
  stop(deadlineMs = 5000): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.exited) return Promise.resolve();
    this.stopRequested = true;
    this.stopping ??= (async () => {
      await proc.started; // its pid, to signal its group
      if (proc.exitCode === null && proc.signalCode === null) {
        killGroup(proc, 'SIGINT');
        // the child gives EOS the same deadline; a little more here for its own exit
        if (!(await waitForExit(this.exited!, deadlineMs + 1000))) {
          this.log?.warn({ camera: this.opts.camera, pid: proc.pid, deadlineMs }, 'gstreamer did not finish the open segment in time; killing it');
          killGroup(proc, 'SIGKILL');
        }
      }
      await this.exited;
      killGroup(proc, 'SIGKILL');
    })();
    return this.stopping;
  }

  private onLine(line: string): void {
    let e: GstChildEvent;
    try {
      e = JSON.parse(line) as GstChildEvent;
    } catch {
      return;
    }
    try {
      this.onChildEvent(e);
    } catch (err) {
      this.log?.error({ camera: this.opts.camera, err: this.clean(err instanceof Error ? err.message : String(err)) }, 'cannot handle a GStreamer recorder message');
    }
  }

  private onChildEvent(e: GstChildEvent): void {
    switch (e.event) {
      case 'opened':
        this.observe(e);
        this.fragments.push({ location: String(e.location), startMs: e.wall_ms ?? undefined, startS: e.media_s, closed: false });
        this.onMedia();
        return;
      case 'closed': {
        const fragment = this.fragments.find((f) => f.location === String(e.location) && !f.closed);
        if (!fragment) return;
        this.observe(e);
        fragment.closed = true;
        fragment.endMs = e.wall_ms ?? undefined;
        fragment.endS = e.media_s;
        this.wallAnchorMono = performance.now();
        this.reportSettled();
        return;
      }
      case 'progress':
        this.observe(e);
        this.onMedia();
        this.reportSettled();
        return;
      case 'warning':
        this.lastWarning = this.clean(e.text ?? 'warning');
        this.log?.debug({ camera: this.opts.camera, warning: this.lastWarning }, 'gstreamer warning');
        return;
      case 'error':
        this.error ??= e;
        this.log?.debug({ camera: this.opts.camera, element: e.element, debug: this.clean(e.debug ?? '') }, 'gstreamer error');
        return;
      case 'eos':
        this.eosSeen = true;
        return;
      default:
    }
  }

  /**
   * Reports closed files from the head of the queue, in the order they were opened. At the
   * end of the run (`final`) files never closed stay in staging for recovery.
   */
  private reportClosed(final: boolean): void {
    for (let head = this.fragments[0]; head?.closed; head = this.fragments[0]) {
      this.fragments.shift();
      const { location, startS, endS } = head;
      // through the camera's clock where the child saw RTP; its arrival times alone otherwise
      const { startMs, endMs } = (typeof startS === 'number' && typeof endS === 'number' && endS > startS
        ? this.clock.date(startS, endS) : undefined) ?? head;
      if (startMs === undefined || endMs === undefined || endMs <= startMs) {
        // no frame in it; recovery discards staged files without video
        this.log?.debug({ camera: this.opts.camera, location }, 'empty segment left for recovery');
        continue;
      }
      this.emit('segment', { camera: this.opts.camera, stagedPath: location, startMs: Math.round(startMs), endMs: Math.round(endMs) });
    }
    if (final && this.fragments.length > 0) {
      this.log?.warn({ camera: this.opts.camera, files: this.fragments.map((f) => f.location) },
        'segments not closed by gstreamer stay in staging for recovery');
    }
  }

  /** Closed files, once the camera's clock is not in doubt (WriteClock.unsettled: a few seconds at most). */
  private reportSettled(): void {
    if (!this.clock.unsettled) this.reportClosed(false);
  }

  /** A (media time, arrival) pair from the child; after a step of the wall clock the earlier ones are in the old clock. */
  private observe(e: GstChildEvent): void {
    if (this.wallSteps.check() !== undefined) this.clock = new WriteClock();
    if (typeof e.media_s === 'number' && typeof e.wall_ms === 'number') this.clock.observe(e.media_s, e.wall_ms);
  }

  private onMedia(): void {
    this.mediaSeen = true;
    if (!this.stopRequested) this.emit('progress', { camera: this.opts.camera, atMs: Date.now() });
  }

  private onStderr(line: string): void {
    const clean = this.clean(line);
    if (!clean) return;
    this.stderrTail.push(clean);
    if (this.stderrTail.length > 5) this.stderrTail.shift();
    this.log?.debug({ camera: this.opts.camera, gstreamer: clean }, 'gstreamer recorder stderr');
  }

  private describeExit(code: number | null, signal: NodeJS.Signals | null): string {
    if (this.endReason) return this.endReason;
    if (this.stopRequested) return 'stop requested';
    if (this.error) return this.describeError(this.error);
    if (this.eosSeen) return `camera ${this.opts.safeUrl} closed the stream (EOS)${this.lastWarning ? `: ${this.lastWarning}` : ''}`;
    const last = this.stderrTail.at(-1) ?? '';
    if (/No module named 'gi'|Namespace Gst not available|cannot import name/.test(this.stderrTail.join('\n'))) {
      return `GStreamer backend not available here: ${last} (install python3-gi, gir1.2-gstreamer-1.0 and gir1.2-gst-plugins-base-1.0)`;
    }
    const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
    return `gstreamer recorder ${how}${last ? `: ${last}` : ''}`;
  }

  /** One line, no credentials: "camera rtsp://***@host/x unauthorized (401)". */
  private describeError(e: GstChildEvent): string {
    const { safeUrl } = this.opts;
    const text = this.clean(e.message ?? 'error');
    const detail = this.clean(lastLine(e.debug) ?? '');
    const fromCamera = e.element === 'src' || /GstRTSPSrc/.test(e.path ?? '');
    if (!fromCamera) {
      const element = this.clean(e.element ?? 'pipeline');
      return `gstreamer ${element} failed while recording camera ${safeUrl}: ${text}${detail ? ` (${detail})` : ''}`;
    }
    const status = e.status ?? /\((\d{3})\)\s*$/.exec(detail)?.[1];
    if (status === 401 || status === 403 || status === '401' || status === '403') return `camera ${safeUrl} unauthorized (${status})`;
    if (status === 404 || status === '404') return `camera ${safeUrl} has no such stream (404)`;
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

/** GStreamer's debug strings end with the human part after "file(line): function (): path:\n". */
function lastLine(debug: unknown): string | undefined {
  if (typeof debug !== 'string' || !debug.trim()) return undefined;
  const lines = debug.trim().split('\n');
  return lines[lines.length - 1]?.trim() || undefined;
}
