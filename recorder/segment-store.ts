import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ClosedSegment } from './backends/backend.js';
import type { Catalog, NewSegment, SegmentRow } from './catalog/catalog.js';
import { sha256File, sha256Handle } from '../common/file-hash.js';
import { writeFileDurably } from '../common/durable-write.js';

export const RECORDINGS_DIR = 'recordings';

/**
 * A closed segment without a byte (its writes failed: a full disk under a running GStreamer
 * pipeline): no pictures, so no row, which would claim its time as recorded. Its staged file
 * is removed; the camera's supervisor puts the time on record as a gap.
 */
export class EmptySegmentError extends Error {
  constructor(readonly stagedPath: string) {
    super(`segment ${basename(stagedPath)} closed without a byte: removed, not indexed`);
  }
}

const STAGING = '.staging';
/** in a camera's staging dir: the provenance its recorder runs under (`setProvenance`) */
const PROVENANCE_FILE = 'provenance.json';
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

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

/**
 * A directory kept open to be fsynced again and again (a camera's staging dir, its current hour
 * dir): one call to libuv's pool per fsync instead of three (open, fsync, close). At 64 cameras
 * of 2 s segments that was 128 opens and closes a second; each call to the pool is a wake-up of
 * a pool thread and of the event loop, and those, not the work, were most of indexing's CPU.
 * `key` says which directory it must be: a handle of another key is closed and the new one opened.
 */
class KeptDir {
  private fh?: FileHandle;
  private key?: string;

  async sync(path: string, key: string): Promise<void> {
    await this.open(path, key);
    return this.fh!.sync();
  }

  /** Opens it ahead of its first fsync (a camera's hour dir readied before its first segment). */
  async open(path: string, key: string): Promise<void> {
    if (this.key === key && this.fh) return;
    await this.close();
    this.fh = await open(path, 'r');
    this.key = key;
  }

  /** The next sync opens the directory again (it was made anew). */
  forget(): void {
    void this.close();
  }

  /** Lets the handle go (at once: the next sync opens one of its own); resolves once it is closed. */
  async close(): Promise<void> {
    const old = this.fh;
    this.fh = undefined;
    this.key = undefined;
    await old?.close().catch(() => undefined);
  }
}

/** How many segments are hashed, fsynced and moved at once (the libuv pool has 4 threads). */
const PLACING_AT_ONCE = 3;

/** A catalog write that may succeed later: the disk was full or failed, or the file was locked. */
function retriable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|BUSY|LOCKED)/.test(code);
}

/**
 * Moves closed segments from staging into the recordings tree and indexes them. The invariant
 * that start-up recovery relies on: a row is inserted only after its file and directories are
 * fsynced in place. Which directories that takes is reasoned out in docs/recording.md
 * ("Directory fsyncs"): the two the rename changed, every time, and a directory's parent only the
 * first time this process commits into it (a directory it just made, or one a crashed run may
 * have left unsynced).
 *
 * Throughput (64 cameras of 2 s segments close 32 a second): the file work is asynchronous, so
 * the event loop never waits on the disk, and up to PLACING_AT_ONCE segments of different cameras
 * are placed at once (concurrent fsyncs share the file system's journal commits). One camera's
 * segments are placed one after the other, and rows are inserted in the order the segments were
 * committed, so the hash chain grows in one order.
 */
export class SegmentStore {
  private queue: Promise<unknown> = Promise.resolve();
  /** directories whose entry in their parent this process has fsynced */
  private readonly durableDirs = new Set<string>();
  /** per camera, the placing of its last segment */
  private readonly placing = new Map<string, Promise<unknown>>();
  /** final paths chosen by segments not yet in the catalog */
  private readonly reserved = new Set<string>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /**
   * Per camera, the provenance of what its running recorder writes (the capture mask set in
   * force): set when the recorder starts, so a file a previous run left in staging and indexed
   * at start-up gets none (its mask set is not known), never the new one.
   */
  private readonly provenance = new Map<string, string | null>();
  /** when each commit not yet in the catalog was asked for, oldest first (they finish in order) */
  private readonly waitingSince: number[] = [];
  /**
   * Files at their final path whose row could not go in because the catalog's disk was full (or
   * failed): each is put in, in order, before the next row. Left there, the file stayed without a
   * row once recording went on (recovery searches only after a camera's last row) and `verify`
   * reported it as inserted, for ever, after every full disk.
   */
  private readonly unindexed: NewSegment[] = [];
  /** per camera, its staging dir and the hour dir it last committed into, kept open for their fsyncs */
  private readonly keptDirs = new Map<string, { staging: KeptDir; hour: KeptDir; hourDir?: string }>();

  constructor(readonly dataDir: string, private readonly catalog: Catalog, private readonly log: Logger) {}

  /** How long the oldest closed segment not yet in the catalog has waited (ms; 0 when none waits): indexing is behind. */
  get waitingMs(): number {
    const oldest = this.waitingSince[0];
    return oldest === undefined ? 0 : performance.now() - oldest;
  }

  commit(seg: ClosedSegment, origin: SegmentRow['origin'] = 'recorded'): Promise<SegmentRow> {
    this.waitingSince.push(performance.now());
    const placed = (this.placing.get(seg.camera) ?? Promise.resolve()).then(() => this.limited(() => this.place(seg)));
    this.placing.set(seg.camera, placed.catch(() => undefined));
    const next = this.queue.then(async () => {
      const file = await placed;
      const wanted: NewSegment = {
        camera: seg.camera, start_ms: Math.round(seg.startMs), end_ms: Math.round(seg.endMs), bytes: file.bytes, path: file.rel, sha256: file.sha256, origin,
        clock_step_ms: seg.clockStepMs ?? null, provenance: this.provenanceOf(seg.camera),
      };
      try {
        this.indexUnindexed();
        const row = this.catalog.addSegment(wanted);
        this.log.debug({ camera: seg.camera, path: file.rel, bytes: file.bytes, start: row.start_ms, end: row.end_ms, origin }, 'segment indexed');
        return row;
      } catch (err) {
        if (retriable(err)) {
          this.unindexed.push(wanted);
          this.log.warn({ camera: seg.camera, path: file.rel, err }, 'segment kept at its place, its row to go in once the catalog can be written');
        }
        throw err;
      } finally {
        this.reserved.delete(file.rel);
      }
    });
    // rows go in one after another, in the order asked for: the one done is the oldest
    void next.finally(() => this.waitingSince.shift()).catch(() => undefined);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Where the camera's rows the full disk held back end (undefined when none waits): they go in
   * later, with no word to the camera's supervisor, so a gap it opens meanwhile starts after them
   * (one that began at the last row in the catalog had them inside it once they went in).
   */
  heldBackEndMs(camera: string): number | undefined {
    const ends = this.unindexed.filter((s) => s.camera === camera).map((s) => s.end_ms);
    return ends.length ? Math.max(...ends) : undefined;
  }

  /** The rows a full disk held back, oldest first; throws (keeping them) while it still cannot write. */
  private indexUnindexed(): void {
    while (this.unindexed.length) {
      const wanted = this.unindexed[0]!;
      try {
        // recovery, after the recorder's exit, may have found it at its place and indexed it already
        if (!this.catalog.hasPath(wanted.path)) this.catalog.addSegment(wanted);
        this.log.info({ camera: wanted.camera, path: wanted.path }, 'segment held back by a full disk indexed');
      } catch (err) {
        if (retriable(err)) throw err;
        // anything else would stop every later row for ever: reported, and left to verify
        this.log.error({ camera: wanted.camera, path: wanted.path, err }, 'a segment held back by a full disk cannot be indexed');
      }
      this.unindexed.shift();
    }
  }

  /**
   * Readies a camera's current hour dir before its first segment closes (its recorder is
   * starting): made, its entries up to the data dir fsynced, and kept open. A camera's first
   * segment did that work itself, about ten trips to libuv's pool one after the other; rows go in
   * in commit order, so at start-up, when every camera's first segment closes within seconds,
   * each held up the rows of every camera behind it. Nothing is indexed earlier or otherwise than
   * before: the first segment still fsyncs its file and both directories the rename changed, and
   * its row waits for all of it. Placed in the camera's order, so a segment that closes meanwhile
   * waits for it; a failure here is left to that segment, which does the same work itself.
   */
  prepare(camera: string, atMs = Date.now()): Promise<void> {
    const ready = (this.placing.get(camera) ?? Promise.resolve()).then(async () => {
      const kept = this.keptDirsOf(camera);
      const hourDir = dirname(join(this.dataDir, segmentPath(camera, Math.round(atMs))));
      if (kept.hourDir === hourDir) return;
      await this.makeHourDir(kept, hourDir);
      kept.hourDir = hourDir;
      await Promise.all([kept.hour.open(hourDir, hourDir), this.syncParents(hourDir)]);
    }).catch((err: unknown) => this.log.debug({ camera, err }, 'hour dir not readied before the first segment'));
    this.placing.set(camera, ready);
    return ready;
  }

  /**
   * What the camera's recorder writes from now on was recorded under this provenance (null:
   * nothing to say). Kept in its staging dir too, for recovery after a crash: what a killed run
   * left there is indexed by the next daemon before any recorder of its own says anything.
   */
  setProvenance(camera: string, provenance: string | null): void {
    this.provenance.set(camera, provenance);
    const dir = stagingDir(this.dataDir, camera);
    try {
      mkdirSync(dir, { recursive: true });
      // recovery reads it after a crash: created and lost to a power cut, it was empty (an outside
      // probe), and an older one left in place would claim masks a run no longer had. Two fsyncs
      // at each recorder start, on the event loop: a start is seconds apart at the least
      writeFileDurably(join(dir, PROVENANCE_FILE), JSON.stringify({ provenance }));
    } catch (err) {
      this.log.warn({ camera, err }, 'the provenance of this run could not be kept for recovery');
    }
  }

  /** The provenance of what the camera records now, or, before this daemon started its recorder, of what its last run recorded. */
  private provenanceOf(camera: string): string | null {
    if (this.provenance.has(camera)) return this.provenance.get(camera) ?? null;
    try {
      const kept = (JSON.parse(readFileSync(join(stagingDir(this.dataDir, camera), PROVENANCE_FILE), 'utf8')) as { provenance?: unknown }).provenance;
      return typeof kept === 'string' ? kept : null;
    } catch {
      return null;
    }
  }

  /** Resolves once every commit queued so far is done. */
  drain(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** Waits for the commits queued so far, then closes the directories kept open. */
  async close(): Promise<void> {
    await this.drain();
    await Promise.all([...this.placing.values()]);
    for (const k of this.keptDirs.values()) await Promise.all([k.staging.close(), k.hour.close()]);
    this.keptDirs.clear();
  }

  /** Indexes a file already at its final path (a crash came between its rename and its row). */
  indexInPlace(rel: string, camera: string, startMs: number, endMs: number): Promise<SegmentRow> {
    const next = this.queue.then(async () => {
      const abs = join(this.dataDir, rel);
      const row = this.catalog.addSegment({
        camera, start_ms: startMs, end_ms: endMs, bytes: (await stat(abs)).size, path: rel, sha256: await sha256File(abs), origin: 'recovered',
        provenance: this.provenanceOf(camera),
      });
      this.log.info({ camera, path: rel }, 'unindexed segment found at its place and indexed');
      return row;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The file work of a commit: durable at its final path, hashed. */
  private async place(seg: ClosedSegment): Promise<{ rel: string; bytes: number; sha256: string }> {
    const rel = this.freePath(seg.camera, Math.round(seg.startMs));
    this.reserved.add(rel);
    try {
      const abs = join(this.dataDir, rel);
      // The closed file's fsync and the reads that hash it run at once, on two pool threads, through
      // one descriptor: what is hashed and counted is what was synced.
      const staged = await open(seg.stagedPath, 'r');
      let hashed: { sha256: string; bytes: number };
      try {
        [, hashed] = await Promise.all([staged.sync(), sha256Handle(staged)]);
      } catch (err) {
        await staged.close();
        throw err;
      }
      const { sha256, bytes } = hashed;
      if (bytes === 0) {
        await staged.close();
        await unlink(seg.stagedPath);
        throw new EmptySegmentError(seg.stagedPath);
      }
      // synced and hashed: its descriptor is closed while the file moves (one turn of the loop fewer)
      const closed = staged.close().catch(() => undefined); // synced: a failed close loses nothing
      const kept = this.keptDirsOf(seg.camera);
      // the hour dir is made (or found) once per hour and camera; one gone since is made again
      if (kept.hourDir !== dirname(abs)) await this.makeHourDir(kept, dirname(abs));
      kept.hourDir = dirname(abs);
      try {
        await rename(seg.stagedPath, abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await this.makeHourDir(kept, dirname(abs));
        await rename(seg.stagedPath, abs);
      } finally {
        await closed;
      }
      // the rename's two entries, at once: the file into its hour directory, out of staging (its
      // handle is the recorder run's: a run makes the dir again when it is missing)
      const run = parseStagedName(seg.stagedPath)?.runStartMs ?? seg.stagedPath;
      await Promise.all([
        kept.hour.sync(dirname(abs), dirname(abs)), kept.staging.sync(dirname(seg.stagedPath), `${dirname(seg.stagedPath)} ${run}`), this.syncParents(dirname(abs)),
      ]);
      return { rel, bytes, sha256 };
    } catch (err) {
      this.reserved.delete(rel);
      throw err;
    }
  }

  private keptDirsOf(camera: string): { staging: KeptDir; hour: KeptDir; hourDir?: string } {
    let kept = this.keptDirs.get(camera);
    if (!kept) this.keptDirs.set(camera, kept = { staging: new KeptDir(), hour: new KeptDir() });
    return kept;
  }

  private async makeHourDir(kept: { hour: KeptDir }, dir: string): Promise<void> {
    const created = await mkdir(dir, { recursive: true });
    // made now (even if this process made it before and someone removed it): not durable yet
    if (created) {
      for (let d = dir; d.length >= created.length; d = dirname(d)) this.durableDirs.delete(d);
      kept.hour.forget();
    }
  }

  /**
   * The entries that lead to a directory, up to the data dir, once per process each. At once:
   * the row waits for all of them, so their order is not what makes it durable (one after the
   * other they were up to four times three trips to the pool on a camera's first segment).
   */
  private async syncParents(dir: string): Promise<void> {
    const top = join(this.dataDir, RECORDINGS_DIR).length;
    const due: string[] = [];
    for (let d = dir; d.length >= top && !this.durableDirs.has(d); d = dirname(d)) due.push(d);
    await Promise.all(due.map((d) => fsyncPath(dirname(d))));
    for (const d of due) this.durableDirs.add(d);
  }

  private async limited<T>(work: () => Promise<T>): Promise<T> {
    while (this.running >= PLACING_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  /** A reconnect burst can open two segments in one millisecond; never overwrite evidence. */
  private freePath(camera: string, startMs: number): string {
    let rel = segmentPath(camera, startMs);
    for (let n = 1; this.reserved.has(rel) || existsSync(join(this.dataDir, rel)) || this.catalog.hasPath(rel); n++) {
      rel = segmentPath(camera, startMs).replace(/\.mp4$/, `-${n}.mp4`);
    }
    return rel;
  }
}
