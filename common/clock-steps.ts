import { EventEmitter } from 'node:events';

/** A step of the wall clock found by comparing it with the monotonic clock. */
export interface ClockStep {
  /** monotonic ms (performance.now()) when it was found: the step happened in the second before */
  atMono: number;
  /** + forward, - back */
  stepMs: number;
  /** the wall clock before and after: where the timeline has its hole (forward) or overlap (back) */
  fromWall: number;
  toWall: number;
}

/**
 * The one place that watches the wall clock against the monotonic one (NTP stepping the clock
 * of a Pi without an RTC, an operator setting the date). Anyone may call check(): the health
 * monitor every second, a camera supervisor before it places a segment in time; each step is
 * found once and emitted as `step`. A short history lets a supervisor convert times a recorder
 * anchored before a step.
 */
export class ClockSteps extends EventEmitter<{ step: [ClockStep] }> {
  private lastWall: number;
  private lastMono: number;
  private readonly history: ClockStep[] = [];

  constructor(
    readonly thresholdMs = 2000,
    private readonly wall: () => number = Date.now,
    private readonly mono: () => number = () => performance.now(),
  ) {
    super();
    this.lastWall = wall();
    this.lastMono = mono();
  }

  /** Samples both clocks; a step larger than the threshold since the last sample is recorded and emitted. */
  check(): ClockStep | undefined {
    const wall = this.wall();
    const mono = this.mono();
    const expected = this.lastWall + (mono - this.lastMono);
    const stepMs = wall - expected;
    this.lastWall = wall;
    this.lastMono = mono;
    if (Math.abs(stepMs) < this.thresholdMs) return undefined;
    const step = { atMono: mono, stepMs: Math.round(stepMs), fromWall: Math.round(expected), toWall: wall };
    this.history.push(step);
    if (this.history.length > 100) this.history.shift();
    this.emit('step', step);
    return step;
  }

  /** The wall clock's offset from the monotonic clock now (wall = mono + offset). */
  offset(): number {
    return this.wall() - this.mono();
  }

  /** How far the wall clock stepped, in all, after `fromMono` and up to `toMono` (monotonic ms). */
  between(fromMono: number, toMono: number): number {
    return this.history.filter((s) => s.atMono > fromMono && s.atMono <= toMono).reduce((sum, s) => sum + s.stepMs, 0);
  }
}
