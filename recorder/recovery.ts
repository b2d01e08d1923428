import { existsSync, fsyncSync, mkdirSync, openSync, closeSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { Logger } from 'pino';
import { sha256File } from '../common/file-hash.js';
import type { Catalog, SegmentRow } from './catalog/catalog.js';
import { killOrphansWriting } from './backends/orphans.js';
import { recordedMedia } from '../common/media-probe.js';
import { parseSegmentPath, parseStagedName, RECORDINGS_DIR, segmentPath, stagingDir, type SegmentStore } from './segment-store.js';

/** `<data>/quarantine/<camera>/`: files recovery could not prove to be empty, nor index. */
export const QUARANTINE_DIR = 'quarantine';

export interface RecoveryResult {
  indexed: SegmentRow[];
  /** files proven to hold no video (zero bytes, or read by ffprobe without a video packet), removed */
  discarded: string[];
  /** files ffprobe could not read (failed, crashed, timed out): moved to quarantine/, kept */
  quarantined: Array<{ file: string; reason: string }>;
}

/** Told about each quarantined file (the daemon raises `segment_quarantined`). */
export type QuarantineSink = (camera: string, q: { file: string; from: string; bytes: number; sha256: string; reason: string }) => void;

/**
 * The cameras with a directory under recordings/, by the config's camera id rule: a camera
 * removed from the config (or renamed) after a killed run left its staged file, which only the
 * configured cameras' recovery looked at (an outside probe: no row, no gap, no ledger entry,
 * never deleted).
 */
export function camerasOnDisk(dataDir: string): string[] {
  return listSorted(join(dataDir, RECORDINGS_DIR), (d) => /^[a-z0-9][a-z0-9_-]{0,62}$/.test(d));
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
export interface RecoveryOptions {
  /** told of each file set aside in quarantine */
  onQuarantine?: QuarantineSink;
  /**
   * Whether a recorder left by an earlier run may still write into staging (default true: at
   * start-up). False after this daemon's own recorder exited (its process group killed): the
   * scan reads every process's command line, which at each of 64 recorders' exits made a stop slow.
   */
  orphansPossible?: boolean;
}

export async function recoverCamera(dataDir: string, camera: string, catalog: Catalog, store: SegmentStore, log: Logger, opts: RecoveryOptions = {}): Promise<RecoveryResult> {
  const { onQuarantine, orphansPossible = true } = opts;
  const result: RecoveryResult = { indexed: [], discarded: [], quarantined: [] };
  /** Never a deletion on doubt: only a file proven empty goes; one ffprobe cannot read is kept aside. */
  const setAside = async (abs: string, reason: string) => {
    const q = await quarantine(dataDir, camera, abs, reason, catalog);
    result.quarantined.push({ file: q.file, reason });
    log.warn({ camera, from: q.from, to: q.file, reason }, 'recovery could not read a recorded file: kept in quarantine, not deleted');
    onQuarantine?.(camera, q);
  };
  // the files at their final path first: they are older than what is in staging, whose start
  // follows the last row (indexed first, a staged file moved the last row past them and they were
  // never found again, reported by verify as inserted)
  const last = catalog.lastSegment(camera);
  for (const rel of tailFiles(dataDir, camera, last?.start_ms ?? 0)) {
    if (catalog.hasPath(rel)) continue;
    const { startMs } = parseSegmentPath(rel)!;
    if (last && startMs < last.end_ms - 1000) continue;
    const probe = await recordedMedia(join(dataDir, rel));
    if (probe.kind === 'empty') {
      unlinkSync(join(dataDir, rel));
      result.discarded.push(rel);
    } else if (probe.kind === 'unknown') {
      await setAside(join(dataDir, rel), probe.why);
    } else {
      result.indexed.push(await store.indexInPlace(rel, camera, startMs, startMs + probe.info.durationMs));
    }
  }
  const staging = stagingDir(dataDir, camera);
  const orphans = orphansPossible ? killOrphansWriting(staging) : [];
  if (orphans.length) log.warn({ camera, pids: orphans }, 'killed recorder processes left by an earlier run');
  const staged = listSorted(staging, (n) => parseStagedName(n) !== null).sort((a, b) => {
    const pa = parseStagedName(a)!;
    const pb = parseStagedName(b)!;
    return pa.runStartMs - pb.runStartMs || pa.seq - pb.seq;
  });
  for (const name of staged) {
    const path = join(staging, name);
    const probe = await recordedMedia(path);
    if (probe.kind === 'empty') {
      unlinkSync(path);
      result.discarded.push(name);
      continue;
    }
    if (probe.kind === 'unknown') {
      await setAside(path, probe.why);
      continue;
    }
    const { runStartMs } = parseStagedName(name)!;
    const last = catalog.lastSegment(camera);
    const startMs = last && last.end_ms >= runStartMs ? last.end_ms : runStartMs;
    result.indexed.push(await store.commit({ camera, stagedPath: path, startMs, endMs: startMs + probe.info.durationMs }, 'recovered'));
  }

  if (result.indexed.length || result.discarded.length) {
    log.info({ camera, indexed: result.indexed.map((r) => r.path), discarded: result.discarded }, 'recovered segments left by an interrupted run');
  }
  return result;
}

/**
 * Moves a file to `quarantine/<camera>/` (a name never reused) with a ledger entry saying where
 * it came from, its hash and why, so `verify` accounts for it; the move is fsynced like a commit.
 * The entry comes first: on a full disk the catalog refused it after the move, and `verify`
 * failed for good on a file the box had set aside itself (an outside probe). Refused now, the
 * file stays where it was and the next recovery tries again.
 */
async function quarantine(dataDir: string, camera: string, abs: string, reason: string, catalog: Catalog) {
  const dir = join(dataDir, QUARANTINE_DIR, camera);
  mkdirSync(dir, { recursive: true });
  let target = join(dir, basename(abs));
  for (let n = 1; existsSync(target); n++) target = join(dir, `${n}-${basename(abs)}`);
  const sha256 = await sha256File(abs);
  const bytes = statSync(abs).size;
  const q = { file: relative(dataDir, target), from: relative(dataDir, abs), bytes, sha256, reason };
  catalog.recordQuarantine(camera, q);
  renameSync(abs, target);
  for (const d of [dir, dirname(abs)]) {
    const fd = openSync(d, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  }
  return q;
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
  if (missing.length) catalog.flagMissing(missing, 'file not found at start-up');
  for (const row of missing) log.warn({ camera: row.camera, path: row.path, segment: row.id }, 'catalogued segment is missing on disk');
  return missing;
}
