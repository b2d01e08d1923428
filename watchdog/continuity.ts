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
    if (catalog.openGapOf(camera)) continue;
    const last = catalog.lastSegment(camera);
    if (!last) continue;
    catalog.openGap(camera, last.end_ms, cause, previous === 'stopped' ? 'the daemon was stopped' : 'the daemon ended without stopping (crash, kill or power cut)');
    log.warn({ camera, cause, since: new Date(last.end_ms).toISOString() }, 'recording was interrupted while the daemon was not running');
    raise('camera_offline', camera, { cause, since_ms: last.end_ms });
  }
  catalog.setMeta(RUN_STATE, 'running');
}

export function markCleanStop(catalog: Catalog): void {
  catalog.setMeta(RUN_STATE, 'stopped');
}

/** Share of [fromMs, toMs) that a camera has on record, 0..1. */
export function continuity(catalog: Catalog, camera: string, fromMs: number, toMs: number): number {
  if (toMs <= fromMs) return 1;
  return Math.min(1, catalog.recordedMs(camera, fromMs, toMs) / (toMs - fromMs));
}
