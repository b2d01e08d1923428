import type { Logger } from 'pino';
import type { Catalog } from '../recorder/catalog/catalog.js';
import { ClockSteps, type ClockStep } from '../common/clock-steps.js';
import type { ClockSteppedData } from '../recorder/catalog/clock-corrections.js';
import type { RaiseEvent } from './events.js';
import type { ClockView } from './retention.js';
import { probeWritable, readBootId, readClockSync } from './system-health.js';
import { recordClockJump, TRUSTED_META } from './continuity.js';

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
  /** this boot's id (tests give their own); /proc/sys/kernel/random/boot_id otherwise */
  bootId?: string;
}


/**
 * Watches what the recordings' worth depends on besides the cameras:
 * - the data disk: a write probe; a failed or read-only disk is an event, and so is its return
 *   (recorders fail on their own and are restarted until it is back);
 * - the clock: recordings are evidence, so an unsynchronised clock is an alarm, and a step of
 *   the wall clock is a `clock_jump` gap on every camera (the timeline has a hole or an overlap
 *   that no camera caused). A forward step stays "unconfirmed" until a later reading says the
 *   clock is synchronised: retention pauses age deletion meanwhile (see clockView). Once
 *   confirmed, the footage recorded before it was dated by a clock that was behind, and the
 *   ledger says by how much (recorder/catalog/clock-corrections.ts). What was recorded while the
 *   clock was trusted ends at the last segment indexed at a synchronised reading, or before this
 *   boot's first start (a clock read in no way yet may be the one that is behind).
 */
export class HealthMonitor {
  private probeTimer?: NodeJS.Timeout;
  private jumpTimer?: NodeJS.Timeout;
  private diskOk = true;
  private clockSynced: boolean | null | undefined;
  private clockSource = 'unknown';
  /**
   * Forward steps no synchronised reading has confirmed since, with their ledger entry's id (null
   * when the catalog could not take it). Read back from the ledger at start: a step an earlier
   * run saw keeps age deletion paused across a restart until a synchronised reading confirms it.
   */
  private unconfirmed: Array<{ id: number | null; data: ClockSteppedData }>;
  private readonly boot: string;
  private trustedThrough = 0;
  readonly clock: ClockSteps;
  private readonly onStep = (s: ClockStep) => this.recordStep(s);

  constructor(private readonly opts: HealthMonitorOptions) {
    this.clock = opts.clockSteps ?? new ClockSteps();
    this.boot = opts.bootId ?? readBootId();
    this.unconfirmed = opts.catalog.readonly ? [] : opts.catalog.unconfirmedClockSteps();
    if (!opts.catalog.readonly) this.trustedThrough = this.trustMark();
  }

  /** This boot's mark, set at its first start to the last segment indexed then (by earlier boots). */
  private trustMark(): number {
    try {
      const mark = JSON.parse(this.opts.catalog.getMeta(TRUSTED_META) ?? 'null') as { boot?: unknown; segment?: unknown } | null;
      if (mark?.boot === this.boot && Number.isSafeInteger(mark.segment)) return mark.segment as number;
    } catch {
      // set again below
    }
    return this.trust();
  }

  /** Everything indexed so far was dated by a trusted clock. */
  private trust(): number {
    const segment = this.opts.catalog.lastSegmentId();
    const mark = JSON.stringify({ boot: this.boot, segment });
    if (this.opts.catalog.getMeta(TRUSTED_META) !== mark) this.opts.catalog.setMeta(TRUSTED_META, mark);
    this.trustedThrough = segment;
    return segment;
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
    // a step while the reading was under way is on record before the reading trusts anything
    this.clock.check();
    if (clock.synchronized !== true && this.clockSynced !== clock.synchronized) {
      this.opts.log.warn({ clock }, 'the clock is not known to be synchronised: recording times cannot be vouched for');
      this.opts.raise('clock_unsynced', null, { synchronized: clock.synchronized, source: clock.source });
    }
    this.clockSynced = clock.synchronized;
    this.clockSource = clock.source;
    if (clock.synchronized === true) this.synchronisedReading(askedAt, clock.source);
  }

  /**
   * A synchronised reading taken after every unconfirmed step confirms them: the footage dated
   * before each was behind by it (a `clock_confirmed` entry, through the last segment indexed
   * now), and everything indexed so far is trusted.
   */
  private synchronisedReading(askedAt: number, source: string): void {
    if (this.unconfirmed.some((s) => askedAt <= s.data.to_ms)) return;
    try {
      if (this.unconfirmed.length) {
        const steps = this.unconfirmed.map((s) => s.id).filter((id): id is number => id !== null);
        const stepMs = this.unconfirmed.reduce((sum, s) => sum + s.data.step_ms, 0);
        if (steps.length) this.opts.catalog.ledgerEntry('clock_confirmed', null, { steps, through_segment: this.opts.catalog.lastSegmentId(), clock: { synchronized: true, source } });
        this.opts.log.info({ stepMs }, 'a synchronised clock confirms the forward step: what was recorded before it is aged by it');
        this.unconfirmed = [];
      }
      this.trust();
    } catch (err) {
      this.opts.log.error({ err }, 'cannot record what the synchronised clock confirms; asked again at the next reading');
    }
  }

  /** The clock as retention needs it: synchronised or not, and any forward step not yet confirmed. */
  clockView(): ClockView {
    // a step in the second before this sweep counts already (the 1 s check may not have run yet)
    this.clock.check();
    const unconfirmedStepMs = this.unconfirmed.length ? this.unconfirmed.reduce((sum, s) => sum + s.data.step_ms, 0) : null;
    return { synchronized: this.clockSynced ?? null, source: this.clockSource, unconfirmedStepMs, read: this.clockSynced !== undefined };
  }

  /** A step is a `clock_jump` gap on every camera (whoever's check() found it) and an event. */
  private recordStep(step: ClockStep): void {
    this.opts.log.warn({ stepMs: step.stepMs }, 'the wall clock stepped');
    if (step.stepMs > 0) this.recordForwardStep({ step_ms: step.stepMs, from_ms: step.fromWall, to_ms: step.toWall, after_segment: this.trustedThrough });
    recordClockJump(this.opts.catalog, this.opts.cameras(), step, this.opts.log, this.opts.raise);
  }

  /** Kept unconfirmed in memory even when the catalog cannot take its entry (age deletion pauses all the same). */
  private recordForwardStep(data: ClockSteppedData): void {
    let id: number | null = null;
    try {
      id = this.opts.catalog.ledgerEntry('clock_stepped', null, data, data.to_ms).id;
    } catch (err) {
      this.opts.log.error({ err }, 'cannot record the clock step in the ledger: the footage before it will not be aged by it');
    }
    this.unconfirmed.push({ id, data });
  }
}
