import type { Logger } from 'pino';
import type { Catalog } from '../recorder/catalog/catalog.js';
import type { RaiseEvent } from './events.js';
import type { ClockView } from './retention.js';
import { probeWritable, readClockSync } from './system-health.js';

export interface HealthMonitorOptions {
  dataDir: string;
  catalog: Catalog;
  cameras: () => string[];
  log: Logger;
  raise: RaiseEvent;
  /** how often the disk is probed and the clock's sync state read */
  probeIntervalMs?: number;
  /** a wall-clock step larger than this, against the monotonic clock, is a clock jump */
  jumpThresholdMs?: number;
  /** how the clock's sync state is read (tests give their own) */
  readClock?: typeof readClockSync;
}

/**
 * Watches what the recordings' worth depends on besides the cameras:
 * - the data disk: a write probe; a failed or read-only disk is an event, and so is its return
 *   (recorders fail on their own and are restarted until it is back);
 * - the clock: recordings are evidence, so an unsynchronised clock is an alarm, and a step of
 *   the wall clock is a `clock_jump` gap on every camera (the timeline has a hole or an overlap
 *   that no camera caused). A forward step stays "unconfirmed" until a later reading says the
 *   clock is synchronised: retention pauses age deletion meanwhile (see clockView).
 */
export class HealthMonitor {
  private probeTimer?: NodeJS.Timeout;
  private jumpTimer?: NodeJS.Timeout;
  private diskOk = true;
  private clockSynced: boolean | null | undefined;
  private clockSource = 'unknown';
  /** the last forward step no synchronised reading has confirmed since */
  private unconfirmedStep: { stepMs: number; atMs: number } | null = null;
  private lastWall = Date.now();
  private lastMono = performance.now();

  constructor(private readonly opts: HealthMonitorOptions) {}

  /** Resolves once the first probe (disk and clock) is done. */
  start(): Promise<void> {
    const first = this.probe();
    this.probeTimer = setInterval(() => void this.probe(), this.opts.probeIntervalMs ?? 30_000);
    this.jumpTimer = setInterval(() => this.checkJump(), 1000);
    this.probeTimer.unref();
    this.jumpTimer.unref();
    return first;
  }

  stop(): void {
    clearInterval(this.probeTimer);
    clearInterval(this.jumpTimer);
  }

  async probe(): Promise<void> {
    const disk = await probeWritable(this.opts.dataDir);
    if (disk.ok !== this.diskOk) {
      this.diskOk = disk.ok;
      if (!disk.ok) this.opts.log.error({ dataDir: this.opts.dataDir, error: disk.error }, 'data disk is not writable');
      else this.opts.log.info({ dataDir: this.opts.dataDir }, 'data disk writable again');
      this.opts.raise(disk.ok ? 'disk_ok' : 'disk_unwritable', null, { path: this.opts.dataDir, error: disk.error ?? null });
    }
    const askedAt = Date.now();
    const clock = await (this.opts.readClock ?? readClockSync)();
    if (clock.synchronized !== true && this.clockSynced !== clock.synchronized) {
      this.opts.log.warn({ clock }, 'the clock is not known to be synchronised: recording times cannot be vouched for');
      this.opts.raise('clock_unsynced', null, { synchronized: clock.synchronized, source: clock.source });
    }
    this.clockSynced = clock.synchronized;
    this.clockSource = clock.source;
    if (clock.synchronized === true && this.unconfirmedStep && askedAt > this.unconfirmedStep.atMs) {
      this.opts.log.info({ stepMs: this.unconfirmedStep.stepMs }, 'a synchronised clock confirms the forward step');
      this.unconfirmedStep = null;
    }
  }

  /** The clock as retention needs it: synchronised or not, and any forward step not yet confirmed. */
  clockView(): ClockView {
    return { synchronized: this.clockSynced ?? null, source: this.clockSource, unconfirmedStepMs: this.unconfirmedStep?.stepMs ?? null, read: this.clockSynced !== undefined };
  }

  checkJump(): void {
    const wall = Date.now();
    const mono = performance.now();
    const expected = this.lastWall + (mono - this.lastMono);
    const stepMs = wall - expected;
    this.lastWall = wall;
    this.lastMono = mono;
    if (Math.abs(stepMs) < (this.opts.jumpThresholdMs ?? 2000)) return;
    const [from, to] = stepMs > 0 ? [expected, wall] : [wall, expected];
    this.opts.log.warn({ stepMs: Math.round(stepMs) }, 'the wall clock stepped');
    if (stepMs > 0) this.unconfirmedStep = { stepMs: Math.round(stepMs) + (this.unconfirmedStep?.stepMs ?? 0), atMs: wall };
    for (const camera of this.opts.cameras()) {
      try {
        this.opts.catalog.addGap(camera, Math.round(from), Math.round(to), 'clock_jump', `the clock stepped ${stepMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(stepMs))} ms`);
      } catch (err) {
        this.opts.log.error({ err, camera }, 'cannot record the clock jump');
      }
    }
    this.opts.raise('clock_jump', null, { step_ms: Math.round(stepMs) });
  }
}
