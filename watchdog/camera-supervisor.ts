import { EventEmitter } from 'node:events';
import { readFileSync, statfsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { BackendExit, ClosedSegment, RecorderBackend, RecorderBackendOptions } from '../recorder/backends/backend.js';
import { createBackend, type BackendName } from '../recorder/backends/create.js';
import type { Catalog, SegmentRow } from '../recorder/catalog/catalog.js';
import { recoverCamera } from '../recorder/recovery.js';
import { recordedMedia } from '../common/media-probe.js';
import { EmptySegmentError, type SegmentStore } from '../recorder/segment-store.js';
import { Backoff } from '../common/backoff.js';
import { ClockSteps } from '../common/clock-steps.js';
import type { RaiseEvent } from './events.js';
import { classifyExit, isBoxGap, type GapCause } from './gap-cause.js';
import { handOver } from './continuity.js';
import type { HeldWhileFull } from './held-while-full.js';

export interface CameraSupervisorOptions {
  backend: BackendName;
  backendOptions: RecorderBackendOptions;
  dataDir: string;
  catalog: Catalog;
  store: SegmentStore;
  log: Logger;
  raise: RaiseEvent;
  /** restart delays in seconds; the last one repeats */
  backoffSeconds: number[];
  /** a run that lasted this long starts the delays over (default 60 s) */
  stableAfterMs?: number;
  /** no new media for this long is a stall: the recorder is killed and restarted */
  stallTimeoutMs: number;
  /** how long a stop may take before the process group is killed */
  stopDeadlineMs?: number;
  /** called before every launch (ONVIF: the stream URI may have changed); a failure is a
   * failed run, retried with backoff */
  resolveUrl?: () => Promise<{ url: string; safeUrl: string }>;
  /** the daemon's clock watcher: segment times follow a step of the wall clock */
  clockSteps?: ClockSteps;
  /** where a gap the catalog could not take is kept for the next start, should the daemon go first */
  held?: HeldWhileFull;
}

/** Under a megabyte free: not even one more fragment fits. */
function diskIsFull(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize < 1024 * 1024;
  } catch {
    return false;
  }
}

/** More missing than this from what a recorder said it wrote is a segment cut short. */
const CUT_SHORT_MS = 500;

/**
 * On a full disk a recorder's writes fail part-way, and the file it closes may play less than the
 * time it reports (an 8 KB ffmpeg file reported as 1.5 s was seen): the file is read, and only
 * what it plays is claimed. Off a full disk the recorder's times stand (a probe would be a process
 * for every segment of every camera). A file that cannot be read keeps its times: it may be evidence.
 */
export async function writtenPart(seg: ClosedSegment): Promise<{ seg: ClosedSegment; lostMs: number } | 'empty'> {
  const probe = await recordedMedia(seg.stagedPath);
  if (probe.kind === 'empty') return 'empty';
  if (probe.kind === 'unknown') return { seg, lostMs: 0 };
  const playsMs = Math.max(1, probe.info.durationMs);
  const lostMs = seg.endMs - seg.startMs - playsMs;
  return lostMs > CUT_SHORT_MS ? { seg: { ...seg, endMs: seg.startMs + playsMs }, lostMs } : { seg, lostMs: 0 };
}

/**
 * How long a segment may stay open before the camera is taken to send no keyframes: a segment
 * closes at the first keyframe after its length, so a keyframe interval up to the segment length
 * (what `probe` and `check` ask for) gives segments up to twice it; the floor leaves room for a
 * "smart codec" stretching its interval in a still scene.
 */
export function segmentOverdueMs(segmentSeconds: number): number {
  return Math.max(3 * segmentSeconds, 30) * 1000;
}

export type CameraState = 'starting' | 'recording' | 'down' | 'stopped';

interface CameraSupervisorEvents {
  segment: [SegmentRow];
  /** the recorder reported media written (about once a second): what follows its files reads them then */
  progress: [];
  /** the recorder closed a file in staging (before it is indexed) */
  closed: [ClosedSegment];
  state: [CameraState, string];
  exit: [BackendExit & { cause: GapCause | null }];
}

/** a stall check this much after the one before came late: the event loop was held (see checkStall) */
const LATE_TICK_MS = 3000;

/**
 * Keeps one camera recording, whatever the camera, the network or the recorder do:
 * - every exit it did not ask for is a failure (ffmpeg exits 0 when a camera goes away);
 * - no new media for `stallTimeoutMs` is a stall: the recorder is stopped (SIGINT, then
 *   SIGKILL to its whole process group) and restarted;
 * - restarts follow a stepped backoff with jitter, reset after a stable run;
 * - what a dead recorder left in staging is indexed before the next one starts;
 * - each interruption is a gap row, opened at the end of the last media and closed at the
 *   start of the next segment, with its cause.
 */
export class CameraSupervisor extends EventEmitter<CameraSupervisorEvents> {
  private backend?: RecorderBackend;
  private restartTimer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  private stopping = false;
  private settled: Promise<void> = Promise.resolve();
  private readonly backoff: Backoff;
  private launchedAtMs = 0;
  /** when this camera's watch began: the daemon's own gap, if still open, ends there */
  private startedAtMs = 0;
  /** stall detection runs on the monotonic clock: a step of the wall clock is no stall, and
   * does not hide one */
  private launchedAtMono = 0;
  /** when the running recorder was spawned; Infinity until it is (its relay connects first, and
   * the spawner starts it a little later: a recorder not yet spawned is not silent) */
  private spawnedAtMono = 0;
  private lastMediaMono = 0;
  /**
   * a segment of the running recorder was indexed: it had media, whatever its progress reports
   * said (a run whose one segment closed a gap, then paused, was called camera_unreachable on CI)
   */
  private indexedThisRun = false;
  /** the wall clock's offset from the monotonic clock when the running backend started */
  private launchOffsetMs = 0;
  private readonly clock: ClockSteps;
  /** when the running recorder last closed a segment (or was spawned) */
  private lastClosedMono = 0;
  /** why the supervisor itself stopped the running recorder (a stall, a segment overdue): its exit is a failure with this cause */
  private stoppedFor?: { cause: GapCause; reason: string };
  /** a gap the catalog could not take (read-only or full disk); written when a segment is */
  private unwritten?: { id: number; start_ms: number; cause: string; detail: string | null };
  private get unwrittenGap() { return this.unwritten; }
  /** kept beside the catalog too (opts.held), for a start after a daemon that went before it had room */
  private set unwrittenGap(gap) {
    this.unwritten = gap;
    this.opts.held?.gap(this.camera, gap && { start_ms: gap.start_ms, cause: gap.cause, detail: gap.detail });
  }
  state: CameraState = 'stopped';
  lastSegmentEndMs?: number;
  /** the supervisor's own heartbeat for the systemd watchdog, on the monotonic clock (NTP
   * stepping the wall clock on a Pi without RTC must not look like a wedged supervisor) */
  lastTickMono = performance.now();
  /** the last tick came late and was passed over (see checkStall) */
  private passedLate = false;
  restarts = 0;

  constructor(readonly camera: string, private readonly opts: CameraSupervisorOptions) {
    super();
    this.backoff = new Backoff(opts.backoffSeconds, { stableAfterMs: opts.stableAfterMs });
    this.clock = opts.clockSteps ?? new ClockSteps();
  }

  get pid(): number | undefined {
    return this.backend?.pid;
  }

  start(): void {
    this.stopping = false;
    this.startedAtMs = Date.now();
    this.stallTimer = setInterval(() => this.checkStall(), 1000);
    this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.stallTimer);
    await this.backend?.stop(this.opts.stopDeadlineMs ?? 5000);
    await this.settled;
    this.setState('stopped', 'stop requested');
  }

  private launch(): void {
    try {
      this.lastSegmentEndMs ??= this.opts.catalog.lastSegment(this.camera)?.end_ms;
    } catch {
      // an unreadable catalog must not keep the camera from recording
    }
    const resolveUrl = this.opts.resolveUrl;
    if (resolveUrl) {
      // Resolving is part of the run: a failed resolve is a failed start, so the backoff steps
      // on (it used to restart from the first step every time, once the camera had recorded
      // for a minute). No recorder runs meanwhile, so there is nothing to stall.
      this.backend = undefined;
      this.launchedAtMs = Date.now();
      this.backoff.started(this.launchedAtMs);
      this.launchedAtMono = performance.now();
      this.stoppedFor = undefined;
      this.setState('starting', 'resolving the stream URI');
      resolveUrl().then(({ url, safeUrl }) => {
        if (this.stopping) return;
        Object.assign(this.opts.backendOptions, { url, safeUrl });
        this.launchBackend();
      }, (err: Error) => {
        if (this.stopping) return;
        const exit = { camera: this.camera, requested: false, reason: `cannot resolve the stream URI: ${err.message}` };
        this.settled = this.settled.then(() => this.afterExit(exit, 'camera_unreachable'));
      });
      return;
    }
    this.launchBackend();
  }

  private launchBackend(): void {
    const backend = createBackend(this.opts.backend, this.opts.backendOptions, this.opts.log);
    this.backend = backend;
    this.clock.check();
    this.launchedAtMs = Date.now();
    this.launchedAtMono = performance.now();
    this.spawnedAtMono = Infinity;
    this.launchOffsetMs = this.launchedAtMs - this.launchedAtMono;
    this.stoppedFor = undefined;
    this.indexedThisRun = false;
    this.backoff.started(this.launchedAtMs);
    this.setState('starting', `${backend.name} starting`);
    // the hour dir its first segment goes into, ready before that segment closes (cheap after the first run)
    void this.opts.store.prepare(this.camera);
    // A segment closing is not media arriving: ffmpeg reports its last one as it gives up.
    backend.on('segment', (seg) => {
      this.lastClosedMono = performance.now();
      this.emit('closed', seg);
      const placed = this.followClockSteps(seg, backend);
      this.settled = this.settled.then(() => this.commit(placed));
    });
    backend.once('spawned', () => { this.spawnedAtMono = this.lastClosedMono = performance.now(); });
    backend.on('progress', () => {
      this.lastMediaMono = performance.now();
      if (this.state === 'starting') this.setState('recording', 'media flowing');
      this.emit('progress');
    });
    backend.once('exit', (exit) => {
      this.settled = this.settled.then(() => this.afterExit(exit));
    });
    backend.start();
  }

  /**
   * A backend places its segments on the wall clock as it was when it took its base (its
   * `wallAnchorMono`). When the clock stepped since, the segment moves by the steps before its
   * end, so it is in the clock of now, and keeps its length; a segment open while the clock
   * stepped is marked with the step (the hole or overlap before it is the `clock_jump` gap the
   * health monitor records). Steps are found within a second (docs/recording.md).
   */
  private followClockSteps(seg: ClosedSegment, backend: RecorderBackend): ClosedSegment {
    this.clock.check();
    const anchorMono = backend.wallAnchorMono ?? this.launchedAtMono;
    const frameOffset = this.launchOffsetMs + this.clock.between(this.launchedAtMono, anchorMono);
    const startMono = seg.startMs - frameOffset;
    const endMono = seg.endMs - frameOffset;
    const shift = this.clock.between(anchorMono, endMono);
    const inside = this.clock.between(startMono, endMono);
    if (shift === 0 && inside === 0) return seg;
    if (inside !== 0) this.opts.log.warn({ camera: this.camera, stepMs: inside, stagedPath: seg.stagedPath }, 'the wall clock stepped while this segment was open: it is marked');
    return { ...seg, startMs: seg.startMs + shift, endMs: seg.endMs + shift, ...(inside !== 0 ? { clockStepMs: inside } : {}) };
  }

  private async commit(seg: ClosedSegment, origin?: SegmentRow['origin']): Promise<void> {
    try {
      let lostMs = 0;
      // a file that claims no time at all: a header a killed or stopped recorder wrote before any
      // picture (829 bytes, no packet, indexed as a row of 0 ms by an outside probe); proven
      // empty, it is removed: the time around it is the gap of why the recorder stopped
      if (seg.endMs <= seg.startMs && (await recordedMedia(seg.stagedPath)).kind === 'empty') {
        this.opts.log.warn({ camera: this.camera, stagedPath: seg.stagedPath }, 'a segment of no time and no picture was removed');
        await unlink(seg.stagedPath).catch(() => undefined);
        return;
      }
      if (diskIsFull(this.opts.dataDir)) {
        const written = await writtenPart(seg);
        if (written === 'empty') {
          await unlink(seg.stagedPath).catch(() => undefined);
          return this.emptySegment(seg);
        }
        ({ seg, lostMs } = written);
      }
      const row = await this.opts.store.commit(seg, origin);
      this.onIndexed(row);
      if (lostMs > 0) this.cutShort(row, lostMs);
    } catch (err) {
      if (err instanceof EmptySegmentError) return this.emptySegment(seg);
      this.opts.log.error({ camera: this.camera, err }, 'cannot index a closed segment; it stays in staging for recovery');
    }
  }

  /** A segment indexed for the time its file plays, less than the recorder said: the rest is a gap from its end. */
  private cutShort(row: SegmentRow, lostMs: number): void {
    this.opts.log.warn({ camera: this.camera, path: row.path, lostMs }, 'a segment cut short by the full disk is indexed for the time it plays: the rest is a gap');
    this.writesFailedGap('disk_full', 'a segment cut short by the full disk: the recorder\'s writes failed');
  }

  /** The gap of a recorder whose writes failed; a catalog that cannot take it keeps it for the next segment (openGap). */
  private writesFailedGap(cause: GapCause, reason: string): void {
    try {
      this.openGap(cause, reason);
    } catch (err) {
      this.opts.log.error({ camera: this.camera, err }, 'cannot record the gap in the catalog; keeping it until it can be');
    }
  }

  /**
   * A segment closed without a byte: its time was not recorded, whatever the recorder thought.
   * A gap opens where the last indexed segment ended (unless one is open) and closes at the next
   * segment with pictures, as for a recorder that stopped.
   */
  private emptySegment(seg: ClosedSegment): void {
    const cause: GapCause = diskIsFull(this.opts.dataDir) ? 'disk_full' : 'disk_unwritable';
    this.opts.log.warn({ camera: this.camera, stagedPath: seg.stagedPath, cause }, 'a segment closed without a byte (its writes failed) was removed: its time is a gap');
    this.writesFailedGap(cause, 'segments closed without a byte: the recorder\'s writes failed');
  }

  private onIndexed(row: SegmentRow): void {
    this.indexedThisRun = true;
    this.lastSegmentEndMs = Math.max(this.lastSegmentEndMs ?? 0, row.end_ms);
    const open = this.unwrittenGap ?? this.opts.catalog.openGapOf(this.camera);
    if (this.unwrittenGap && row.start_ms <= this.unwrittenGap.start_ms && row.end_ms > this.unwrittenGap.start_ms) {
      // a row the full disk held back, recorded before the gap the catalog could not take began:
      // the gap begins after it (it closed the gap at its own start, a gap of no time, and the
      // next empty segment opened another)
      this.unwrittenGap = { ...this.unwrittenGap, start_ms: row.end_ms };
    } else if (open && row.end_ms > row.start_ms && row.end_ms > open.start_ms && row.start_ms >= open.start_ms - 1000) {
      // (a row of no time, one part picture a full disk let through, recorded nothing after the
      // gap began: it closed a disk_full gap at its own start too; nor did a row the full disk
      // held back, found by recovery, that ends where the gap begins (openGap): it closed the gap
      // at no time, and the next empty segment opened another at the same start)
      const gap = this.unwrittenGap ? this.afterHeldBack(this.unwrittenGap, row) : open;
      if (this.unwrittenGap) this.opts.catalog.addGap(this.camera, gap.start_ms, row.start_ms, gap.cause, gap.detail ?? undefined);
      else this.opts.catalog.closeGap(gap.id, row.start_ms);
      this.unwrittenGap = undefined;
      const durationMs = Math.max(0, row.start_ms - gap.start_ms);
      this.opts.log.info({ camera: this.camera, cause: gap.cause, startMs: gap.start_ms, endMs: row.start_ms, durationMs }, 'gap closed');
      this.opts.raise('gap', this.camera, { cause: gap.cause, start_ms: gap.start_ms, end_ms: row.start_ms, duration_ms: durationMs, detail: gap.detail });
      this.opts.raise('camera_online', this.camera, { after_ms: durationMs });
    }
    if (this.state !== 'recording') this.setState('recording', 'segment indexed');
    this.emit('segment', row);
  }

  /**
   * A gap the catalog could not take began where the last segment then indexed ended; rows a full
   * disk held back (the recorder's last, partly written file) went in since, just before `row`,
   * and the gap starts after them rather than over them.
   */
  private afterHeldBack<G extends { start_ms: number }>(gap: G, row: SegmentRow): G {
    const before = this.opts.catalog.segments(this.camera, gap.start_ms, row.start_ms).filter((s) => s.id !== row.id && s.end_ms <= row.start_ms);
    const startMs = Math.max(gap.start_ms, ...before.map((s) => s.end_ms));
    return startMs === gap.start_ms ? gap : { ...gap, start_ms: startMs };
  }

  private checkStall(): void {
    const now = performance.now();
    const late = now - this.lastTickMono >= LATE_TICK_MS;
    this.lastTickMono = now;
    if (this.stopping || this.stoppedFor || !this.backend || this.state === 'down') return;
    // A tick seconds late: the event loop itself was held (the daemon stopped or swapped out, a
    // long fsync), and Node runs due timers before it reads what piled up meanwhile, so the
    // recorder's progress lines are still unread in its pipe. Judged then, a healthy camera was a
    // stall: its recorder killed, a gap "no media from the camera for 30 s" in the ledger (an
    // outside probe froze the daemon 30 s). One late tick is passed over, never two in a row: a
    // loop that is always late still judges every other tick.
    if (late && !this.passedLate) {
      this.passedLate = true;
      return;
    }
    this.passedLate = false;
    if (this.spawnedAtMono === Infinity) return; // not spawned yet: its relay or the spawner is still starting it
    const silentMs = Math.round(now - Math.max(this.lastMediaMono, this.spawnedAtMono));
    if (silentMs >= this.opts.stallTimeoutMs) {
      // a stall is media that stopped: a run that never had any did not reach a usable camera
      const hadMedia = this.hadMediaThisRun;
      // a recorder stopped by a signal (SIGSTOP, a debugger) sends nothing either, the camera
      // being fine: the recorder's fault, said as such (it read "no media from the camera": an outside probe)
      if (processStopped(this.backend.pid)) {
        this.stopFor('recorder_crashed', `the recorder process was stopped (state T: a SIGSTOP or a debugger) and sent nothing for ${Math.round(silentMs / 1000)} s: it was killed and is restarted`);
        this.opts.log.warn({ camera: this.camera, silentMs, pid: this.backend.pid }, 'recorder process stopped: restarting it');
        this.opts.raise('stall_detected', this.camera, { silent_ms: silentMs });
        return;
      }
      this.stopFor(hadMedia ? 'stalled' : 'camera_unreachable', `no media from the camera for ${Math.round(silentMs / 1000)} s${hadMedia ? '' : ' since the recorder started'} (stall timeout ${Math.round(this.opts.stallTimeoutMs / 1000)} s): the recorder was stopped and is restarted`);
      this.opts.log.warn({ camera: this.camera, silentMs, pid: this.backend.pid }, 'recorder stalled: no media; restarting it');
      this.opts.raise('stall_detected', this.camera, { silent_ms: silentMs });
      return;
    }
    // Media flows, but no segment closed: a segment ends only on a keyframe, and a camera that
    // sent one and then only predicted frames kept everything since in the recorder's memory (an
    // MP4 fragment is written at the next keyframe): nothing on disk, nothing indexed, all of it
    // lost to a kill. Stopping the recorder writes the file; the camera's new session starts on a
    // keyframe again.
    const openMs = Math.round(now - this.lastClosedMono);
    const overdueMs = segmentOverdueMs(this.opts.backendOptions.segmentSeconds);
    if (openMs >= overdueMs) {
      this.stopFor('stream_unusable', `no keyframe from the camera for ${Math.round(openMs / 1000)} s, so no segment could close (segments of ${this.opts.backendOptions.segmentSeconds} s start on keyframes): the recorder was stopped to write what it held, and is restarted; set the camera's I-frame interval to at most ${Math.max(1, Math.floor(this.opts.backendOptions.segmentSeconds / 2))} s`);
      this.opts.log.warn({ camera: this.camera, openMs, pid: this.backend.pid }, 'no segment closed: the camera sends no keyframes; restarting the recorder');
    }
  }

  /** the running recorder reported media, or had a segment indexed */
  private get hadMediaThisRun(): boolean {
    return this.lastMediaMono >= this.launchedAtMono || this.indexedThisRun;
  }

  private stopFor(cause: GapCause, reason: string): void {
    this.stoppedFor = { cause, reason };
    void this.backend?.stop(2000);
  }

  /**
   * Whatever the reason the backend ended, its open segment is indexed before anything else.
   * Nothing here may stop the restart: a catalog on a failed disk throws, and the camera must
   * still be retried once the disk is back.
   */
  private async afterExit(exit: BackendExit, knownCause?: GapCause): Promise<void> {
    const run = {
      hadMedia: this.hadMediaThisRun,
      msSinceMedia: performance.now() - Math.max(this.lastMediaMono, this.launchedAtMono),
      stallMs: Math.min(this.opts.stallTimeoutMs, this.opts.backendOptions.timeoutSeconds * 1000),
      diskFull: diskIsFull(this.opts.dataDir),
    };
    try {
      const recovered = await recoverCamera(this.opts.dataDir, this.camera, this.opts.catalog, this.opts.store, this.opts.log, { orphansPossible: false });
      for (const row of recovered.indexed) this.onIndexed(row);
    } catch (err) {
      this.opts.log.error({ camera: this.camera, err }, 'cannot index the segment the recorder left open');
    }
    if (this.stopping || (exit.requested && !this.stoppedFor)) {
      this.emit('exit', { ...exit, cause: null });
      return;
    }
    const cause: GapCause = knownCause ?? this.stoppedFor?.cause ?? classifyExit(exit, run);
    // the recorder stopped as asked says only that ("stop requested"): the gap says why it was asked
    exit = { ...exit, reason: this.stoppedFor?.reason ?? exit.reason };
    this.emit('exit', { ...exit, cause });
    try {
      this.openGap(cause, exit.reason);
    } catch (err) {
      this.opts.log.error({ camera: this.camera, err }, 'cannot record the gap in the catalog; keeping it until it can be');
    }
    const delayMs = this.backoff.failed();
    this.restarts++;
    this.setState('down', exit.reason);
    this.opts.log.warn({ camera: this.camera, cause, reason: exit.reason, restartInMs: delayMs }, 'recorder stopped unexpectedly; restarting');
    this.opts.raise('watchdog_restart', this.camera, { cause, reason: exit.reason, restart_in_ms: delayMs, consecutive_failures: this.backoff.consecutiveFailures });
    this.restartTimer = setTimeout(() => { if (!this.stopping) this.launch(); }, delayMs);
  }

  private openGap(cause: GapCause, reason: string): void {
    if (this.unwrittenGap) return;
    const startMs = Math.max(this.lastSegmentEndMs ?? this.launchedAtMs, this.opts.store.heldBackEndMs(this.camera) ?? -Infinity);
    try {
      const open = this.opts.catalog.openGapOf(this.camera);
      // The daemon's own gap (the time it was not running), or the camera's time out of the
      // config, ends where this camera's watch began: from there it is the camera that keeps it
      // from recording, and the gap says so. A catalog that cannot take that leaves the box's gap
      // open (it still closes at the next segment), rather than a gap kept in memory beside it.
      if (open && isBoxGap(open.cause)) {
        try {
          handOver(this.opts.catalog, open, this.startedAtMs, cause, reason, this.opts.log, this.opts.raise);
        } catch (err) {
          this.opts.log.error({ camera: this.camera, err }, 'cannot record the camera\'s cause in the catalog; the daemon\'s gap stays open');
        }
        return;
      }
      if (open) return;
      this.opts.catalog.openGap(this.camera, startMs, cause, reason);
    } catch (err) {
      this.unwrittenGap = { id: 0, start_ms: startMs, cause, detail: reason };
      throw err;
    }
    this.opts.raise('camera_offline', this.camera, { cause, reason, since_ms: startMs });
  }

  private setState(state: CameraState, why: string): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state, why);
  }
}

/** Whether a process is stopped (state T or t in /proc/PID/stat); false when it cannot be read. */
function processStopped(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the state follows the command name in parentheses, which may itself hold spaces or ")"
    return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}
