import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ClosedSegment } from './backends/backend.js';
import type { Catalog, SegmentRow } from './catalog/catalog.js';
import { sha256File } from '../common/file-hash.js';

export const RECORDINGS_DIR = 'recordings';
const STAGING = '.staging';
const STAGED_NAME = /^(\d{13})-(\d{6})\.mp4$/;

/** Where a backend writes a camera's open segments; files move out of it once closed. */
export function stagingDir(dataDir: string, camera: string): string {
  return join(dataDir, RECORDINGS_DIR, camera, STAGING);
}

/** `<runStartMs>-<seq>.mp4`: the run's start lets recovery place a file the backend never reported. */
export function parseStagedName(name: string): { runStartMs: number; seq: number } | null {
  const m = STAGED_NAME.exec(basename(name));
  return m ? { runStartMs: Number(m[1]), seq: Number(m[2]) } : null;
}

/** recordings/<camera>/<YYYY-MM-DD>/<HH>/<start-ms>.mp4, in UTC so that no hour repeats at DST. */
export function segmentPath(camera: string, startMs: number): string {
  const iso = new Date(startMs).toISOString();
  return join(RECORDINGS_DIR, camera, iso.slice(0, 10), iso.slice(11, 13), `${startMs}.mp4`);
}

export function parseSegmentPath(rel: string): { camera: string; startMs: number } | null {
  const m = /^recordings\/([^/]+)\/\d{4}-\d{2}-\d{2}\/\d{2}\/(\d{13})(?:-\d+)?\.mp4$/.exec(rel);
  return m ? { camera: m[1], startMs: Number(m[2]) } : null;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Moves closed segments from staging into the recordings tree and indexes them. Commits are
 * serialised so the hash chain grows in one order. The invariant that start-up recovery relies
 * on: the row is inserted only after the file and its directories are fsynced in place.
 */
export class SegmentStore {
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Per camera, the provenance of what its running recorder writes (the capture mask set in
   * force): set when the recorder starts, so a file a previous run left in staging and indexed
   * at start-up gets none (its mask set is not known), never the new one.
   */
  private readonly provenance = new Map<string, string | null>();

  constructor(readonly dataDir: string, private readonly catalog: Catalog, private readonly log: Logger) {}

  commit(seg: ClosedSegment, origin: SegmentRow['origin'] = 'recorded'): Promise<SegmentRow> {
    const next = this.queue.then(() => this.commitNow(seg, origin));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** What the camera's recorder writes from now on was recorded under this provenance (null: nothing to say). */
  setProvenance(camera: string, provenance: string | null): void {
    this.provenance.set(camera, provenance);
  }

  /** Resolves once every commit queued so far is done. */
  drain(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** Indexes a file already at its final path (a crash came between its rename and its row). */
  indexInPlace(rel: string, camera: string, startMs: number, endMs: number): Promise<SegmentRow> {
    const next = this.queue.then(async () => {
      const abs = join(this.dataDir, rel);
      const row = this.catalog.addSegment({
        camera, start_ms: startMs, end_ms: endMs, bytes: statSync(abs).size, path: rel, sha256: await sha256File(abs), origin: 'recovered',
        provenance: this.provenance.get(camera) ?? null,
      });
      this.log.info({ camera, path: rel }, 'unindexed segment found at its place and indexed');
      return row;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async commitNow(seg: ClosedSegment, origin: SegmentRow['origin']): Promise<SegmentRow> {
    const rel = this.freePath(seg.camera, Math.round(seg.startMs));
    const abs = join(this.dataDir, rel);
    fsyncPath(seg.stagedPath);
    const sha256 = await sha256File(seg.stagedPath);
    const bytes = statSync(seg.stagedPath).size;
    mkdirSync(dirname(abs), { recursive: true });
    renameSync(seg.stagedPath, abs);
    for (let d = dirname(abs); d.length >= join(this.dataDir, RECORDINGS_DIR).length; d = dirname(d)) fsyncPath(d);
    fsyncPath(dirname(seg.stagedPath));
    const row = this.catalog.addSegment({
      camera: seg.camera, start_ms: Math.round(seg.startMs), end_ms: Math.round(seg.endMs), bytes, path: rel, sha256, origin,
      provenance: this.provenance.get(seg.camera) ?? null,
    });
    this.log.debug({ camera: seg.camera, path: rel, bytes, start: row.start_ms, end: row.end_ms, origin }, 'segment indexed');
    return row;
  }

  /** A reconnect burst can open two segments in one millisecond; never overwrite evidence. */
  private freePath(camera: string, startMs: number): string {
    let rel = segmentPath(camera, startMs);
    for (let n = 1; existsSync(join(this.dataDir, rel)) || this.catalog.hasPath(rel); n++) {
      rel = segmentPath(camera, startMs).replace(/\.mp4$/, `-${n}.mp4`);
    }
    return rel;
  }
}
