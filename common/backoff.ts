/**
 * Stepped restart delays with jitter (go2rtc's and Frigate's habit): 1, 2, 5, 10, 30, 60 s by
 * default, the last step repeating. Jitter keeps cameras that failed together (a switch reboot)
 * from reconnecting in lock-step. A run that stayed up for `stableAfterMs` resets the steps.
 */
export class Backoff {
  private failures = 0;
  private startedAtMs = 0;

  constructor(
    private readonly stepsS: number[],
    private readonly opts: { jitter?: number; stableAfterMs?: number; random?: () => number } = {},
  ) {
    if (stepsS.length === 0) throw new Error('backoff needs at least one step');
  }

  /** A new run started now. */
  started(nowMs = Date.now()): void {
    this.startedAtMs = nowMs;
  }

  /** The run failed now: how long to wait before the next start, in ms. */
  failed(nowMs = Date.now()): number {
    if (this.startedAtMs && nowMs - this.startedAtMs >= (this.opts.stableAfterMs ?? 60_000)) this.failures = 0;
    return backoffDelayMs(this.stepsS, this.failures++, this.opts.jitter, this.opts.random);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}

/**
 * The delay after the `failures`-th consecutive failure (0 for the first), in ms: for a caller
 * that keeps its count elsewhere (an upload's attempts, in the catalog, across restarts).
 */
export function backoffDelayMs(stepsS: number[], failures: number, jitter = 0.2, random: () => number = Math.random): number {
  const base = stepsS[Math.min(Math.max(0, failures), stepsS.length - 1)]! * 1000;
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}
