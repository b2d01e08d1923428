/**
 * What the box does with commands it refuses before knowing who sent them (bad JSON, bad
 * schema, bad signature, replays): each is counted; the first ones are answered and logged, and
 * past a token bucket (a burst, then a steady rate) the rest are dropped unanswered and unlogged,
 * so a flood of junk costs the box little, fills neither the log nor the broker, and never
 * reaches the hash-chained audit log (which holds only commands from a verified sender).
 */
/**
 * What the box counts of commands (health's `commands`), for the daemon's life: an `mqtt` reload
 * starts a new reporter, and had started the counts again from 0, losing the refusal history that
 * shows an attack (an outside probe).
 */
export interface CommandCounts { accepted: number; failed: number; refused: number; unanswered: number; by_code: Record<string, number> }

export const newCommandCounts = (): CommandCounts => ({ accepted: 0, failed: 0, refused: 0, unanswered: 0, by_code: {} });

export class RefusalLimiter {
  private tokens: number;
  private last: number;
  /** refusals dropped since the last summary line */
  private droppedSinceSummary = 0;

  constructor(
    readonly counts: CommandCounts = newCommandCounts(),
    readonly burst = 20,
    readonly perSecond = 1,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Counts a refusal; true when it may be answered and logged. */
  admit(code: string): boolean {
    this.counts.refused++;
    this.counts.by_code[code] = (this.counts.by_code[code] ?? 0) + 1;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    this.counts.unanswered++;
    this.droppedSinceSummary++;
    return false;
  }

  /** Refusals dropped since the last call (for one summary log line now and then). */
  takeDropped(): number {
    const n = this.droppedSinceSummary;
    this.droppedSinceSummary = 0;
    return n;
  }
}
