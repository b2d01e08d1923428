import type { Database } from 'better-sqlite3';
import { appendLedger, type DeletionData, type LedgerStartedData } from './ledger.js';
import { groupBy } from '../../common/group-by.js';

/**
 * Versioned schema. A migration runs once, in a transaction, and is never edited after it has
 * shipped: boxes in the field upgrade by running the ones they lack, in order.
 */
interface Migration {
  version: number;
  name: string;
  sql: string;
  /** work SQL cannot do (hashing), in the same transaction, after `sql` */
  after?: (db: Database, fromVersion: number) => void;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'segments, gaps and the hash chain',
    sql: `
      CREATE TABLE segments (
        id          INTEGER PRIMARY KEY,
        camera      TEXT    NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,
        path        TEXT    NOT NULL UNIQUE,   -- relative to the data dir
        sha256      TEXT    NOT NULL,          -- of the file's bytes
        prev_hash   TEXT    NOT NULL,          -- chain_hash of the row before (genesis: 64 zeros)
        chain_hash  TEXT    NOT NULL,          -- sha256 over prev_hash and this row's fields
        origin      TEXT    NOT NULL DEFAULT 'recorded' CHECK (origin IN ('recorded', 'recovered')),
        state       TEXT    NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'missing', 'deleted')),
        state_at_ms INTEGER,
        state_note  TEXT,
        indexed_ms  INTEGER NOT NULL
      );
      CREATE INDEX segments_camera_start ON segments (camera, start_ms);

      CREATE TABLE gaps (
        id       INTEGER PRIMARY KEY,
        camera   TEXT    NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms   INTEGER,                       -- NULL while the gap is still open
        cause    TEXT    NOT NULL,
        detail   TEXT
      );
      CREATE INDEX gaps_camera_start ON gaps (camera, start_ms);

      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'legal holds, the local event log, retention indexes',
    sql: `
      CREATE TABLE holds (
        id           INTEGER PRIMARY KEY,
        camera       TEXT,                       -- NULL: every camera
        from_ms      INTEGER NOT NULL,
        to_ms        INTEGER NOT NULL,
        reason       TEXT    NOT NULL,
        created_by   TEXT    NOT NULL,
        created_ms   INTEGER NOT NULL,
        released_ms  INTEGER,
        released_by  TEXT,
        CHECK (to_ms > from_ms)
      );
      CREATE TABLE events (
        id     INTEGER PRIMARY KEY,
        at_ms  INTEGER NOT NULL,
        type   TEXT    NOT NULL,
        camera TEXT,
        data   TEXT    NOT NULL                  -- JSON
      );
      CREATE INDEX events_at ON events (at_ms);
      -- retention walks live segments oldest first, and per camera by age
      CREATE INDEX segments_state_start ON segments (state, start_ms);
      CREATE INDEX segments_camera_state_end ON segments (camera, state, end_ms);
    `,
  },
  {
    version: 3,
    name: 'egress audit log and MQTT outbox',
    sql: `
      -- Every export, snapshot, viewing and command: who, when, why, where to. Hash chained like
      -- the segments: hash = sha256(prev_hash, id, at_ms, actor, action, camera, from_ms, to_ms,
      -- reason, destination, details), so an edited, removed or inserted entry breaks it.
      CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        at_ms       INTEGER NOT NULL,
        actor       TEXT    NOT NULL,
        action      TEXT    NOT NULL,
        camera      TEXT,
        from_ms     INTEGER,
        to_ms       INTEGER,
        reason      TEXT,
        destination TEXT,
        details     TEXT    NOT NULL DEFAULT '{}',   -- JSON
        prev_hash   TEXT    NOT NULL,
        hash        TEXT    NOT NULL
      );
      -- Messages waiting for the broker, oldest first; a row goes once the broker acknowledged it.
      CREATE TABLE mqtt_outbox (
        id         INTEGER PRIMARY KEY,
        message_id TEXT    NOT NULL UNIQUE,          -- the payload's unique id
        created_ms INTEGER NOT NULL,
        topic      TEXT    NOT NULL,
        payload    TEXT    NOT NULL,
        qos        INTEGER NOT NULL DEFAULT 1,
        retain     INTEGER NOT NULL DEFAULT 0,
        attempts   INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE mqtt_outbox_stats (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `,
  },
  {
    version: 4,
    name: 'segments chain v2 with provenance, the ledger, signed checkpoints',
    sql: `
      -- canonical JSON about how the segment was recorded (capture masks, camera identity), or
      -- NULL; covered by the v2 chain hash
      ALTER TABLE segments ADD COLUMN provenance TEXT;

      -- Every evidence change that is not a segment (recorder/catalog/ledger.ts), hash chained:
      -- hash = sha256(canonicalJson({prev, id, at_ms, kind, camera, data})).
      CREATE TABLE ledger (
        id        INTEGER PRIMARY KEY,
        at_ms     INTEGER NOT NULL,
        kind      TEXT    NOT NULL,
        camera    TEXT,
        data      TEXT    NOT NULL,                 -- canonical JSON
        prev_hash TEXT    NOT NULL,
        hash      TEXT    NOT NULL
      );
      CREATE INDEX ledger_kind ON ledger (kind, id);

      -- Signed checkpoints (recorder/catalog/checkpoint.ts): the payload exactly as published.
      CREATE TABLE checkpoints (
        id              INTEGER PRIMARY KEY,
        at_ms           INTEGER NOT NULL,
        reason          TEXT    NOT NULL,          -- interval, egress, stop, cli
        segments_length INTEGER NOT NULL,
        ledger_length   INTEGER NOT NULL,
        audit_length    INTEGER NOT NULL,
        payload         TEXT    NOT NULL
      );

      -- rows from these ids on are hashed with the v2 formulas (hash-chain.ts)
      INSERT OR REPLACE INTO meta (key, value) SELECT 'chain.segments.v2_from', coalesce(max(id), 0) + 1 FROM segments;
      INSERT OR REPLACE INTO meta (key, value) SELECT 'chain.audit.v2_from', coalesce(max(id), 0) + 1 FROM audit_log;
      -- kept by the catalog as rows come and go, so retention knows without a full scan
      INSERT OR REPLACE INTO meta (key, value) SELECT 'segments.live_bytes', coalesce(sum(bytes), 0) FROM segments WHERE state = 'ok';
    `,
    after: backfillLedger,
  },
  {
    version: 5,
    name: 'view references, camera identity pins and view state (tamper detection)',
    sql: `
      -- The normal view of a camera, learned at commissioning or after \`tamper reset\`. Rows are
      -- never deleted: a reset retires the active one (who, when, why) and a new one is learned.
      CREATE TABLE view_references (
        id             INTEGER PRIMARY KEY,
        camera         TEXT    NOT NULL,
        created_ms     INTEGER NOT NULL,
        data           TEXT    NOT NULL,          -- JSON: watchdog/tamper-analysis.ts ViewReference
        retired_ms     INTEGER,
        retired_by     TEXT,
        retired_reason TEXT
      );
      CREATE INDEX view_references_camera ON view_references (camera, id);
      -- What a camera is, pinned when first seen: the ONVIF device (NULL for other sources) and
      -- the stream as recorded. A field is pinned once; a reset clears the row.
      CREATE TABLE camera_identity (
        camera       TEXT PRIMARY KEY,
        pinned_ms    INTEGER NOT NULL,
        serial       TEXT,
        hardware_id  TEXT,
        manufacturer TEXT,
        model        TEXT,
        codec        TEXT,
        width        INTEGER,
        height       INTEGER
      );
      -- The daemon's latest view state per camera, for \`status\` (which runs without the daemon).
      CREATE TABLE camera_view (
        camera     TEXT PRIMARY KEY,
        updated_ms INTEGER NOT NULL,
        view       TEXT    NOT NULL,              -- JSON: the view object of the MQTT camera state
        stream     TEXT                           -- JSON: codec, width, height, fps as recorded
      );
    `,
  },
  {
    version: 8,
    name: 'indexes for time-range queries over months of segments',
    sql: `
      -- A camera's segments overlapping [from, to) start between from minus its longest segment
      -- and to: with the longest one known from this index, a range query reads only its own
      -- rows instead of every row of the camera before \`to\` (30 days x 32 cameras: 1.4 M rows).
      CREATE INDEX segments_camera_length ON segments (camera, end_ms - start_ms);
      -- (camera, start_ms) in the same order (id breaks ties) and with end_ms: sums over a range
      -- (continuity, in every health report) read the index alone
      CREATE INDEX segments_camera_start_end ON segments (camera, start_ms, id, end_ms);
      DROP INDEX segments_camera_start;
    `,
  },
  {
    version: 9,
    name: 'command nonces, clock steps inside segments',
    sql: `
      -- A command's nonce is kept until its timestamp can no longer be accepted (ts + the replay
      -- window), so a replay is refused however late it comes and across restarts. Replaces the
      -- JSON list in meta 'mqtt.cmd_nonces' (kept there for the receipt time + window; its
      -- entries are carried over with the longest window a config allows, two hours).
      CREATE TABLE command_nonces (
        nonce      TEXT    PRIMARY KEY,
        expires_ms INTEGER NOT NULL
      );
      CREATE INDEX command_nonces_expiry ON command_nonces (expires_ms);
      INSERT OR IGNORE INTO command_nonces (nonce, expires_ms)
        SELECT key, value + 7200000 FROM json_each((SELECT value FROM meta WHERE key = 'mqtt.cmd_nonces'))
        WHERE type = 'integer';
      DELETE FROM meta WHERE key = 'mqtt.cmd_nonces';
      -- Set on a segment during which the wall clock stepped: by how much (ms, + forward). The
      -- segment's times are in the clock after the step; the hole or overlap before it is a
      -- clock_jump gap. NULL: no step while it was open.
      ALTER TABLE segments ADD COLUMN clock_step_ms INTEGER;
    `,
  },
  {
    version: 6,
    name: 'uploads waiting for delivery to a platform',
    sql: `
      -- An export, snapshot or evidence bundle to PUT to a platform (uploads/uploader.ts). Kept
      -- here, not in memory, so a restart or a power cut resumes it. url is the target as the
      -- platform sent it, its query (a pre-signed signature) included: never shown; destination
      -- (scheme, host, port, path) is what listings, logs, events and the audit log show.
      CREATE TABLE uploads (
        id              INTEGER PRIMARY KEY,
        created_ms      INTEGER NOT NULL,
        requested_by    TEXT    NOT NULL,          -- mqtt:<client>
        request_id      TEXT,
        kind            TEXT    NOT NULL,          -- evidence, export, snapshot
        camera          TEXT,
        source          TEXT    NOT NULL,          -- the file or bundle directory, relative to the data dir
        url             TEXT    NOT NULL,
        destination     TEXT    NOT NULL,
        state           TEXT    NOT NULL,          -- pending, sending, done, failed
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error      TEXT,
        state_at_ms     INTEGER NOT NULL,
        bytes           INTEGER,                   -- the object sent (done)
        sha256          TEXT
      );
      CREATE INDEX uploads_due ON uploads (state, next_attempt_ms);
    `,
  },
  {
    version: 10,
    name: 'each camera\'s rows side by side, for listings',
    sql: `
      -- Cameras record at once, so one camera's rows interleave with every other camera's in the
      -- table: a camera-day (1 440 rows of 60 s) sat on 1 440 table pages. This index holds every
      -- column in (camera, start_ms) order, so a listing reads a run of about a hundred index
      -- pages and never the table (bench/catalog.ts: one camera-day out of 30 days x 32
      -- cameras). It costs about 300 bytes a row on disk. (camera, start_ms, id, end_ms) stays:
      -- range sums (continuity, every camera in every health report) read a seventh of the pages.
      CREATE INDEX segments_camera_rows ON segments (camera, start_ms, id, end_ms, bytes, path, sha256, prev_hash, chain_hash,
        origin, state, state_at_ms, state_note, indexed_ms, provenance, clock_step_ms);
    `,
  },
];

/**
 * What the view held before the ledger existed is copied into it, so it is chained from now on:
 * each gap (opened, with its end when closed), each hold (added, and released), the deleted
 * and missing rows (deletion entries with rule `before_ledger`: their facts were never
 * recorded, so `verify` lists them as not re-checkable). The first entry says where the
 * stronger proof starts.
 */
function backfillLedger(db: Database, fromVersion: number): void {
  const meta = (key: string) => Number((db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value);
  const now = Date.now();
  const gaps = db.prepare('SELECT * FROM gaps ORDER BY id').all() as Array<{ id: number; camera: string; start_ms: number; end_ms: number | null; cause: string; detail: string | null }>;
  const holds = db.prepare('SELECT * FROM holds ORDER BY id').all() as Array<{ id: number; camera: string | null; from_ms: number; to_ms: number; reason: string; created_by: string; created_ms: number; released_ms: number | null; released_by: string | null }>;
  const changed = db.prepare("SELECT id, camera, end_ms, state, state_at_ms, state_note FROM segments WHERE state != 'ok' ORDER BY id")
    .all() as Array<{ id: number; camera: string; end_ms: number; state: 'missing' | 'deleted'; state_at_ms: number | null; state_note: string | null }>;
  const started: LedgerStartedData = {
    from_schema: fromVersion, segments_v2_from: meta('chain.segments.v2_from'), audit_v2_from: meta('chain.audit.v2_from'),
    backfilled: { gaps: gaps.length, holds: holds.length, deleted: changed.filter((r) => r.state === 'deleted').length, missing: changed.filter((r) => r.state === 'missing').length },
  };
  appendLedger(db, 'ledger_started', null, started, now);
  for (const g of gaps) appendLedger(db, 'gap_opened', g.camera, { gap: g.id, start_ms: g.start_ms, end_ms: g.end_ms, cause: g.cause, detail: g.detail }, now);
  for (const h of holds) {
    appendLedger(db, 'hold_added', h.camera, { hold: h.id, from_ms: h.from_ms, to_ms: h.to_ms, reason: h.reason, by: h.created_by, created_ms: h.created_ms }, now);
    if (h.released_ms !== null) appendLedger(db, 'hold_released', h.camera, { hold: h.id, by: h.released_by ?? 'unknown', released_ms: h.released_ms }, now);
  }
  // one entry per camera, state, time and note: the batches as retention wrote them
  const groups = groupBy(changed, (r) => JSON.stringify([r.camera, r.state, r.state_at_ms, r.state_note]));
  for (const rows of groups.values()) {
    const r = rows[0]!;
    const ids = rows.map((x) => x.id);
    if (r.state === 'missing') {
      appendLedger(db, 'segment_missing', r.camera, { segments: ids, state_at_ms: r.state_at_ms, note: r.state_note ?? '' }, now);
    } else {
      const data: DeletionData = {
        rule: 'before_ledger', segments: ids, ends_ms: rows.map((x) => x.end_ms), state_at_ms: r.state_at_ms ?? 0, note: r.state_note ?? '',
        policy: { min_days: null, max_days: null }, holds_checked: [], clock: null,
      };
      appendLedger(db, 'deletion', r.camera, data, now);
    }
  }
}

/** The newest version (not the last in the list: numbers were handed out to parallel work). */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/** Brings the schema to `upTo` (the newest by default; tests build older catalogs with less). */
export function migrate(db: Database, upTo = SCHEMA_VERSION): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)');
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new Error(`catalog schema version ${current} is newer than this edge-nvr (${SCHEMA_VERSION}); upgrade edge-nvr`);
  }
  // Each migration not yet applied runs, in list order, even one numbered below the newest
  // applied: numbers were handed out to parallel work, and a catalog that got a higher one first
  // must still get the lower one when it lands.
  const applied = new Set((db.prepare('SELECT version FROM schema_version').all() as Array<{ version: number }>).map((r) => r.version));
  for (const m of MIGRATIONS) {
    if (applied.has(m.version) || m.version > upTo) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.after?.(db, current);
      db.prepare('INSERT INTO schema_version (version, name, applied_ms) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
  return Math.max(current, upTo);
}

export function schemaVersion(db: Database): number {
  try {
    return (db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0;
  } catch {
    return 0;
  }
}
