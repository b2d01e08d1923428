import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Catalog, SegmentRow } from './catalog/catalog.js';
import { killOrphansWriting } from './backends/orphans.js';
import { recordedMedia } from '../common/media-probe.js';
import { parseSegmentPath, parseStagedName, RECORDINGS_DIR, segmentPath, stagingDir, type SegmentStore } from './segment-store.js';

export interface RecoveryResult {
  indexed: SegmentRow[];
  /** staged files without a single video frame, removed */
  discarded: string[];
}

function listSorted(dir: string, filter: (name: string) => boolean = () => true): string[] {
  try {
    return readdirSync(dir).filter(filter).sort();
  } catch {
    return [];
  }
}

/**
 * Indexes what a crash (or a backend that died mid-segment) left unindexed for one camera:
 * 1. files still in staging: the last open segment of a run, playable up to its last fragment;
 *    it starts where the run's last indexed segment ended (or at the run's start);
 * 2. files already at their final path with no row: a crash between rename and insert. Only
 *    the tail after the camera's last row is searched; anything older is not recovery, and
 *    `verify` reports it as inserted.
 * Runs with the camera's backend stopped, so nothing in staging is still being written.
 */
export async function recoverCamera(dataDir: string, camera: string, catalog: Catalog, store: SegmentStore, log: Logger): Promise<RecoveryResult> {
  const result: RecoveryResult = { indexed: [], discarded: [] };
  const staging = stagingDir(dataDir, camera);
  const orphans = killOrphansWriting(staging);
  if (orphans.length) log.warn({ camera, pids: orphans }, 'killed recorder processes left by an earlier run');
  const staged = listSorted(staging, (n) => parseStagedName(n) !== null).sort((a, b) => {
    const pa = parseStagedName(a)!;
    const pb = parseStagedName(b)!;
    return pa.runStartMs - pb.runStartMs || pa.seq - pb.seq;
  });
  for (const name of staged) {
    const path = join(staging, name);
    const media = await recordedMedia(path);
    if (!media) {
      unlinkSync(path);
      result.discarded.push(name);
      continue;
    }
    const { runStartMs } = parseStagedName(name)!;
    const last = catalog.lastSegment(camera);
    const startMs = last && last.end_ms >= runStartMs ? last.end_ms : runStartMs;
    result.indexed.push(await store.commit({ camera, stagedPath: path, startMs, endMs: startMs + media.durationMs }, 'recovered'));
  }

  const last = catalog.lastSegment(camera);
  for (const rel of tailFiles(dataDir, camera, last?.start_ms ?? 0)) {
    if (catalog.hasPath(rel)) continue;
    const { startMs } = parseSegmentPath(rel)!;
    if (last && startMs < last.end_ms - 1000) continue;
    const media = await recordedMedia(join(dataDir, rel));
    if (!media) continue;
    result.indexed.push(await store.indexInPlace(rel, camera, startMs, startMs + media.durationMs));
  }
  if (result.indexed.length || result.discarded.length) {
    log.info({ camera, indexed: result.indexed.map((r) => r.path), discarded: result.discarded }, 'recovered segments left by an interrupted run');
  }
  return result;
}

/** Segment files of a camera in the hour directories at or after `fromMs`. */
function tailFiles(dataDir: string, camera: string, fromMs: number): string[] {
  const from = segmentPath(camera, fromMs).split('/');
  const [fromDate, fromHour] = [from[2], from[3]];
  const cameraDir = join(dataDir, RECORDINGS_DIR, camera);
  const out: string[] = [];
  for (const date of listSorted(cameraDir, (d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && d >= fromDate)) {
    for (const hour of listSorted(join(cameraDir, date), (h) => /^\d{2}$/.test(h) && (date > fromDate || h >= fromHour))) {
      for (const file of listSorted(join(cameraDir, date, hour), (f) => f.endsWith('.mp4'))) {
        const rel = [RECORDINGS_DIR, camera, date, hour, file].join('/');
        if (parseSegmentPath(rel)) out.push(rel);
      }
    }
  }
  return out;
}

/** Rows whose files vanished are flagged `missing`, never dropped: the chain keeps them. */
export function flagMissing(dataDir: string, catalog: Catalog, log: Logger): SegmentRow[] {
  const missing: SegmentRow[] = [];
  for (const row of catalog.iterateLive()) {
    if (!existsSync(join(dataDir, row.path))) missing.push(row);
  }
  for (const row of missing) {
    catalog.setState(row.id, 'missing', 'file not found at start-up');
    log.warn({ camera: row.camera, path: row.path, segment: row.id }, 'catalogued segment is missing on disk');
  }
  return missing;
}
