import type { Logger } from 'pino';
import type { Catalog, GapRow } from '../recorder/catalog/catalog.js';
import type { RaiseEvent } from './events.js';
import { isDaemonGap } from './gap-cause.js';
import type { HeldState } from './held-while-full.js';
import { readBootId } from './system-health.js';

const RUN_STATE = 'run_state';
/** the last time the daemon is known to have run (ms): written every ALIVE_INTERVAL_MS and at a clean stop */
const ALIVE = 'alive_ms';
/** the same moment on the monotonic clock, and the boot: {boot, wall_ms, mono_ms} */
const ALIVE_CLOCK = 'alive_clock';
export const ALIVE_INTERVAL_MS = 10_000;
/** meta: the last segment indexed while the clock was trusted, and in which boot ({boot, segment}) */
export const TRUSTED_META = 'clock.trusted_through';

/**
 * The daemon's own interruptions. At start-up, each camera's time since its last segment is a
 * gap: `daemon_stopped` after a clean stop, `daemon_down` after a crash, kill or power cut (the
 * run state was still "running"). The next segment closes it, like any other gap.
 *
 * A camera already in a gap of its own (unreachable, stalled, ...) when the daemon went had that
 * cause until the daemon's last sign of life; from there the daemon's absence is the cause: its
 * gap is handed over to one of the daemon's (it had spanned the downtime as the camera's fault).
 */
export function openDaemonGaps(catalog: Catalog, cameras: string[], log: Logger, raise: RaiseEvent, nowMs = Date.now(), held: HeldState = { gaps: {} }): void {
  const previous = held.stopped ? 'stopped' : catalog.getMeta(RUN_STATE);
  const cause = previous === 'stopped' ? 'daemon_stopped' : 'daemon_down';
  const detail = previous === 'stopped' ? 'the daemon was stopped' : KILLED;
  const aliveMs = Math.max(Number(catalog.getMeta(ALIVE)) || 0, Number(held.alive_ms) || 0);
  const stepBack = clockStepWhileDown(catalog, cameras, nowMs, log, raise) ?? clockBehindAtStart(catalog, cameras, aliveMs, nowMs, log, raise);
  writeHeldGaps(catalog, cameras, held, aliveMs, log);
  for (const camera of cameras) {
    placeRecovered(catalog, camera, log, raise);
    const open = catalog.openGapOf(camera);
    if (open) {
      // a catalog of a version that wrote no sign of life keeps the camera's cause, as it did
      if (!isDaemonGap(open.cause) && aliveMs > 0) handOver(catalog, open, aliveMs, cause, detail, log, raise);
      continue;
    }
    const last = catalog.lastSegment(camera);
    if (!last) continue;
    // a clock behind the last recording: the downtime's length is unknown, and this run's footage
    // starts (by the clock) before the last run's ended; the gap runs from now, where it can close
    const since = stepBack ? Math.min(last.end_ms, nowMs) : last.end_ms;
    catalog.openGap(camera, since, cause, stepBack ? `${detail}; how long is not known: the clock stepped back meanwhile` : detail);
    log.warn({ camera, cause, since: new Date(since).toISOString() }, 'recording was interrupted while the daemon was not running');
    raise('camera_offline', camera, { cause, since_ms: since });
  }
  catalog.setMeta(RUN_STATE, 'running');
  markAlive(catalog, nowMs);
}

/**
 * Cameras the config no longer records (removed from it, or `enabled: false`), each with why: the
 * time from where each stopped is a `camera_disabled` gap, kept open until it records again. A
 * camera taken out by a reload and put back had a hole no gap explained; put back after a
 * restart, its time out was the daemon's (`daemon_stopped`), though the daemon ran. A gap of
 * another cause open then (the camera was out, or the daemon was) ends at `nowMs`.
 */
export function openDisabledGaps(catalog: Catalog, cameras: Array<{ camera: string; why: string }>, log: Logger, raise: RaiseEvent, nowMs = Date.now()): void {
  for (const { camera, why } of cameras) {
    const open = catalog.openGapOf(camera);
    if (open?.cause === 'camera_disabled') continue;
    if (open) {
      handOver(catalog, open, nowMs, 'camera_disabled', why, log, raise);
      continue;
    }
    const last = catalog.lastSegment(camera);
    if (!last) continue; // never recorded: no time of its is missing
    catalog.openGap(camera, last.end_ms, 'camera_disabled', why);
    log.info({ camera, since: new Date(last.end_ms).toISOString(), why }, 'camera not recorded by the config: its time from here is a gap');
    raise('camera_offline', camera, { cause: 'camera_disabled', reason: why, since_ms: last.end_ms });
  }
}

/**
 * The gaps a full disk kept out of the catalog until the daemon went (watchdog/held-while-full.ts):
 * each opens where it began, after what the camera has on record, and the loop above hands it over
 * to the daemon's own gap at the last sign of life, as for any camera out when the daemon went.
 * One the catalog took after all (the run went before it could empty the file) is not written again.
 */
function writeHeldGaps(catalog: Catalog, cameras: string[], held: HeldState, aliveMs: number, log: Logger): void {
  for (const [camera, gap] of Object.entries(held.gaps)) {
    if (!cameras.includes(camera) || catalog.openGapOf(camera)) continue;
    const startMs = Math.max(gap.start_ms, catalog.lastSegment(camera)?.end_ms ?? 0);
    if (startMs >= aliveMs || catalog.gaps(camera, startMs - 1000).some((g) => g.start_ms >= startMs - 1000)) continue;
    catalog.openGap(camera, startMs, gap.cause, gap.detail ?? undefined);
    log.warn({ camera, cause: gap.cause, since: new Date(startMs).toISOString() }, 'a gap the full disk held back is recorded');
  }
}

/** Below this, a start before the last sign of life is the alive mark's own lag, not a step. */
const START_STEP_BACK_MS = 2_000;

/**
 * A step of the wall clock as a `clock_jump` gap on every camera, [old, new] forward and [new,
 * old] back (a hole or an overlap no camera caused), and an event. `note` says when it was seen.
 */
export function recordClockJump(catalog: Catalog, cameras: string[], step: { stepMs: number; fromWall: number; toWall: number }, log: Logger, raise: RaiseEvent, note = ''): void {
  const [from, to] = step.stepMs > 0 ? [step.fromWall, step.toWall] : [step.toWall, step.fromWall];
  for (const camera of cameras) {
    try {
      catalog.addGap(camera, from, to, 'clock_jump', `the clock stepped ${step.stepMs > 0 ? 'forward' : 'back'} by ${Math.abs(step.stepMs)} ms${note}`);
    } catch (err) {
      log.error({ err, camera }, 'cannot record the clock jump');
    }
  }
  raise('clock_jump', null, { step_ms: step.stepMs });
}

/**
 * A step of the clock while the daemon was not running, in the same boot: the last run's last
 * sign of life holds the wall clock and the monotonic clock (which no one sets, and which runs
 * from the boot) at one moment, so the wall clock expected now is known. A step forward then is
 * recorded as a running one is (a `clock_stepped` ledger entry the health monitor reads back as
 * unconfirmed: age deletion pauses until a synchronised reading, and the footage before it is aged
 * from when it was recorded); footage recorded 70 days behind and minutes old had been deleted
 * "for age" at the next start (an outside probe). null: another boot, or no sign of life.
 */
function clockStepWhileDown(catalog: Catalog, cameras: string[], nowMs: number, log: Logger, raise: RaiseEvent): number | null {
  let mark: { boot?: unknown; wall_ms?: unknown; mono_ms?: unknown } | null;
  try { mark = JSON.parse(catalog.getMeta(ALIVE_CLOCK) ?? 'null') as typeof mark; } catch { mark = null; }
  if (!mark || mark.boot !== thisBoot() || typeof mark.wall_ms !== 'number' || typeof mark.mono_ms !== 'number') return null;
  const expected = mark.wall_ms + (monoMs() - mark.mono_ms);
  const stepMs = Math.round(nowMs - expected);
  if (Math.abs(stepMs) < START_STEP_BACK_MS) return 0;
  const note = ' while the daemon was not running';
  if (stepMs > 0) {
    let trusted: { boot?: unknown; segment?: unknown } | null;
    try { trusted = JSON.parse(catalog.getMeta(TRUSTED_META) ?? 'null') as typeof trusted; } catch { trusted = null; }
    // the footage after the last segment a trusted clock dated (this boot's mark), else all of it: aged later, never early
    const after = trusted?.boot === mark.boot && Number.isSafeInteger(trusted.segment) ? trusted.segment as number : 0;
    catalog.ledgerEntry('clock_stepped', null, { step_ms: stepMs, from_ms: Math.round(expected), to_ms: nowMs, after_segment: after }, nowMs);
  }
  log.warn({ stepMs }, `the wall clock stepped ${stepMs > 0 ? 'forward' : 'back'} while the daemon was not running`);
  recordClockJump(catalog, cameras, { stepMs, fromWall: Math.round(expected), toWall: nowMs }, log, raise, note);
  return stepMs < 0 ? -stepMs : 0;
}

/** This boot's id, read once (a sign of life every 10 s read it again; off Linux each read is another id). */
let boot: string | undefined;
const thisBoot = (): string => (boot ??= readBootId());

/** The monotonic clock (CLOCK_MONOTONIC: since boot, the same for every process of the boot), in ms. */
const monoMs = (): number => Number(process.hrtime.bigint() / 1_000_000n);

/**
 * A step of the clock back while the daemon was not running: it starts before the last run's
 * recordings ended, or before its last sign of life (a board without a clock booting offline
 * after a power cut, its time restored from the last save; someone setting the date). Recorded
 * as a running step back is, a `clock_jump` gap on every camera over [now, the latest time the
 * box had reached] and an event, so that `verify` reads this run's footage, dated before the
 * last run's, as the clock's doing: it had called every such segment inserted afterwards (an
 * outside probe). Returns the step in ms, 0 when there was none.
 */
function clockBehindAtStart(catalog: Catalog, cameras: string[], aliveMs: number, nowMs: number, log: Logger, raise: RaiseEvent): number {
  const reached = Math.max(aliveMs, ...cameras.map((c) => catalog.lastSegment(c)?.end_ms ?? 0));
  const stepMs = reached - nowMs;
  if (stepMs < START_STEP_BACK_MS) return 0;
  log.warn({ stepMs, reached: new Date(reached).toISOString() }, 'the clock is behind the last recording: it stepped back while the daemon was not running');
  recordClockJump(catalog, cameras, { stepMs: -stepMs, fromWall: reached, toWall: nowMs }, log, raise,
    ` while the daemon was not running: it started at ${new Date(nowMs).toISOString()}, before the box's last recording or sign of life (${new Date(reached).toISOString()})`);
  return stepMs;
}

/**
 * Time inside gaps between `fromMs` and `toMs` (an open gap up to `toMs`), each moment counted
 * once: a clock step is a `clock_jump` gap on every camera, over a camera's own gap at times, and
 * `status` had added both (an outside probe).
 */
export function gapTimeWithin(gaps: ReadonlyArray<{ start_ms: number; end_ms: number | null }>, fromMs: number, toMs: number): number {
  const spans = gaps.map((g) => [Math.max(g.start_ms, fromMs), Math.min(g.end_ms ?? toMs, toMs)] as const)
    .filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let reached = -Infinity;
  for (const [a, b] of spans) {
    if (b <= reached) continue;
    total += b - Math.max(a, reached);
    reached = b;
  }
  return total;
}

/** Closer than this, two segments are the recorder's seam, not a loss (as a gap closes at a segment starting up to 1 s before it). */
const SEAM_MS = 1000;
const KILLED = 'the daemon ended without stopping (crash, kill or power cut)';

/**
 * Segments recovery has just indexed from staging may lie inside the camera's open gap: runs
 * killed before their first segment was indexed left the gap of the run before them open, and
 * their staged files come back now. The gap is closed where they begin, and the time between
 * them (each a run that was killed) is a `daemon_down` gap of its own: one gap over recordings
 * the box holds, and no gap for the downtimes between them, had been seen (an outside probe,
 * 18 kills at random moments).
 */
function placeRecovered(catalog: Catalog, camera: string, log: Logger, raise: RaiseEvent): void {
  const open = catalog.openGapOf(camera);
  if (!open) return;
  // starting after the gap did (a seam's tolerance), and not over before it: a short segment just before it is not inside
  const inside = catalog.segments(camera, open.start_ms).filter((r) => r.start_ms >= open.start_ms - SEAM_MS && r.end_ms > open.start_ms);
  if (!inside.length) return;
  catalog.closeGap(open.id, inside[0]!.start_ms);
  log.info({ camera, gap: open.id, cause: open.cause, endMs: inside[0]!.start_ms }, 'gap closed at the recordings recovered from staging');
  raise('gap', camera, { cause: open.cause, start_ms: open.start_ms, end_ms: inside[0]!.start_ms, duration_ms: Math.max(0, inside[0]!.start_ms - open.start_ms), detail: open.detail });
  let reached = inside[0]!.end_ms;
  for (const r of inside.slice(1)) {
    // a gap the killed run did write (a camera that dropped out) stands for itself
    if (r.start_ms - reached > SEAM_MS && !catalog.gaps(camera, reached, r.start_ms).length) {
      catalog.addGap(camera, reached, r.start_ms, 'daemon_down', KILLED);
      raise('gap', camera, { cause: 'daemon_down', start_ms: reached, end_ms: r.start_ms, duration_ms: r.start_ms - reached, detail: KILLED });
    }
    reached = Math.max(reached, r.end_ms);
  }
}

/**
 * An open gap whose cause changed at `atMs` is closed there, and a gap of `cause` opens from
 * there; the closed one is reported as any gap that ends, the new one as the camera going offline
 * for that cause. Used where the daemon went down inside a camera's gap (here, at start-up) and
 * where it came back while the camera was still out (the camera's supervisor).
 */
export function handOver(catalog: Catalog, open: GapRow, atMs: number, cause: string, detail: string, log: Logger, raise: RaiseEvent): void {
  const done = catalog.handOverGap(open.id, atMs, cause, detail);
  if (!done) return;
  const { closed, opened } = done;
  log.info({ camera: closed.camera, gap: closed.id, cause: closed.cause, endMs: closed.end_ms, next: cause }, 'gap handed over: its cause changed');
  raise('gap', closed.camera, { cause: closed.cause, start_ms: closed.start_ms, end_ms: closed.end_ms, duration_ms: closed.end_ms! - closed.start_ms, detail: closed.detail });
  raise('camera_offline', closed.camera, { cause, reason: detail, since_ms: opened.start_ms });
}

/** The daemon's sign of life, for the next start to know when a run that was killed ended (within ALIVE_INTERVAL_MS). */
export function markAlive(catalog: Catalog, nowMs = Date.now()): void {
  catalog.setMeta(ALIVE, String(nowMs));
  catalog.setMeta(ALIVE_CLOCK, JSON.stringify({ boot: thisBoot(), wall_ms: nowMs, mono_ms: monoMs() }));
}

export function markCleanStop(catalog: Catalog): void {
  markAlive(catalog);
  catalog.setMeta(RUN_STATE, 'stopped');
}

/** Share of [fromMs, toMs) that a camera has on record, 0..1. */
export function continuity(catalog: Catalog, camera: string, fromMs: number, toMs: number): number {
  if (toMs <= fromMs) return 1;
  return Math.min(1, catalog.recordedMs(camera, fromMs, toMs) / (toMs - fromMs));
}
