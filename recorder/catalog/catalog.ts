import Database from 'better-sqlite3';
import { join } from 'node:path';
import { makeDirs } from '../../common/make-dirs.js';
import { GENESIS, segmentHash, type ChainedFields } from './hash-chain.js';
import { appendLedger, type DeletionData, type LedgerKind, type LedgerRow, type QuarantinedData } from './ledger.js';
import { migrate, schemaVersion } from './migrations.js';
import { prepared } from './statements.js';
import { DurableGroup } from './durable-group.js';
import { groupBy } from '../../common/group-by.js';
import { ageShiftSql, confirmedCorrections, trueStart, type ClockConfirmedData, type ClockCorrection, type ClockSteppedData } from './clock-corrections.js';

/** A catalogued segment: the fields the hash chain protects, plus its link and its fate. */
export interface SegmentRow extends ChainedFields {
  provenance: string | null;
  prev_hash: string;
  chain_hash: string;
  origin: 'recorded' | 'recovered';
  state: 'ok' | 'missing' | 'deleted';
  state_at_ms: number | null;
  state_note: string | null;
  indexed_ms: number;
  /** by how much the wall clock stepped while the segment was open (+ forward); null: it did not */
  clock_step_ms: number | null;
}

export type NewSegment = Pick<SegmentRow, 'camera' | 'start_ms' | 'end_ms' | 'bytes' | 'path' | 'sha256' | 'origin'> & { provenance?: string | null; clock_step_ms?: number | null };

export interface GapRow {
  id: number;
  camera: string;
  start_ms: number;
  end_ms: number | null;
  cause: string;
  detail: string | null;
}

export interface HoldRow {
  id: number;
  camera: string | null;
  from_ms: number;
  to_ms: number;
  reason: string;
  created_by: string;
  created_ms: number;
  released_ms: number | null;
  released_by: string | null;
}

export interface EventRow {
  id: number;
  at_ms: number;
  type: string;
  camera: string | null;
  data: string;
}

/** The normal view of a camera (see watchdog/tamper-analysis.ts); `data` is JSON. */
export interface ViewReferenceRow {
  id: number;
  camera: string;
  created_ms: number;
  data: string;
  retired_ms: number | null;
  retired_by: string | null;
  retired_reason: string | null;
}

/** What a camera was when first seen: its ONVIF device and its stream as recorded. */
export interface CameraIdentityRow {
  camera: string;
  pinned_ms: number;
  serial: string | null;
  hardware_id: string | null;
  manufacturer: string | null;
  model: string | null;
  codec: string | null;
  width: number | null;
  height: number | null;
}

export type IdentityFields = Partial<Omit<CameraIdentityRow, 'camera' | 'pinned_ms'>>;

export interface CameraViewRow { camera: string; updated_ms: number; view: string; stream: string | null }

export const CATALOG_FILE = 'catalog.db';

/**
 * Why SQLite could not open a catalog, when the file itself is the trouble: `not-a-database`
 * (another program's file, or a header that is not SQLite's) or `damaged` (SQLite's, corrupt).
 * The daemon refuses to start on either; the read-only commands tell the two apart.
 */
export function unreadableCatalog(err: unknown): 'not-a-database' | 'damaged' | undefined {
  const code = (err as { code?: unknown }).code;
  const msg = err instanceof Error ? err.message : '';
  if (code === 'SQLITE_NOTADB' || /not a database/i.test(msg)) return 'not-a-database';
  if ((typeof code === 'string' && code.startsWith('SQLITE_CORRUPT')) || /malformed/i.test(msg)) return 'damaged';
  return undefined;
}
/**
 * SQLite's page cache per connection, KiB (a negative `cache_size`): SQLite's own default.
 * better-sqlite3 is built with 16 MB, which a long-running daemon fills once anything reads
 * through a large catalog (background verification's rolling pass, retention): 18.6 MB of RSS
 * after a pass over a 16-camera catalog of 15 days, 4.5 MB with this (bench/catalog-memory.ts).
 * The pages stay in the kernel's page cache; a camera-day's listing, a health report's
 * continuity and the inserts cost the same CPU (bench/README.md, "Catalog: its page cache").
 */
export const PAGE_CACHE_KIB = 2000;
const LIVE_BYTES = 'segments.live_bytes';

/** The newest row and the number of rows of a chained log (ids run from 1 without holes). */
export interface ChainHead { length: number; head: string }
export interface ChainHeads { segments: ChainHead; ledger: ChainHead; audit: ChainHead }

export interface CheckpointRow {
  id: number;
  at_ms: number;
  reason: string;
  segments_length: number;
  ledger_length: number;
  audit_length: number;
  payload: string;
}

/** A deletion as retention decides it; the catalog adds the state time and writes the entry. */
export type Deletion = Omit<DeletionData, 'segments' | 'ends_ms' | 'state_at_ms' | 'last_segment'>;

/**
 * A segment of @camera overlapping [@from, @to). The lower bound on start_ms (@from minus the
 * camera's longest segment, one lookup in segments_camera_length) lets the (camera, start_ms)
 * indexes read only the rows of the range.
 */
const IN_RANGE = `start_ms < @to AND end_ms > @from
  AND start_ms >= @from - (SELECT coalesce(max(end_ms - start_ms), 0) FROM segments %LENGTH% WHERE camera = @camera)`;

/**
 * `FROM segments` naming the index a range query is for, where the catalog has it (a catalog
 * opened read-only may be older): without statistics SQLite may pick another index led by
 * camera, and then read every row the camera ever had to find its longest segment, or the wide
 * rows of segments_camera_rows for a sum that the narrow index answers.
 */
function fromSegments(indexes: Set<string>, index: string): string {
  return indexes.has(index) ? `FROM segments INDEXED BY ${index}` : 'FROM segments';
}

/** The tables whose rows name a camera the box knew (knowsCamera, knownCameras). */
const CAMERA_TABLES = ['segments', 'gaps', 'view_references', 'camera_identity', 'camera_view'];
/** The segments table's columns in table order: what `SELECT *` gives on a catalog at migration 9 or later. */
const SEGMENT_COLUMNS = 'id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, origin, state, state_at_ms, state_note, indexed_ms, provenance, clock_step_ms';
type RawSegment = [number, string, number, number, number, string, string, string, string, SegmentRow['origin'], SegmentRow['state'],
  number | null, string | null, number, string | null, number | null];

/**
 * A row of SEGMENT_COLUMNS as a raw statement returns it. better-sqlite3 builds its own row
 * objects a property at a time, turning each column name into a string again for every row:
 * over a camera-day (1 440 rows) that was half the query's time. One literal, keys in table
 * order, gives the same object (JSON included) for a fraction.
 */
function segmentFromRaw(r: RawSegment): SegmentRow {
  return {
    id: r[0], camera: r[1], start_ms: r[2], end_ms: r[3], bytes: r[4], path: r[5], sha256: r[6], prev_hash: r[7], chain_hash: r[8],
    origin: r[9], state: r[10], state_at_ms: r[11], state_note: r[12], indexed_ms: r[13], provenance: r[14], clock_step_ms: r[15],
  };
}

/** A live segment not covered by an active hold (SQL on alias `s`). */
const NOT_HELD = `NOT EXISTS (SELECT 1 FROM holds h WHERE h.released_ms IS NULL
  AND (h.camera IS NULL OR h.camera = s.camera) AND h.from_ms < s.end_ms AND h.to_ms > s.start_ms)`;

/**
 * The catalog's one writer. Every write is a short transaction here, so crash consistency is
 * reasoned about in one place: a segment row is inserted only after its file and directory
 * are durable (the segment store guarantees that), and each row extends the hash chain in the
 * same transaction that inserts it.
 */
export class Catalog {
  readonly db: Database.Database;
  private readonly insertSegment?: Database.Statement;
  private readonly headStmt: Database.Statement;
  /** the catalog's schema version (a read-only catalog is never migrated: it may be older) */
  readonly schemaVersion: number;
  /** first segment and audit ids hashed with the v2 formulas (hash-chain.ts); 1 when the
   * catalog was created with them, MAX_SAFE_INTEGER for a catalog not migrated yet */
  readonly segmentsV2From: number;
  readonly auditV2From: number;
  /** what `segments` and `recordedMs` run on this catalog (EXPLAIN them to see the plans) */
  readonly segmentsQuery: string;
  readonly recordedQuery: string;
  private readonly segmentsRaw: boolean;
  /** IN_RANGE as this catalog's indexes allow */
  private readonly inRange: string;
  private segmentsStmt?: Database.Statement;
  private recordedStmt?: Database.Statement;

  private constructor(readonly path: string, readonly readonly: boolean) {
    this.db = new Database(path, { readonly, fileMustExist: readonly });
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    if (!readonly) {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL never corrupts; a power cut may lose the last rows, and start-up
      // recovery re-indexes their files from disk.
      this.db.pragma('synchronous = NORMAL');
      migrate(this.db);
    }
    this.schemaVersion = schemaVersion(this.db);
    const v2 = (key: string) => (this.hasLedger ? Number(this.getMeta(key) ?? 1) : Number.MAX_SAFE_INTEGER);
    this.segmentsV2From = v2('chain.segments.v2_from');
    this.auditV2From = v2('chain.audit.v2_from');
    if (!readonly) {
      this.insertSegment = this.db.prepare(
        `INSERT INTO segments (id, camera, start_ms, end_ms, bytes, path, sha256, provenance, prev_hash, chain_hash, origin, indexed_ms, clock_step_ms)
         VALUES (@id, @camera, @start_ms, @end_ms, @bytes, @path, @sha256, @provenance, @prev_hash, @chain_hash, @origin, @indexed_ms, @clock_step_ms)`,
      );
    }
    this.headStmt = this.db.prepare('SELECT id, chain_hash FROM segments ORDER BY id DESC LIMIT 1');
    const indexes = new Set(this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'segments'").pluck().all() as string[]);
    const inRange = IN_RANGE.replace('%LENGTH%', indexes.has('segments_camera_length') ? 'INDEXED BY segments_camera_length' : '');
    this.inRange = inRange;
    // an older catalog opened read-only may lack columns: it is listed as SELECT * gives it
    const columns = (this.db.prepare('PRAGMA table_info(segments)').all() as Array<{ name: string }>).map((c) => c.name).join(', ');
    this.segmentsRaw = columns === SEGMENT_COLUMNS;
    this.segmentsQuery = `SELECT ${this.segmentsRaw ? SEGMENT_COLUMNS : '*'} ${fromSegments(indexes, 'segments_camera_rows')}
      WHERE camera = @camera AND ${inRange} ORDER BY start_ms, id`;
    this.recordedQuery = `SELECT coalesce(sum(min(end_ms, @to) - max(start_ms, @from)), 0) AS ms ${fromSegments(indexes, 'segments_camera_start_end')}
      WHERE camera = @camera AND ${inRange}`;
  }

  /** A statement prepared once (statements.ts). */
  private cached(sql: string): Database.Statement {
    return prepared(this.db, sql);
  }

  /** Migration 4 and later: the ledger, checkpoints and the v2 formulas exist. */
  get hasLedger(): boolean {
    return this.schemaVersion >= 4;
  }

  /** Opens (and creates or migrates) the catalog in a data dir. */
  static open(dataDir: string): Catalog {
    makeDirs(dataDir);
    return new Catalog(join(dataDir, CATALOG_FILE), false);
  }

  /** For commands that only read (recordings, verify): never creates or migrates. */
  static openReadOnly(dataDir: string): Catalog {
    return new Catalog(join(dataDir, CATALOG_FILE), true);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private durableDepth = 0;

  /** durable writes of one turn of the event loop in one transaction, one fsync (durable-group.ts) */
  readonly durableGroup = new DurableGroup(this);

  /**
   * Runs `fn` (whole transactions) with synchronous=FULL: when it returns, its
   * commits are on the disk, not only in the kernel's page cache. The catalog runs
   * synchronous=NORMAL, which in WAL mode survives any crash of the process but may lose the
   * last commits to a power cut; that is right for segment rows (recovery re-indexes their files
   * from disk) and wrong for what the box acknowledges to a person or a platform: audit
   * entries, holds, command nonces and deletions go through here (docs/recording.md).
   */
  durably<T>(fn: () => T): T {
    // SQLite refuses to change the level inside a transaction: there the outer commit decides,
    // so whoever opens that transaction wraps it in durably()
    if (this.readonly || this.db.inTransaction) return fn();
    if (this.durableDepth++ === 0) this.db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      if (--this.durableDepth === 0 && this.db.open) this.db.pragma('synchronous = NORMAL');
    }
  }

  /** Appends a segment to the catalog and the hash chain, atomically. */
  addSegment(seg: NewSegment): SegmentRow {
    return this.db.transaction(() => {
      const head = this.headStmt.get() as { id: number; chain_hash: string } | undefined;
      const id = (head?.id ?? 0) + 1;
      const prev_hash = head?.chain_hash ?? GENESIS;
      const fields = { ...seg, id, provenance: seg.provenance ?? null };
      const row = { ...fields, prev_hash, chain_hash: segmentHash(prev_hash, fields, this.segmentsV2From), indexed_ms: Date.now(), clock_step_ms: seg.clock_step_ms ?? null };
      this.insertSegment!.run(row);
      this.addLiveBytes(seg.bytes);
      return { ...row, state: 'ok', state_at_ms: null, state_note: null } as SegmentRow;
    }).immediate();
  }

  chainHead(): { id: number; chain_hash: string } {
    return (this.headStmt.get() as { id: number; chain_hash: string } | undefined) ?? { id: 0, chain_hash: GENESIS };
  }

  /** The head of every chained log: what a checkpoint signs. */
  chainHeads(): ChainHeads {
    const head = (sql: string): ChainHead => {
      const r = this.db.prepare(sql).get() as { id: number; hash: string } | undefined;
      return r ? { length: r.id, head: r.hash } : { length: 0, head: GENESIS };
    };
    return {
      segments: head('SELECT id, chain_hash AS hash FROM segments ORDER BY id DESC LIMIT 1'),
      ledger: this.hasLedger ? head('SELECT id, hash FROM ledger ORDER BY id DESC LIMIT 1') : { length: 0, head: GENESIS },
      audit: head('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1'),
    };
  }

  /** One segment row by id. */
  segment(id: number): SegmentRow | undefined {
    return this.db.prepare('SELECT * FROM segments WHERE id = ?').get(id) as SegmentRow | undefined;
  }

  /** Segment rows in id order after `afterId`, at most `limit` (pages: the connection stays free between them). */
  segmentsAfter(afterId: number, limit: number): SegmentRow[] {
    return this.db.prepare('SELECT * FROM segments WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as SegmentRow[];
  }

  /** Segment rows by id (a deletion's batch), in id order. */
  segmentsById(ids: number[]): SegmentRow[] {
    return this.db.prepare('SELECT * FROM segments WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id').all(JSON.stringify(ids)) as SegmentRow[];
  }

  /** The cameras that have segment rows, in any state. */
  segmentCameras(): string[] {
    return (this.cached('SELECT DISTINCT camera FROM segments ORDER BY camera').all() as Array<{ camera: string }>).map((r) => r.camera);
  }

  /**
   * Rows of `camera` that ended before `beforeMs` and were there at `atMs`: its oldest live ones,
   * and its newest deleted or missing ones whose state changed at `atMs` or after (each part at
   * most `limit`, through the (camera, state, end_ms) index).
   */
  oldestBefore(camera: string, beforeMs: number, atMs: number, limit: number): SegmentRow[] {
    const ok = this.cached("SELECT * FROM segments WHERE camera = ? AND state = 'ok' AND end_ms < ? ORDER BY end_ms LIMIT ?").all(camera, beforeMs, limit) as SegmentRow[];
    const gone = this.cached(`SELECT * FROM (SELECT * FROM segments WHERE camera = ? AND state IN ('deleted', 'missing') AND end_ms < ? ORDER BY end_ms DESC LIMIT ?)
      WHERE state_at_ms >= ?`).all(camera, beforeMs, limit, atMs) as SegmentRow[];
    return [...ok, ...gone];
  }

  lastSegment(camera: string): SegmentRow | undefined {
    return this.cached('SELECT * FROM segments WHERE camera = ? ORDER BY start_ms DESC, id DESC LIMIT 1').get(camera) as SegmentRow | undefined;
  }

  hasPath(path: string): boolean {
    return this.cached('SELECT 1 FROM segments WHERE path = ?').get(path) !== undefined;
  }

  /** Segments overlapping [fromMs, toMs), oldest first. */
  segments(camera: string, fromMs = 0, toMs = Number.MAX_SAFE_INTEGER): SegmentRow[] {
    this.segmentsStmt ??= this.db.prepare(this.segmentsQuery).raw(this.segmentsRaw);
    const rows = this.segmentsStmt.all({ camera, from: fromMs, to: toMs });
    return this.segmentsRaw ? (rows as RawSegment[]).map(segmentFromRaw) : rows as SegmentRow[];
  }

  cameras(): string[] {
    return (this.db.prepare('SELECT DISTINCT camera FROM segments ORDER BY camera').all() as { camera: string }[]).map((r) => r.camera);
  }

  /**
   * Whether this box ever knew the camera: a segment, a gap (a camera never reached has gaps
   * only), a view reference, a pinned identity or a view state. Commands tell a mistyped id
   * from a camera with nothing in the asked range by it.
   */
  knowsCamera(camera: string): boolean {
    return CAMERA_TABLES.some((table) => this.db.prepare(`SELECT 1 FROM ${table} WHERE camera = ? LIMIT 1`).get(camera) !== undefined);
  }

  /** Every camera knowsCamera knows, sorted: what a command names when it refuses a mistyped one. */
  knownCameras(): string[] {
    const union = CAMERA_TABLES.map((table) => `SELECT camera FROM ${table}`).join(' UNION ');
    return (this.db.prepare(`${union} ORDER BY camera`).all() as { camera: string }[]).map((r) => r.camera);
  }

  /** Every row in chain order, streamed so a million rows do not sit in memory. */
  iterateChain(): IterableIterator<SegmentRow> {
    return this.db.prepare('SELECT * FROM segments ORDER BY id').iterate() as IterableIterator<SegmentRow>;
  }

  /** Rows whose files should be on disk. */
  iterateLive(): IterableIterator<SegmentRow> {
    return this.db.prepare("SELECT * FROM segments WHERE state = 'ok' ORDER BY id").iterate() as IterableIterator<SegmentRow>;
  }

  /** Flags live rows whose files vanished instead of dropping them: the chain keeps them, the
   * ledger records the change, `verify` reports them. */
  flagMissing(rows: Array<Pick<SegmentRow, 'id' | 'camera'>>, note: string): void {
    const at = Date.now();
    const stmt = this.db.prepare("UPDATE segments SET state = 'missing', state_at_ms = ?, state_note = ? WHERE id = ? AND state = 'ok' RETURNING bytes");
    this.db.transaction(() => {
      for (const [camera, group] of groupBy(rows, (r) => r.camera)) {
        const ids = group.map((r) => r.id);
        let gone = 0;
        const changed = ids.filter((id) => {
          const r = stmt.get(at, note, id) as { bytes: number } | undefined;
          gone += r?.bytes ?? 0;
          return r !== undefined;
        });
        this.addLiveBytes(-gone);
        if (changed.length) appendLedger(this.db, 'segment_missing', camera, { segments: changed, state_at_ms: at, note }, at);
      }
    }).immediate();
  }

  /** The gap a camera is in right now, if any. */
  openGapOf(camera: string): GapRow | undefined {
    return this.cached('SELECT * FROM gaps WHERE camera = ? AND end_ms IS NULL ORDER BY id DESC LIMIT 1').get(camera) as GapRow | undefined;
  }

  openGap(camera: string, startMs: number, cause: string, detail?: string): GapRow {
    return this.insertGap(camera, startMs, null, cause, detail ?? null);
  }

  closeGap(id: number, endMs: number): void {
    this.db.transaction(() => {
      const gap = this.cached('SELECT * FROM gaps WHERE id = ? AND end_ms IS NULL').get(id) as GapRow | undefined;
      if (!gap) return;
      const end = Math.max(gap.start_ms, endMs);
      this.cached('UPDATE gaps SET end_ms = ? WHERE id = ?').run(end, id);
      appendLedger(this.db, 'gap_closed', gap.camera, { gap: id, end_ms: end });
    }).immediate();
  }

  /**
   * An open gap whose cause changed at `atMs` (the daemon went down inside a camera's outage, or
   * came back while the camera was still out): closed there and a gap of the new cause opened
   * from there, in one transaction, so a crash between the two leaves neither a hole nor overlap.
   * Returns the closed gap as it now stands and the new one.
   */
  handOverGap(id: number, atMs: number, cause: string, detail: string): { closed: GapRow; opened: GapRow } | undefined {
    return this.db.transaction(() => {
      const gap = this.cached('SELECT * FROM gaps WHERE id = ? AND end_ms IS NULL').get(id) as GapRow | undefined;
      if (!gap) return undefined;
      const at = Math.max(gap.start_ms, atMs);
      this.closeGap(id, at);
      return { closed: { ...gap, end_ms: at }, opened: this.openGap(gap.camera, at, cause, detail) };
    }).immediate();
  }

  /** A closed gap in one step (a clock jump, found after the fact). */
  addGap(camera: string, startMs: number, endMs: number, cause: string, detail?: string): void {
    this.insertGap(camera, startMs, Math.max(startMs, endMs), cause, detail ?? null);
  }

  private insertGap(camera: string, startMs: number, endMs: number | null, cause: string, detail: string | null): GapRow {
    return this.db.transaction(() => {
      const id = Number(this.cached('INSERT INTO gaps (camera, start_ms, end_ms, cause, detail) VALUES (?, ?, ?, ?, ?)').run(camera, startMs, endMs, cause, detail).lastInsertRowid);
      appendLedger(this.db, 'gap_opened', camera, { gap: id, start_ms: startMs, end_ms: endMs, cause, detail });
      return { id, camera, start_ms: startMs, end_ms: endMs, cause, detail };
    }).immediate();
  }

  gaps(camera: string, fromMs = 0, toMs = Number.MAX_SAFE_INTEGER): GapRow[] {
    return this.db
      .prepare('SELECT * FROM gaps WHERE camera = ? AND coalesce(end_ms, 9007199254740991) > ? AND start_ms < ? ORDER BY start_ms')
      .all(camera, fromMs, toMs) as GapRow[];
  }

  /** Milliseconds of [fromMs, toMs) covered by recorded segments (deleted ones count: they were recorded). */
  recordedMs(camera: string, fromMs: number, toMs: number): number {
    this.recordedStmt ??= this.db.prepare(this.recordedQuery);
    const r = this.recordedStmt.get({ camera, from: fromMs, to: toMs }) as { ms: number };
    return r.ms;
  }

  addEvent(type: string, camera: string | null, data: Record<string, unknown>, atMs = Date.now()): EventRow {
    const json = JSON.stringify(data);
    const id = Number(this.cached('INSERT INTO events (at_ms, type, camera, data) VALUES (?, ?, ?, ?)').run(atMs, type, camera, json).lastInsertRowid);
    return { id, at_ms: atMs, type, camera, data: json };
  }

  events(sinceMs = 0, limit = 100): EventRow[] {
    return this.db.prepare('SELECT * FROM events WHERE at_ms >= ? ORDER BY id DESC LIMIT ?').all(sinceMs, limit) as EventRow[];
  }

  /** Use `placeHold` (holds.ts), which also audits and raises the event. Durable when it returns (a hold is acknowledged to whoever asked for it). */
  addHold(h: Pick<HoldRow, 'camera' | 'from_ms' | 'to_ms' | 'reason' | 'created_by'>): HoldRow {
    const created_ms = Date.now();
    return this.durably(() => this.db.transaction(() => {
      const id = Number(this.db.prepare(`INSERT INTO holds (camera, from_ms, to_ms, reason, created_by, created_ms)
        VALUES (@camera, @from_ms, @to_ms, @reason, @created_by, @created_ms)`).run({ ...h, created_ms }).lastInsertRowid);
      appendLedger(this.db, 'hold_added', h.camera, { hold: id, from_ms: h.from_ms, to_ms: h.to_ms, reason: h.reason, by: h.created_by, created_ms }, created_ms);
      return { ...h, id, created_ms, released_ms: null, released_by: null };
    }).immediate());
  }

  /** Use `liftHold` (holds.ts). Undefined when there is no such active hold. Durable when it returns. */
  releaseHold(id: number, by: string): HoldRow | undefined {
    const at = Date.now();
    return this.durably(() => this.db.transaction(() => {
      const changed = this.db.prepare('UPDATE holds SET released_ms = ?, released_by = ? WHERE id = ? AND released_ms IS NULL').run(at, by, id).changes;
      const hold = this.db.prepare('SELECT * FROM holds WHERE id = ?').get(id) as HoldRow | undefined;
      if (!changed || !hold) return undefined;
      appendLedger(this.db, 'hold_released', hold.camera, { hold: id, by, released_ms: at }, at);
      return hold;
    }).immediate());
  }

  holds(includeReleased = false): HoldRow[] {
    return this.db.prepare(`SELECT * FROM holds ${includeReleased ? '' : 'WHERE released_ms IS NULL'} ORDER BY id`).all() as HoldRow[];
  }

  /**
   * Live, unheld segments of a camera that ended before `beforeMs`, oldest first; a row dated
   * under a clock that was behind counts from when it really ended (`corrections`).
   */
  expiredSegments(camera: string, beforeMs: number, limit: number, corrections: readonly ClockCorrection[] = []): SegmentRow[] {
    const shift = ageShiftSql(corrections);
    // the plain end first: the index finds the candidates, the shift (never negative) only drops some
    return this.db.prepare(`SELECT * FROM segments s WHERE s.camera = ? AND s.state = 'ok' AND s.end_ms < ? AND s.end_ms + ${shift.sql} < ? AND ${NOT_HELD}
      ORDER BY s.end_ms LIMIT ?`).all(camera, beforeMs, ...shift.params, beforeMs, limit) as SegmentRow[];
  }

  /**
   * The oldest live, unheld segments of any camera, by when they were really recorded: what goes
   * first when the disk is full. Rows dated under a clock that was behind (`corrections`, a few
   * id ranges) are read apart and placed by their true start, so they do not go first.
   */
  oldestDeletable(limit: number, corrections: readonly ClockCorrection[] = []): SegmentRow[] {
    if (!corrections.length) {
      return this.db.prepare(`SELECT * FROM segments s WHERE s.state = 'ok' AND ${NOT_HELD} ORDER BY s.start_ms LIMIT ?`).all(limit) as SegmentRow[];
    }
    const shift = ageShiftSql(corrections);
    const plain = this.db.prepare(`SELECT * FROM segments s WHERE s.state = 'ok' AND ${shift.sql} = 0 AND ${NOT_HELD} ORDER BY s.start_ms LIMIT ?`)
      .all(...shift.params, limit) as SegmentRow[];
    const ranges = corrections.map(() => '(s.id > ? AND s.id <= ?)').join(' OR ');
    const late = this.db.prepare(`SELECT * FROM segments s WHERE (${ranges}) AND s.state = 'ok' AND ${shift.sql} > 0 AND ${NOT_HELD}
      ORDER BY s.start_ms + ${shift.sql} LIMIT ?`).all(...corrections.flatMap((c) => [c.afterSegment, c.throughSegment]), ...shift.params, ...shift.params, limit) as SegmentRow[];
    return [...plain, ...late].sort((a, b) => trueStart(a, corrections) - trueStart(b, corrections)).slice(0, limit);
  }

  /** The clock corrections the ledger holds (clock-corrections.ts): each confirmed forward step. */
  clockCorrections(): ClockCorrection[] {
    if (!this.hasLedger) return [];
    const rows = this.db.prepare("SELECT id, kind, data FROM ledger WHERE kind IN ('clock_stepped', 'clock_confirmed') ORDER BY id").all() as Array<{ id: number; kind: LedgerKind; data: string }>;
    const stepped = new Map<number, ClockSteppedData>();
    const out: ClockCorrection[] = [];
    for (const r of rows) {
      if (r.kind === 'clock_stepped') stepped.set(r.id, JSON.parse(r.data) as ClockSteppedData);
      else out.push(...confirmedCorrections(stepped, JSON.parse(r.data) as ClockConfirmedData));
    }
    return out;
  }

  /** The `clock_stepped` entries no `clock_confirmed` has named yet (a step this or an earlier run saw). */
  unconfirmedClockSteps(): Array<{ id: number; data: ClockSteppedData }> {
    if (!this.hasLedger) return [];
    const after = this.lastLedger('clock_confirmed')?.id ?? 0;
    return (this.db.prepare("SELECT id, data FROM ledger WHERE kind = 'clock_stepped' AND id > ? ORDER BY id").all(after) as Array<{ id: number; data: string }>)
      .map((r) => ({ id: r.id, data: JSON.parse(r.data) as ClockSteppedData }));
  }

  /** The newest segment row's id (0 with none): rows are numbered in the order they were indexed. */
  lastSegmentId(): number {
    return (this.headStmt.get() as { id: number } | undefined)?.id ?? 0;
  }

  /**
   * Marks a batch of one camera's rows deleted, with the ledger entry that says why (the rule and
   * the facts it acted on), in one transaction, before the files are unlinked. Returns the rows
   * actually changed (a row deleted meanwhile is left out). Durable before the files are
   * unlinked: a power cut must not leave rows saying `ok` for files that are gone (they would
   * read as missing).
   */
  markDeleted(camera: string, rows: Array<Pick<SegmentRow, 'id' | 'end_ms'>>, why: Deletion, atMs = Date.now()): number[] {
    const stmt = this.db.prepare("UPDATE segments SET state = 'deleted', state_at_ms = ?, state_note = ? WHERE id = ? AND state = 'ok' AND camera = ? RETURNING bytes");
    return this.durably(() => this.db.transaction(() => {
      let freed = 0;
      const done = rows.filter((r) => {
        const changed = stmt.get(atMs, why.note, r.id, camera) as { bytes: number } | undefined;
        freed += changed?.bytes ?? 0;
        return changed !== undefined;
      });
      this.addLiveBytes(-freed);
      if (done.length) {
        const data: DeletionData = { ...why, segments: done.map((r) => r.id), ends_ms: done.map((r) => r.end_ms), state_at_ms: atMs, last_segment: this.lastSegmentId() };
        appendLedger(this.db, 'deletion', camera, data, atMs);
      }
      return done.map((r) => r.id);
    }).immediate());
  }

  /** Each camera's newest deletion batch (its ledger entry's data): what a killed run may have left half unlinked. */
  lastDeletionPerCamera(): Array<{ camera: string; data: string }> {
    return this.db.prepare("SELECT camera, data FROM ledger WHERE id IN (SELECT max(id) FROM ledger WHERE kind = 'deletion' AND camera IS NOT NULL GROUP BY camera)").all() as Array<{ camera: string; data: string }>;
  }

  /** The paths of those of `ids` that are the camera's deleted segments. */
  deletedPaths(camera: string, ids: number[]): string[] {
    const stmt = this.cached("SELECT path FROM segments WHERE id = ? AND camera = ? AND state = 'deleted'");
    return ids.map((id) => (stmt.get(id, camera) as { path: string } | undefined)?.path).filter((p): p is string => p !== undefined);
  }

  /** A ledger entry with no view of its own (policy, pauses, quarantined files, exports deleted). */
  ledgerEntry(kind: Extract<LedgerKind, 'retention_policy' | 'retention_paused' | 'retention_resumed' | 'quarantined' | 'deletion' | 'clock_stepped' | 'clock_confirmed'>, camera: string | null, data: object, atMs = Date.now()): LedgerRow {
    return appendLedger(this.db, kind, camera, data, atMs);
  }

  recordQuarantine(camera: string, data: QuarantinedData): LedgerRow {
    return this.ledgerEntry('quarantined', camera, data);
  }

  /**
   * Keeps a capture mask set findable by the hash segments name in their provenance: one
   * chained ledger entry per camera and set, the first time the set is in force.
   */
  recordMaskSet(camera: string, hash: string, masks: unknown[]): void {
    if (!this.hasLedger || this.maskSet(hash, camera)) return;
    appendLedger(this.db, 'capture_masks', camera, { hash, masks });
  }

  /** The mask set a segment's provenance names by `hash`, from the ledger. */
  maskSet(hash: string, camera?: string): unknown[] | undefined {
    if (!this.hasLedger) return undefined;
    const row = (camera === undefined
      ? this.db.prepare("SELECT data FROM ledger WHERE kind = 'capture_masks' AND json_extract(data, '$.hash') = ? LIMIT 1").get(hash)
      : this.db.prepare("SELECT data FROM ledger WHERE kind = 'capture_masks' AND camera IS ? AND json_extract(data, '$.hash') = ? LIMIT 1").get(camera, hash)) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as { masks: unknown[] }).masks : undefined;
  }

  /** The newest ledger entry of a kind (and camera, when given). */
  lastLedger(kind: LedgerKind, camera?: string | null): LedgerRow | undefined {
    if (!this.hasLedger) return undefined;
    return (camera === undefined
      ? this.db.prepare('SELECT * FROM ledger WHERE kind = ? ORDER BY id DESC LIMIT 1').get(kind)
      : this.db.prepare('SELECT * FROM ledger WHERE kind = ? AND camera IS ? ORDER BY id DESC LIMIT 1').get(kind, camera)) as LedgerRow | undefined;
  }

  /** Ledger entries in id order after `afterId`, at most `limit` (pages: the connection stays free between them). */
  ledgerAfter(afterId: number, limit: number): LedgerRow[] {
    if (!this.hasLedger) return [];
    return this.db.prepare('SELECT * FROM ledger WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as LedgerRow[];
  }

  /** Cameras with live recordings that `known` does not list (removed from the config). */
  camerasWithLiveSegmentsBesides(known: string[]): string[] {
    const all = (this.db.prepare("SELECT DISTINCT camera FROM segments WHERE state = 'ok'").all() as { camera: string }[]).map((r) => r.camera);
    return all.filter((c) => !known.includes(c)).sort();
  }

  addCheckpoint(c: Omit<CheckpointRow, 'id'>): CheckpointRow {
    const id = Number(this.db.prepare(`INSERT INTO checkpoints (at_ms, reason, segments_length, ledger_length, audit_length, payload)
      VALUES (@at_ms, @reason, @segments_length, @ledger_length, @audit_length, @payload)`).run(c).lastInsertRowid);
    return { ...c, id };
  }

  newestCheckpoint(): CheckpointRow | undefined {
    if (!this.hasLedger) return undefined;
    return this.db.prepare('SELECT * FROM checkpoints ORDER BY id DESC LIMIT 1').get() as CheckpointRow | undefined;
  }

  /** Stored checkpoints, oldest first. */
  checkpoints(): CheckpointRow[] {
    if (!this.hasLedger) return [];
    return this.db.prepare('SELECT * FROM checkpoints ORDER BY id').all() as CheckpointRow[];
  }

  /** The oldest stored checkpoint whose segments chain reaches `segmentId`. */
  checkpointCovering(segmentId: number): CheckpointRow | undefined {
    if (!this.hasLedger) return undefined;
    return this.db.prepare('SELECT * FROM checkpoints WHERE segments_length >= ? ORDER BY id LIMIT 1').get(segmentId) as CheckpointRow | undefined;
  }

  /** The earliest time the catalog holds anything of a camera (a segment in any state, or a gap), through the (camera, start_ms) indexes; null for none. */
  firstRecordMs(camera: string): number | null {
    const first = (table: 'segments' | 'gaps') =>
      (this.db.prepare(`SELECT start_ms FROM ${table} WHERE camera = ? ORDER BY start_ms LIMIT 1`).get(camera) as { start_ms: number } | undefined)?.start_ms ?? null;
    const seg = first('segments'), gap = first('gaps');
    return seg === null ? gap : gap === null ? seg : Math.min(seg, gap);
  }

  /**
   * How far back a camera's footage goes unbroken by deletion: the start of its oldest live
   * segment newer than every segment retention deleted. A held clip kept from long before is not
   * days held: with it counted, a camera holding one 200-day-old clip and 2 days of footage read
   * "200 of 30 days" (an outside probe). Two reads of the (camera, state, end_ms) index.
   */
  oldestKept(camera: string): number | null {
    const deleted = this.cached("SELECT end_ms FROM segments WHERE camera = ? AND state = 'deleted' ORDER BY end_ms DESC LIMIT 1").get(camera) as { end_ms: number } | undefined;
    const r = this.cached("SELECT start_ms FROM segments WHERE camera = ? AND state = 'ok' AND end_ms > ? ORDER BY end_ms LIMIT 1")
      .get(camera, deleted?.end_ms ?? Number.MIN_SAFE_INTEGER) as { start_ms: number } | undefined;
    return r?.start_ms ?? null;
  }

  /**
   * Bytes of live segments under an active hold: space retention cannot free. Per camera the
   * holds' ranges are merged first, so overlapping holds count a segment once (one straddling two
   * ranges that do not overlap is counted twice: a forecast need not be exact to the segment);
   * each range is one read of the (camera, start_ms) index, bounded as IN_RANGE says.
   */
  heldBytes(cameras: readonly string[]): number {
    const stmt = this.cached(`SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE camera = @camera AND state = 'ok' AND ${this.inRange}`);
    const holds = this.holds();
    let bytes = 0;
    for (const camera of cameras) {
      const ranges = holds.filter((h) => h.camera === null || h.camera === camera).map((h) => [h.from_ms, h.to_ms]).sort((a, b) => a[0] - b[0]);
      const merged: number[][] = [];
      for (const r of ranges) {
        const last = merged[merged.length - 1];
        if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
        else merged.push([...r]);
      }
      for (const [from, to] of merged) bytes += (stmt.get({ camera, from, to }) as { b: number }).b;
    }
    return bytes;
  }

  /** Per camera: the oldest live segment's start and the live bytes. A full scan: for one-off
   * commands, not for anything that runs every minute. */
  liveSummary(): Array<{ camera: string; oldest_ms: number; newest_ms: number; bytes: number; segments: number }> {
    return this.db.prepare(`SELECT camera, min(start_ms) AS oldest_ms, max(end_ms) AS newest_ms, sum(bytes) AS bytes, count(*) AS segments
      FROM segments WHERE state = 'ok' GROUP BY camera ORDER BY camera`).all() as Array<{ camera: string; oldest_ms: number; newest_ms: number; bytes: number; segments: number }>;
  }

  /** Bytes of every live segment: a counter the catalog keeps with its rows (a full scan, about
   * 1.5 s over a million rows, on a catalog older than migration 4). */
  liveBytes(): number {
    const kept = this.hasLedger ? this.getMeta(LIVE_BYTES) : undefined;
    if (kept !== undefined) return Number(kept);
    return (this.db.prepare("SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE state = 'ok'").get() as { b: number }).b;
  }

  /** Sums the live bytes again (a full scan): after rows were written by other means (a bulk
   * import, a benchmark), or at start-up to heal a counter edited behind the catalog's back. */
  recountLiveBytes(): number {
    const b = (this.db.prepare("SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE state = 'ok'").get() as { b: number }).b;
    this.setMeta(LIVE_BYTES, String(b));
    return b;
  }

  private addLiveBytes(delta: number): void {
    this.cached('UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?').run(delta, LIVE_BYTES);
  }

  /** Bytes recorded since `sinceMs` by these cameras, and the span they cover, for the forecast
   * of days the disk holds. Per camera, so each query is a range of the (camera, start_ms) index. */
  recentRate(sinceMs: number, cameras: string[]): { bytes: number; spanMs: number } {
    const stmt = this.db.prepare('SELECT coalesce(sum(bytes), 0) AS bytes, min(start_ms) AS first, max(end_ms) AS last FROM segments WHERE camera = ? AND start_ms >= ?');
    let bytes = 0;
    let first = Infinity;
    let last = -Infinity;
    for (const camera of cameras) {
      const r = stmt.get(camera, sinceMs) as { bytes: number; first: number | null; last: number | null };
      bytes += r.bytes;
      if (r.first !== null) first = Math.min(first, r.first);
      if (r.last !== null) last = Math.max(last, r.last);
    }
    return { bytes, spanMs: last > first ? last - first : 0 };
  }

  /** Segments and bytes per camera in rows after `afterId`: a caller keeping running totals reads
   * only what is new (an index range on the primary key), never the whole table twice. */
  segmentTally(afterId: number): { lastId: number; rows: Array<{ camera: string; segments: number; bytes: number }> } {
    const rows = this.db.prepare('SELECT camera, count(*) AS segments, coalesce(sum(bytes), 0) AS bytes, max(id) AS last FROM segments WHERE id > ? GROUP BY camera')
      .all(afterId) as Array<{ camera: string; segments: number; bytes: number; last: number }>;
    return { lastId: Math.max(afterId, ...rows.map((r) => r.last)), rows: rows.map(({ camera, segments, bytes }) => ({ camera, segments, bytes })) };
  }

  /** Events per type and camera in rows after `afterId` (like segmentTally). */
  eventTally(afterId: number): { lastId: number; rows: Array<{ type: string; camera: string | null; count: number }> } {
    const rows = this.db.prepare('SELECT type, camera, count(*) AS count, max(id) AS last FROM events WHERE id > ? GROUP BY type, camera')
      .all(afterId) as Array<{ type: string; camera: string | null; count: number; last: number }>;
    return { lastId: Math.max(afterId, ...rows.map((r) => r.last)), rows: rows.map(({ type, camera, count }) => ({ type, camera, count })) };
  }

  /** Per camera: how many gaps, and the ms of those that closed (an open gap's length is not final). */
  gapTally(): Array<{ camera: string; gaps: number; closed_ms: number }> {
    return this.db.prepare('SELECT camera, count(*) AS gaps, coalesce(sum(end_ms - start_ms), 0) AS closed_ms FROM gaps GROUP BY camera ORDER BY camera')
      .all() as Array<{ camera: string; gaps: number; closed_ms: number }>;
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /* ---------------------------------------------------------- view and identity (tamper) */

  /** The camera's reference in use: the newest one not retired. */
  activeViewReference(camera: string): ViewReferenceRow | undefined {
    return this.db.prepare('SELECT * FROM view_references WHERE camera = ? AND retired_ms IS NULL ORDER BY id DESC LIMIT 1').get(camera) as ViewReferenceRow | undefined;
  }

  /** Whether a reference is still the one in use (a `tamper reset` retires it while the daemon runs). */
  viewReferenceActive(id: number): boolean {
    return this.db.prepare('SELECT 1 FROM view_references WHERE id = ? AND retired_ms IS NULL').get(id) !== undefined;
  }

  addViewReference(camera: string, data: string, atMs = Date.now()): ViewReferenceRow {
    const id = Number(this.db.prepare('INSERT INTO view_references (camera, created_ms, data) VALUES (?, ?, ?)').run(camera, atMs, data).lastInsertRowid);
    return { id, camera, created_ms: atMs, data, retired_ms: null, retired_by: null, retired_reason: null };
  }

  /** Retires the camera's references; the count retired. */
  retireViewReferences(camera: string, by: string, reason: string, atMs = Date.now()): number {
    return this.db.prepare('UPDATE view_references SET retired_ms = ?, retired_by = ?, retired_reason = ? WHERE camera = ? AND retired_ms IS NULL')
      .run(atMs, by, reason, camera).changes;
  }

  cameraIdentity(camera: string): CameraIdentityRow | undefined {
    return this.cached('SELECT * FROM camera_identity WHERE camera = ?').get(camera) as CameraIdentityRow | undefined;
  }

  /** Pins the given fields where nothing is pinned yet; fields already pinned keep their value. */
  pinIdentity(camera: string, fields: IdentityFields, atMs = Date.now()): CameraIdentityRow {
    const cols = ['serial', 'hardware_id', 'manufacturer', 'model', 'codec', 'width', 'height'] as const;
    const given = cols.filter((c) => fields[c] !== undefined && fields[c] !== null);
    this.db.transaction(() => {
      this.cached('INSERT INTO camera_identity (camera, pinned_ms) VALUES (?, ?) ON CONFLICT(camera) DO NOTHING').run(camera, atMs);
      for (const c of given) this.cached(`UPDATE camera_identity SET ${c} = ? WHERE camera = ? AND ${c} IS NULL`).run(fields[c], camera);
    })();
    return this.cameraIdentity(camera)!;
  }

  /** Forgets the pins; the next device and stream seen are pinned anew. */
  clearIdentity(camera: string): boolean {
    return this.db.prepare('DELETE FROM camera_identity WHERE camera = ?').run(camera).changes > 0;
  }

  setCameraView(camera: string, view: string, stream: string | null, atMs = Date.now()): void {
    this.cached(`INSERT INTO camera_view (camera, updated_ms, view, stream) VALUES (?, ?, ?, ?)
      ON CONFLICT(camera) DO UPDATE SET updated_ms = excluded.updated_ms, view = excluded.view, stream = excluded.stream`).run(camera, atMs, view, stream);
  }

  cameraView(camera: string): CameraViewRow | undefined {
    return this.cached('SELECT * FROM camera_view WHERE camera = ?').get(camera) as CameraViewRow | undefined;
  }
}
