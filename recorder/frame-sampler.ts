import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FrameDecoder } from './frame-decoder.js';
import type { VideoTrack } from './mp4-fragments.js';
import { SegmentTail, type TailKeyframe } from './segment-tail.js';
import { stagingDir } from './segment-store.js';

/** The share of one core a camera's view sampling may take: 0.8 %. */
export const CAMERA_VIEW_BUDGET = 0.008;
/** Up to this many cameras each gets CAMERA_VIEW_BUDGET; more share what this many would take. */
export const VIEW_BUDGET_CAMERAS = 16;

/** What every camera's view sampling takes together at most, by default: 12.8 % of one core (`watchdog.view_cpu_percent`). */
export const VIEW_SHARE = CAMERA_VIEW_BUDGET * VIEW_BUDGET_CAMERAS;
/** A camera's samples are never further apart than this (unhurried), unless view watching is given less than VIEW_SHARE. */
const MAX_VIEW_INTERVAL_MS = 10_000;

/**
 * A camera's share of one core for view sampling when the box records `cameras`: 0.8 % each up to
 * 16 cameras, beyond that 1/cameras of `share` (12.8 % by default: at 64 cameras 0.2 %): view
 * watching grows with the cameras only up to its share (an eighth of a core by default), so on a
 * small box it never rivals recording (at 64 cameras on two cores 0.8 % each was half a core, bench/README.md). Each
 * camera is then sampled less often, never less often than `longestViewInterval(share)`, and a
 * change being confirmed is still sampled at every keyframe.
 */
export function viewBudget(cameras: number, share = VIEW_SHARE): number {
  return Math.min(CAMERA_VIEW_BUDGET, share / Math.max(1, cameras));
}

/**
 * The longest wait between a camera's unhurried samples for a share of a core: 10 s at the default
 * share or more, longer in proportion below it. Held at 10 s, a lower share would not lower the
 * CPU once every camera waits 10 s (64 cameras of 640x360 do at the default, bench/README.md).
 */
export function longestViewInterval(share = VIEW_SHARE): number {
  return Math.round(MAX_VIEW_INTERVAL_MS * Math.max(1, VIEW_SHARE / share));
}

/**
 * One decoded picture of a camera, downscaled: packed RGB24 rows (the shape redaction's Frame has),
 * or, from the sampler, grey (`channels` 1): the full-range luma, a byte a pixel, all that view
 * analysis uses (a third of the bytes to convert, carry and keep; stills are decoded again, in colour).
 * `data` is one buffer for every camera's pictures (see SHARED_PICTURE), written over by the next
 * picture any camera decodes: read it while the frame is emitted, or copy it (the view analyzer
 * copies a picture that has to wait for its thread). What is kept of the frame for later is its
 * keyframe, compressed: `still()` decodes it again, in a buffer of its own, when a tamper still
 * is due.
 */
export interface SampledFrame {
  camera: string;
  /** wall-clock ms when its fragment was read: at most one fragment after it was recorded */
  atMs: number;
  width: number;
  height: number;
  /** bytes a pixel: 1 grey (the sampler's frames, which always have `still`), 3 RGB24 (absent: 3) */
  channels?: 1 | 3;
  data: Buffer;
  /**
   * The same picture again, in colour (RGB24), decoded from its keyframe into a buffer of its own (frames of the
   * sampler). Without it (a frame made elsewhere, whose `data` is its own) a still copies `data`.
   */
  still?: () => Promise<{ width: number; height: number; data: Buffer }>;
  /** the stream the picture was decoded from, as recorded (`width` x `height` above may be scaled down) */
  source?: { codec: string; width: number; height: number };
}

/** The camera's stream as recorded: codec and size from the file, the frame rate measured over its fragments. */
export interface StreamInfo {
  codec: string;
  width: number;
  height: number;
  /** frames per second of media over the last FPS_WINDOW_S, null before a fragment was seen */
  fps: number | null;
}

export interface FrameSamplerOptions {
  dataDir: string;
  decoder: FrameDecoder;
  log?: Logger;
  /** the picture is scaled to fit (aspect kept) */
  maxWidth?: number;
  maxHeight?: number;
  /** never sample more often than this */
  minIntervalMs?: number;
  /** nor less often than this, whatever the cost (a function is asked each time: a share that a reload may change) */
  maxIntervalMs?: number | (() => number);
  /** share of one core sampling may take on average, decoding and the listeners' work on each
   * frame together (default 0.008: 0.8 %, leaving room for the rest under 1 %); it sets the interval.
   * A function is asked each time (a share that follows the number of cameras). */
  cpuBudget?: number | (() => number);
  /** without a feed: how often the staging dir is looked at */
  pollMs?: number;
  /**
   * The camera's recorder, telling when it wrote media and closed a segment: the growing file is
   * read then, and never polled (see SegmentTail). The camera supervisor is one.
   */
  feed?: RecordingFeed;
  /**
   * True while indexing is behind (closed segments waiting for the segment store): recording
   * comes first, so unhurried samples wait for `maxIntervalMs`.
   */
  behind?: () => boolean;
}

/** What a recorder says about its files (`recorder/backends/backend.ts` BackendEvents, as the camera supervisor passes them on). */
export interface RecordingFeed {
  on(event: 'progress', listener: () => void): unknown;
  on(event: 'closed', listener: (seg: { stagedPath: string }) => void): unknown;
  off(event: 'progress', listener: () => void): unknown;
  off(event: 'closed', listener: (seg: { stagedPath: string }) => void): unknown;
}

interface FrameSamplerEvents {
  frame: [SampledFrame];
  stream: [StreamInfo];
}

/**
 * The buffer every camera's sampled picture is decoded into (0.23 MB at 640x360, grey), whatever the
 * number of cameras. Each camera kept its own last picture for tamper stills: 11 MB of the
 * daemon's RSS at 16 cameras, for a still that is rare; a frame keeps its keyframe instead (tens
 * of KB) and decodes it again when a still is due. A frame is emitted as soon as its picture is
 * decoded, before the decoder (one request at a time) can answer another.
 */
const SHARED_PICTURE: { buffer?: Buffer } = {};

const FPS_WINDOW_S = 10;
/**
 * How early a keyframe may be taken: the file is read when the recorder reports progress, about
 * once a second with some jitter, so a keyframe a second after the last sample is often read a
 * little under a second after it; without slack every other one would be missed.
 */
export const EARLY_MS = 250;
/**
 * How long before a keyframe is due the growing file is read at every progress report again
 * (between samples it is read only every few seconds, SegmentTail `mayWait`): two reports, so the
 * read that catches up comes before the keyframe is wanted, and the one taken is the newest.
 */
const READ_LEAD_MS = 2500;

/**
 * A camera's pictures at a low rate, for whatever watches the view (tamper detection, mask
 * checks, stills): keyframes of the recording itself, read from its growing segment (see
 * SegmentTail) and decoded one at a time by the shared FrameDecoder. It opens no connection
 * to the camera, holds no credentials, and never touches the recorder: a decoder that fails or
 * falls behind costs samples, never recording.
 *
 * Cost control: a keyframe is decoded only while someone listens to `frame`, and at most one
 * per interval; the interval follows the measured cost of a sample (the decode, and what the
 * listeners do with the frame) so that sampling stays within `cpuBudget` of one core (a 1080p
 * keyframe takes 15-35 ms here: one every 2-5 s), between `minIntervalMs` and `maxIntervalMs`.
 */
export class FrameSampler extends EventEmitter<FrameSamplerEvents> {
  private readonly tail: SegmentTail;
  private decoding = false;
  private lastSampleMs = 0;
  /** CPU ms the last samples cost, decode and listeners (their median sets the interval: the first ones pay for warm-up) */
  private costs: number[] = [];
  private fpsWindow: Array<{ samples: number; durationS: number }> = [];
  private track?: VideoTrack;
  /**
   * The pictures' own size where it is not the one their file's header says: ffmpeg's stream copy
   * keeps the header of a run's first picture for the whole run, so a camera that changed its
   * size mid-stream went on being reported at the old one, and no `stream_changed` was raised
   * (an outside probe). Kept for as long as files come with that header.
   */
  private pictureSize: { header: string; width: number; height: number } | null = null;
  stream: StreamInfo | null = null;
  /** why no frame comes (decoder unavailable, codec not supported), null when they do */
  problem: string | null = null;
  samples = 0;
  /**
   * Set by a watcher confirming a change it saw (tamper persistence): while true, keyframes are
   * sampled at `minIntervalMs` whatever their cost. A confirmation lasts seconds, so the average
   * stays near the budget; without it a slow 1080p interval (up to 10 s) would be added to the
   * persistence, past the 20 s an alarm may take.
   */
  hurry = false;

  constructor(readonly camera: string, private readonly opts: FrameSamplerOptions) {
    super();
    this.tail = new SegmentTail(stagingDir(opts.dataDir, camera), {
      pollMs: opts.feed ? 0 : opts.pollMs,
      wantKeyframe: () => this.wantKeyframe(),
      mayWait: () => !this.keyframeSoon(),
      onError: (err) => opts.log?.warn({ camera, err }, 'cannot read the growing segment'),
    });
    this.tail.on('track', (t) => this.onTrack(t));
    this.tail.on('fragment', (f) => this.onFragment(f));
    this.tail.on('keyframe', (k) => void this.onKeyframe(k));
  }

  start(): this {
    this.opts.feed?.on('progress', this.written);
    this.opts.feed?.on('closed', this.closed);
    this.tail.start();
    return this;
  }

  stop(): Promise<void> {
    this.opts.feed?.off('progress', this.written);
    this.opts.feed?.off('closed', this.closed);
    return this.tail.stop();
  }

  /** how many times the staging dir was listed (tests, benchmarks: told by a feed, rarely) */
  get dirListings(): number {
    return this.tail.dirListings;
  }

  /** how many times the growing file was looked at (tests, benchmarks) */
  get fileLooks(): number {
    return this.tail.fileLooks;
  }

  private readonly written = (): void => this.tail.written();
  private readonly closed = (seg: { stagedPath: string }): void => this.tail.closed(seg.stagedPath);

  /**
   * Work on a sample done away from the event loop (view analysis in a worker thread), reported
   * when it ends: it counts against the budget like the listeners' own time.
   */
  charge(cpuMs: number): void {
    if (this.costs.length) this.costs[this.costs.length - 1] = this.costs.at(-1)! + cpuMs;
  }

  /** The current gap between samples, from the measured cost and the budget. */
  get intervalMs(): number {
    const min = this.opts.minIntervalMs ?? 1000;
    const max = typeof this.opts.maxIntervalMs === 'function' ? this.opts.maxIntervalMs() : this.opts.maxIntervalMs ?? MAX_VIEW_INTERVAL_MS;
    if (this.hurry) return min;
    if (this.opts.behind?.()) return max;
    const sorted = [...this.costs].sort((a, b) => a - b);
    const costMs = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 0;
    const budget = typeof this.opts.cpuBudget === 'function' ? this.opts.cpuBudget() : this.opts.cpuBudget ?? CAMERA_VIEW_BUDGET;
    return Math.min(max, Math.max(min, costMs / budget));
  }

  /** whether a keyframe may be wanted within READ_LEAD_MS (nobody listening: never) */
  private keyframeSoon(): boolean {
    return this.listenerCount('frame') > 0 && Date.now() - this.lastSampleMs >= this.intervalMs - EARLY_MS - READ_LEAD_MS;
  }

  private wantKeyframe(): boolean {
    return !this.decoding && this.listenerCount('frame') > 0 && Date.now() - this.lastSampleMs >= this.intervalMs - EARLY_MS;
  }

  private onTrack(t: VideoTrack): void {
    const prev = this.track;
    this.track = t;
    if (prev && (prev.codec !== t.codec || prev.width !== t.width || prev.height !== t.height)) this.fpsWindow = [];
    this.publishStream();
  }

  private onFragment(f: { samples: number; durationS: number }): void {
    this.fpsWindow.push(f);
    let total = this.fpsWindow.reduce((s, x) => s + x.durationS, 0);
    while (this.fpsWindow.length > 1 && total - this.fpsWindow[0]!.durationS >= FPS_WINDOW_S) total -= this.fpsWindow.shift()!.durationS;
    this.publishStream();
  }

  private publishStream(): void {
    const t = this.track;
    if (!t) return;
    const seconds = this.fpsWindow.reduce((s, x) => s + x.durationS, 0);
    const frames = this.fpsWindow.reduce((s, x) => s + x.samples, 0);
    const fps = seconds > 0 ? Math.round((frames / seconds) * 100) / 100 : null;
    const prev = this.stream;
    const size = this.pictureSize?.header === headerOf(t) ? this.pictureSize : t;
    this.stream = { codec: t.codec, width: size.width, height: size.height, fps };
    if (!prev || prev.codec !== t.codec || prev.width !== t.width || prev.height !== t.height || prev.fps !== fps) this.emit('stream', this.stream);
  }

  private checkPictureSize(track: VideoTrack, width: number, height: number): void {
    const header = headerOf(track);
    if (width > 0 && height > 0 && (width !== track.width || height !== track.height)) {
      if (this.pictureSize?.width !== width || this.pictureSize.height !== height) {
        this.opts.log?.warn({ camera: this.camera, header: `${track.width}x${track.height}`, pictures: `${width}x${height}` },
          'the camera\'s pictures are not the size the recording\'s header says: it changed size mid-stream (reported at the pictures\' size)');
      }
      this.pictureSize = { header, width, height };
      this.publishStream();
    } else if (this.pictureSize?.header === header) {
      this.pictureSize = null;
      this.publishStream();
    }
  }

  private async onKeyframe(k: TailKeyframe): Promise<void> {
    if (k.track.codec !== 'h264' && k.track.codec !== 'hevc') {
      this.problem = `codec ${k.track.codec} is not decoded for view analysis (h264 and hevc are)`;
      return;
    }
    this.decoding = true;
    this.lastSampleMs = k.atMs;
    try {
      const request = {
        codec: k.track.codec, extradata: k.track.config, sample: k.data, maxWidth: this.opts.maxWidth ?? 640, maxHeight: this.opts.maxHeight ?? 360,
      };
      const pic = await this.opts.decoder.decode({ ...request, format: 'gray', into: () => SHARED_PICTURE.buffer });
      // a picture of another size came in a buffer of its own: the one reused from now
      SHARED_PICTURE.buffer = pic.data;
      this.checkPictureSize(k.track, pic.srcWidth, pic.srcHeight);
      this.problem = null;
      this.samples++;
      const decoder = this.opts.decoder;
      const frame: SampledFrame = {
        camera: this.camera, atMs: k.atMs, width: pic.width, height: pic.height, channels: 1, data: pic.data,
        still: () => decoder.decode(request), // RGB24
        source: { codec: k.track.codec, width: pic.srcWidth || k.track.width, height: pic.srcHeight || k.track.height },
      };
      // the listeners analyse the frame synchronously: their time counts against the budget too
      const before = process.cpuUsage();
      this.emit('frame', frame);
      const used = process.cpuUsage(before);
      this.costs.push(pic.cpuMs + (used.user + used.system) / 1000);
      if (this.costs.length > 9) this.costs.shift();
    } catch (err) {
      this.problem = this.opts.decoder.unavailable ?? (err as Error).message;
      this.opts.log?.debug({ camera: this.camera, err }, 'keyframe not decoded');
    } finally {
      this.decoding = false;
    }
  }
}

/** A file header's description of its picture: what the pictures' own size is compared against. */
const headerOf = (t: VideoTrack) => `${t.codec} ${t.width}x${t.height}`;
