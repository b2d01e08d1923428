import type { Logger } from 'pino';
import type { Catalog } from '../recorder/catalog/catalog.js';
import type { RaiseEvent } from './events.js';

const RUN_STATE = 'run_state';

/**
 * The daemon's own interruptions. At start-up, each camera's time since its last segment is a
 * gap: `daemon_stopped` after a clean stop, `daemon_down` after a crash, kill or power cut (the
 * run state was still "running"). The next segment closes it, like any other gap.
 */
export function openDaemonGaps(catalog: Catalog, cameras: string[], log: Logger, raise: RaiseEvent): void {
  const previous = catalog.getMeta(RUN_STATE);
  const cause = previous === 'stopped' ? 'daemon_stopped' : 'daemon_down';
  for (const camera of cameras) {
    placeRecovered(catalog, camera, log, raise);
    if (catalog.openGapOf(camera)) continue;
    const last = catalog.lastSegment(camera);
    if (!last) continue;
    catalog.openGap(camera, last.end_ms, cause, previous === 'stopped' ? 'the daemon was stopped' : KILLED);
    log.warn({ camera, cause, since: new Date(last.end_ms).toISOString() }, 'recording was interrupted while the daemon was not running');
    raise('camera_offline', camera, { cause, since_ms: last.end_ms });
  }
  catalog.setMeta(RUN_STATE, 'running');
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

export function markCleanStop(catalog: Catalog): void {
  catalog.setMeta(RUN_STATE, 'stopped');
}

/** Share of [fromMs, toMs) that a camera has on record, 0..1. */
export function continuity(catalog: Catalog, camera: string, fromMs: number, toMs: number): number {
  if (toMs <= fromMs) return 1;
  return Math.min(1, catalog.recordedMs(camera, fromMs, toMs) / (toMs - fromMs));
}
