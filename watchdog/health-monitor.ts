import type { Logger } from 'pino';
import type { Catalog } from '../recorder/catalog/catalog.js';
import { ClockSteps, type ClockStep } from '../common/clock-steps.js';
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
  /** how the clock's sync state is read (tests give their own) */
  readClock?: typeof readClockSync;
  /** the daemon's clock watcher (shared with the camera supervisors); one of its own otherwise */
  clockSteps?: ClockSteps;
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
  readonly clock: ClockSteps;
  private readonly onStep = (s: ClockStep) => this.recordStep(s);

  constructor(private readonly opts: HealthMonitorOptions) {
    this.clock = opts.clockSteps ?? new ClockSteps();
  }

  /** Resolves once the first probe (disk and clock) is done. */
  start(): Promise<void> {
    const first = this.probe();
    this.probeTimer = setInterval(() => void this.probe(), this.opts.probeIntervalMs ?? 30_000);
    this.clock.on('step', this.onStep);
    this.jumpTimer = setInterval(() => this.clock.check(), 1000);
    this.probeTimer.unref();
    this.jumpTimer.unref();
    return first;
  }

  stop(): void {
    clearInterval(this.probeTimer);
    clearInterval(this.jumpTimer);
    this.clock.off('step', this.onStep);
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
    // a step in the second before this sweep counts already (the 1 s check may not have run yet)
    this.clock.check();
    return { synchronized: this.clockSynced ?? null, source: this.clockSource, unconfirmedStepMs: this.unconfirmedStep?.stepMs ?? null, read: this.clockSynced !== undefined };
  }

  /** A step is a `clock_jump` gap on every camera (whoever's check() found it) and an event. */
  private recordStep({ stepMs, fromWall, toWall }: ClockStep): void {
    const [from, to] = stepMs > 0 ? [fromWall, toWall] : [toWall, fromWall];
    this.opts.log.warn({ stepMs }, 'the wall clock stepped');
    if (stepMs > 0) this.unconfirmedStep = { stepMs: stepMs + (this.unconfirmedStep?.stepMs ?? 0), atMs: toWall };
    for (const camera of this.opts.cameras()) {
      try {
        this.opts.catalog.addGap(camera, from, to, 'clock_jump', `the clock stepped ${stepMs > 0 ? 'forward' : 'back'} by ${Math.abs(stepMs)} ms`);
      } catch (err) {
        this.opts.log.error({ err, camera }, 'cannot record the clock jump');
      }
    }
    this.opts.raise('clock_jump', null, { step_ms: stepMs });
  }
}
