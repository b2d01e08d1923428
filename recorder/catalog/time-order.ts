/**
 * Rows slipped into time already past: the hash chain proves the order rows were added in, not
 * that a row added last was recorded last. Root holding the box key can append a correctly
 * chained row at the head that claims a minute of last week (overlapping real footage, or inside a
 * recorded gap) and sign new checkpoints over it: every chain check passes (an outside probe).
 * Two things the recording itself guarantees catch it:
 *
 * - **a camera's rows are added in time order**: each segment is indexed when it closes, one
 *   recorder at a time per camera, so a row starts no earlier than the rows of its camera before
 *   it in the chain end (within ORDER_SLACK_MS);
 * - **a checkpoint holds every segment that ended well before it**: a segment is indexed within
 *   seconds of closing (a crash's open segment at the next start, before any checkpoint), so a
 *   row not in a checkpoint cannot have ended ANCHOR_GRACE_MS or more before the checkpoint was
 *   taken.
 *
 * The honest exceptions are the wall clock's: stepping back, the rows after the step carry times
 * the rows before it already had (the box records each step as a `clock_jump` gap on every
 * camera, `[new time, old time]` for a step back: a row starting inside that window is excused);
 * running behind (a board without a clock booting offline), the rows until the forward step that
 * corrects it carry times older than rows before them (the ledger's `clock_stepped` names the last
 * segment before that clock, `after_segment`, and the wrong time it stepped from: a later row
 * ending before that time is excused). A row inserted by root into such a window is not told
 * apart: only the anchors bound it there. Pure (rows in, problems out), for `verify` on the box
 * and for `verify-evidence` on a bundle's proof rows alike.
 */

/** consecutive segments of one camera may overlap by a frame or two (true media times) */
export const ORDER_SLACK_MS = 2_000;
/** a segment is in the catalog seconds after it closes (index lag, tens of seconds at worst) */
export const ANCHOR_GRACE_MS = 300_000;
/** the step is detected within a health check: the window is widened by this on each side */
const STEP_SLACK_MS = 60_000;

export interface TimedRow { id: number; camera: string; start_ms: number; end_ms: number }
export interface TimeAnchor { label: string; at_ms: number; segments: number }
/** a step of the wall clock back, as its `clock_jump` gap: [the new time, the old time] */
export interface ClockBack { camera: string | null; from_ms: number; to_ms: number }
/** a step forward (ledger `clock_stepped`): the rows after `after_segment` were dated by a clock behind, up to `from_ms` */
export interface ClockForward { after_segment: number; from_ms: number }

/** Whether a gap is a step back of the clock (health-monitor.ts writes "the clock stepped back by N ms"). */
const isClockBack = (g: { cause: string; detail: string | null }): boolean => g.cause === 'clock_jump' && /stepped back/.test(g.detail ?? '');

/** The steps of the clock back among a camera's gaps (the catalog's, or the ledger's `gap_opened` entries). */
export function clockBacks(gaps: Array<{ camera: string | null; start_ms: number; end_ms: number | null; cause: string; detail: string | null }>): ClockBack[] {
  return gaps.filter(isClockBack).map((g) => ({ camera: g.camera, from_ms: g.start_ms, to_ms: g.end_ms ?? g.start_ms }));
}

export class ChainTimeOrder {
  private readonly lastEnd = new Map<string, { end: number; id: number }>();
  /** anchors by chain length, and the latest time among those shorter than the row being checked */
  private readonly anchors: TimeAnchor[];
  private next = 0;
  private latest: TimeAnchor | undefined;

  constructor(anchors: TimeAnchor[], private readonly clockBacks: ClockBack[], private readonly clockForward: ClockForward[] = []) {
    this.anchors = [...anchors].sort((a, b) => a.segments - b.segments);
  }

  private clockExplains(row: TimedRow): boolean {
    return this.clockBacks.some((g) => (g.camera === null || g.camera === row.camera)
      && g.from_ms - STEP_SLACK_MS <= row.start_ms && row.start_ms <= g.to_ms + STEP_SLACK_MS)
      || this.clockForward.some((f) => row.id > f.after_segment && row.end_ms <= f.from_ms + STEP_SLACK_MS);
  }

  /** The problems of the next row of the chain (rows in id order). */
  step(row: TimedRow): string[] {
    const out: string[] = [];
    while (this.next < this.anchors.length && this.anchors[this.next]!.segments < row.id) {
      const a = this.anchors[this.next++]!;
      if (!this.latest || a.at_ms > this.latest.at_ms) this.latest = a;
    }
    const before = this.lastEnd.get(row.camera);
    const outOfOrder = before !== undefined && row.start_ms < before.end - ORDER_SLACK_MS;
    const missedBy = this.latest && row.end_ms < this.latest.at_ms - ANCHOR_GRACE_MS ? this.latest : undefined;
    if ((outOfOrder || missedBy) && !this.clockExplains(row)) {
      if (outOfOrder) {
        out.push(`segment #${row.id} of ${row.camera} starts ${iso(row.start_ms)}, before segment #${before.id} of the same camera, added to the chain earlier, ended (${iso(before.end)}): `
          + 'a camera\'s segments are added as they close, in time order, and no step of the clock back explains it: slipped in afterwards');
      }
      if (missedBy) {
        out.push(`segment #${row.id} of ${row.camera} ended ${iso(row.end_ms)}, but ${missedBy.label} of ${iso(missedBy.at_ms)} (${missedBy.segments} segments) does not hold it: `
          + 'a segment is in the catalog seconds after it closes: added after that checkpoint with a time before it');
      }
    }
    if (!before || row.end_ms > before.end) this.lastEnd.set(row.camera, { end: row.end_ms, id: row.id });
    return out;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
