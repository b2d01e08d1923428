/**
 * Footage recorded under a clock that was behind: a Pi without a real-time clock boots offline
 * after weeks off and records with dates weeks old until NTP steps the clock forward. The rows
 * keep the dates they were recorded with (they are hash-chained, and the dates are what the
 * recorder said); the ledger says by how much they were behind, and retention and `verify` age
 * them by it, so minutes-old footage is not deleted as "older than max_days".
 *
 * Two entries make one correction:
 * - `clock_stepped`, when the daemon sees the wall clock step forward: by how much, the wall
 *   clock just before (`from_ms`), and the last segment recorded while the clock was trusted
 *   (`after_segment`: indexed at a synchronised reading, or before this boot's first start);
 * - `clock_confirmed`, at the first synchronised reading after it: the step was a correction,
 *   and the last segment indexed by then (`through_segment`).
 * A row is dated `step_ms` early when `after_segment < id <= through_segment` and it ended at or
 * before `from_ms` (a segment open across the step is already moved into the new clock by its
 * supervisor). Only forward steps are corrected: after a step back, earlier rows are dated late
 * and kept longer than their maximum by the step, never deleted early.
 */
import type { ClockFacts } from './ledger.js';

export interface ClockSteppedData {
  step_ms: number;
  from_ms: number;
  to_ms: number;
  after_segment: number;
}

export interface ClockConfirmedData {
  /** the `clock_stepped` ledger entries this reading confirms */
  steps: number[];
  through_segment: number;
  clock: ClockFacts;
}

export interface ClockCorrection {
  afterSegment: number;
  throughSegment: number;
  fromMs: number;
  stepMs: number;
}

/** The corrections one confirmation makes, from the steps it names (a step it names that is not there is left out; verify says so). */
export function confirmedCorrections(stepped: ReadonlyMap<number, ClockSteppedData>, confirmed: ClockConfirmedData): ClockCorrection[] {
  return confirmed.steps.flatMap((id) => {
    const s = stepped.get(id);
    return s && s.step_ms > 0 ? [{ afterSegment: s.after_segment, throughSegment: confirmed.through_segment, fromMs: s.from_ms, stepMs: s.step_ms }] : [];
  });
}

/** How much later a row really ended than its dates say (0 for a row no correction covers). */
export function ageShift(row: { id: number; end_ms: number }, corrections: readonly ClockCorrection[]): number {
  let shift = 0;
  for (const c of corrections) if (row.id > c.afterSegment && row.id <= c.throughSegment && row.end_ms <= c.fromMs) shift += c.stepMs;
  return shift;
}

/** When a row really started: its recorded start, moved by the corrections that cover it. */
export const trueStart = (row: { id: number; start_ms: number; end_ms: number }, corrections: readonly ClockCorrection[]): number =>
  row.start_ms + ageShift(row, corrections);

/** The same as SQL over `s` (a segments row): an expression and its parameters, '0' with none. */
export function ageShiftSql(corrections: readonly ClockCorrection[]): { sql: string; params: number[] } {
  if (!corrections.length) return { sql: '0', params: [] };
  return {
    sql: `(${corrections.map(() => 'CASE WHEN s.id > ? AND s.id <= ? AND s.end_ms <= ? THEN ? ELSE 0 END').join(' + ')})`,
    params: corrections.flatMap((c) => [c.afterSegment, c.throughSegment, c.fromMs, c.stepMs]),
  };
}
