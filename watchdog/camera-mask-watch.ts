/**
 * Watches the capture masks a camera enforces on board (ONVIF Media2 privacy masks): read back
 * from the camera every `checkMs` and before every reconnection, and checked on the recording's
 * own sampled keyframes. Any of these seeing them gone or not in force calls `onLost` once; the
 * daemon then stops the recorder and decides again (see docs/recording.md#capture-masks).
 */
import type { Logger } from 'pino';
import type { Mask } from '../config/schema.js';
import type { FrameSampler, SampledFrame } from '../recorder/frame-sampler.js';
import { missingMasks, type CameraMaskService } from '../recorder/sources/onvif-masks.js';
import { DETAIL_STD, MaskRegions, visibleMasks, type MaskDetail } from './capture-mask-check.js';
import type { ViewAnalyzer } from './view-analyzer.js';

export interface MaskLoss {
  /** read_back: the camera no longer lists them; unreadable: it has not answered for two checks; frame: a recorded picture shows detail under them */
  detectedBy: 'read_back' | 'unreadable' | 'frame';
  reason: string;
  /**
   * when the masks were last known in force: recordings after this may be unmasked. The last
   * read-back intact; for a loss seen on pictures, the last sampled picture that showed them blank
   * when that is earlier (a camera that lies passes every read-back)
   */
  verifiedMs: number;
}

export interface CameraMaskWatchOptions {
  masks: Mask[];
  /** the camera's mask service; none for masks enforced on the box (only the frames are checked) */
  service?: CameraMaskService;
  checkMs: number;
  sampler?: FrameSampler;
  /** where the pictures are checked (the daemon's worker thread); without one, in line */
  analyzer?: ViewAnalyzer;
  log?: Logger;
  onLost: (loss: MaskLoss) => void;
}

/** consecutive sampled frames with detail under a mask before it counts (one may predate a re-push) */
const FRAMES_TO_CONFIRM = 2;

export class CameraMaskWatch {
  /** the last read-back that found every mask held (at first: the push just before the recorder started) */
  verifiedMs = Date.now();
  /** the last sampled picture that showed every mask blank with detail elsewhere (at first: the watch's start) */
  private seenBlankMs = Date.now();
  private timer?: NodeJS.Timeout;
  private unreadable = 0;
  private visibleFrames = 0;
  private lost = false;
  private seenBlank = false;
  private readonly regions: MaskRegions;
  private checking?: Promise<MaskLoss | null>;
  private watching = false;

  constructor(readonly camera: string, readonly opts: CameraMaskWatchOptions) {
    this.regions = new MaskRegions(opts.masks);
  }

  start(): this {
    if (this.opts.service) this.timer = setInterval(() => void this.periodic(), this.opts.checkMs);
    this.opts.sampler?.on('frame', this.onFrame);
    this.watching = true;
    return this;
  }

  stop(): void {
    this.watching = false;
    clearInterval(this.timer);
    this.opts.sampler?.off('frame', this.onFrame);
  }

  /** Reads the masks back: null when the camera holds every one, else what is wrong (a read that fails counts as wrong). */
  check(): Promise<MaskLoss | null> {
    this.checking ??= this.readBack().finally(() => { this.checking = undefined; });
    return this.checking;
  }

  private async readBack(): Promise<MaskLoss | null> {
    const svc = this.opts.service;
    if (!svc) return null;
    try {
      const missing = missingMasks(this.opts.masks, await svc.masks());
      this.unreadable = 0;
      if (!missing.length) {
        this.verifiedMs = Date.now();
        return null;
      }
      return { detectedBy: 'read_back', reason: `the camera no longer holds ${missing.length} of its ${this.opts.masks.length} capture masks`, verifiedMs: this.verifiedMs };
    } catch (err) {
      this.unreadable++;
      return { detectedBy: 'unreadable', reason: `the camera's masks cannot be read back: ${(err as Error).message}`, verifiedMs: this.verifiedMs };
    }
  }

  private async periodic(): Promise<void> {
    const loss = await this.check();
    // one failed read (a dropped request) is not yet a loss; two in a row are
    if (loss && (loss.detectedBy !== 'unreadable' || this.unreadable >= 2)) this.report(loss);
  }

  private readonly onFrame = (f: SampledFrame): void => {
    const analyzer = this.opts.analyzer;
    if (!analyzer) {
      this.judge(this.regions.detail(f.data, f.width, f.height, f.channels), f.atMs);
      return;
    }
    const job = { kind: 'masks', camera: this.camera, width: f.width, height: f.height, channels: f.channels, data: f.data, masks: this.opts.masks } as const;
    // in line while the analyzer says so (few cameras); the sampler counts the time against the budget
    const here = analyzer.inLine();
    if (here) {
      this.judge(here.run(job).detail, f.atMs);
      return;
    }
    void analyzer.run(job).then((done) => {
      if (!done || !this.watching) return;
      this.opts.sampler?.charge(done.cpuMs);
      this.judge(done.answer.detail, f.atMs);
    });
  };

  private judge(detail: MaskDetail, atMs: number): void {
    const visible = visibleMasks(detail);
    const counting = this.visibleFrames > 0;
    this.visibleFrames = visible.length ? this.visibleFrames + 1 : 0;
    // a first sighting is confirmed on the next keyframe, not after a whole sampling interval (the
    // sampler's `hurry`, as tamper persistence uses it); a sighting that is not confirmed lets it go
    const sampler = this.opts.sampler;
    if (sampler && visible.length && this.visibleFrames < FRAMES_TO_CONFIRM) sampler.hurry = true;
    else if (sampler && counting && !visible.length) sampler.hurry = false;
    this.opts.log?.debug({ camera: this.camera, inside: detail.inside.map((v) => Math.round(v * 10) / 10), outside: Math.round(detail.outside), visible }, 'capture masks checked on a recorded picture');
    // blank under the masks proves something only where the rest of the picture has detail
    const blank = !visible.length && detail.outside > DETAIL_STD;
    if (blank) this.seenBlankMs = Math.max(this.seenBlankMs, atMs);
    if (blank && !this.seenBlank) {
      this.seenBlank = true;
      this.opts.log?.info({ camera: this.camera, inside: detail.inside.map((v) => Math.round(v * 10) / 10), outside: Math.round(detail.outside) }, 'capture masks seen blank on a recorded picture');
    }
    if (this.visibleFrames < FRAMES_TO_CONFIRM) return;
    this.report({
      detectedBy: 'frame', verifiedMs: Math.min(this.verifiedMs, this.seenBlankMs),
      reason: `a recorded picture shows detail under capture mask${visible.length > 1 ? 's' : ''} ${visible.map((i) => `#${i + 1}`).join(', ')}`,
    });
  }

  /** Masks not in force: `onLost`, once. */
  report(loss: MaskLoss): void {
    if (this.lost) return;
    this.lost = true;
    this.stop();
    this.opts.log?.error({ camera: this.camera, ...loss }, 'capture masks lost');
    this.opts.onLost(loss);
  }
}
