import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chainHash, GENESIS } from './hash-chain.js';
import { migrate } from './migrations.js';

export interface SegmentRow {
  id: number;
  camera: string;
  start_ms: number;
  end_ms: number;
  bytes: number;
  path: string;
  sha256: string;
  prev_hash: string;
  chain_hash: string;
  origin: 'recorded' | 'recovered';
  state: 'ok' | 'missing' | 'deleted';
  state_at_ms: number | null;
  state_note: string | null;
  indexed_ms: number;
}

export type NewSegment = Pick<SegmentRow, 'camera' | 'start_ms' | 'end_ms' | 'bytes' | 'path' | 'sha256' | 'origin'>;

export interface GapRow {
  id: number;
  camera: string;
  start_ms: number;
  end_ms: number | null;
  cause: string;
  detail: string | null;
}

export const CATALOG_FILE = 'catalog.db';

/**
 * The catalog's one writer. Every write is a short transaction here, so crash consistency is
 * reasoned about in one place: a segment row is inserted only after its file and directory
 * are durable (the segment store guarantees that), and each row extends the hash chain in the
 * same transaction that inserts it.
 */
export class Catalog {
  readonly db: Database.Database;
  private readonly insertSegment: Database.Statement;
  private readonly headStmt: Database.Statement;

  private constructor(readonly path: string, readonly readonly: boolean) {
    this.db = new Database(path, { readonly, fileMustExist: readonly });
    if (!readonly) {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL never corrupts; a power cut may lose the last rows, and start-up
      // recovery re-indexes their files from disk.
      this.db.pragma('synchronous = NORMAL');
      migrate(this.db);
    }
    this.db.pragma('busy_timeout = 5000');
    this.insertSegment = this.db.prepare(
      `INSERT INTO segments (id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, origin, indexed_ms)
       VALUES (@id, @camera, @start_ms, @end_ms, @bytes, @path, @sha256, @prev_hash, @chain_hash, @origin, @indexed_ms)`,
    );
    this.headStmt = this.db.prepare('SELECT id, chain_hash FROM segments ORDER BY id DESC LIMIT 1');
  }

  /** Opens (and creates or migrates) the catalog in a data dir. */
  static open(dataDir: string): Catalog {
    mkdirSync(dataDir, { recursive: true });
    return new Catalog(join(dataDir, CATALOG_FILE), false);
  }

  /** For commands that only read (recordings, verify): never creates or migrates. */
  static openReadOnly(dataDir: string): Catalog {
    return new Catalog(join(dataDir, CATALOG_FILE), true);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Appends a segment to the catalog and the hash chain, atomically. */
  addSegment(seg: NewSegment): SegmentRow {
    return this.db.transaction(() => {
      const head = this.headStmt.get() as { id: number; chain_hash: string } | undefined;
      const id = (head?.id ?? 0) + 1;
      const prev_hash = head?.chain_hash ?? GENESIS;
      const row = { ...seg, id, prev_hash, chain_hash: chainHash(prev_hash, { ...seg, id }), indexed_ms: Date.now() };
      this.insertSegment.run(row);
      return { ...row, state: 'ok', state_at_ms: null, state_note: null } as SegmentRow;
    }).immediate();
  }

  chainHead(): { id: number; chain_hash: string } {
    return (this.headStmt.get() as { id: number; chain_hash: string } | undefined) ?? { id: 0, chain_hash: GENESIS };
  }

  lastSegment(camera: string): SegmentRow | undefined {
    return this.db.prepare('SELECT * FROM segments WHERE camera = ? ORDER BY start_ms DESC, id DESC LIMIT 1').get(camera) as SegmentRow | undefined;
  }

  hasPath(path: string): boolean {
    return this.db.prepare('SELECT 1 FROM segments WHERE path = ?').get(path) !== undefined;
  }

  /** Segments overlapping [fromMs, toMs), oldest first. */
  segments(camera: string, fromMs = 0, toMs = Number.MAX_SAFE_INTEGER): SegmentRow[] {
    return this.db
      .prepare('SELECT * FROM segments WHERE camera = ? AND end_ms > ? AND start_ms < ? ORDER BY start_ms, id')
      .all(camera, fromMs, toMs) as SegmentRow[];
  }

  cameras(): string[] {
    return (this.db.prepare('SELECT DISTINCT camera FROM segments ORDER BY camera').all() as { camera: string }[]).map((r) => r.camera);
  }

  /** Every row in chain order, streamed so a million rows do not sit in memory. */
  iterateChain(): IterableIterator<SegmentRow> {
    return this.db.prepare('SELECT * FROM segments ORDER BY id').iterate() as IterableIterator<SegmentRow>;
  }

  /** Rows whose files should be on disk. */
  iterateLive(camera?: string): IterableIterator<SegmentRow> {
    return camera
      ? (this.db.prepare("SELECT * FROM segments WHERE state = 'ok' AND camera = ? ORDER BY id").iterate(camera) as IterableIterator<SegmentRow>)
      : (this.db.prepare("SELECT * FROM segments WHERE state = 'ok' ORDER BY id").iterate() as IterableIterator<SegmentRow>);
  }

  /** Flags a row instead of dropping it: the chain keeps it, `verify` reports it. */
  setState(id: number, state: SegmentRow['state'], note: string): void {
    this.db.prepare('UPDATE segments SET state = ?, state_at_ms = ?, state_note = ? WHERE id = ?').run(state, Date.now(), note, id);
  }

  openGap(camera: string, startMs: number, cause: string, detail?: string): number {
    return Number(this.db.prepare('INSERT INTO gaps (camera, start_ms, cause, detail) VALUES (?, ?, ?, ?)').run(camera, startMs, cause, detail ?? null).lastInsertRowid);
  }

  closeGap(id: number, endMs: number): void {
    this.db.prepare('UPDATE gaps SET end_ms = ? WHERE id = ? AND end_ms IS NULL').run(endMs, id);
  }

  gaps(camera: string, fromMs = 0, toMs = Number.MAX_SAFE_INTEGER): GapRow[] {
    return this.db
      .prepare('SELECT * FROM gaps WHERE camera = ? AND coalesce(end_ms, 9007199254740991) > ? AND start_ms < ? ORDER BY start_ms')
      .all(camera, fromMs, toMs) as GapRow[];
  }

  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  }
}
