import type { Database } from 'better-sqlite3';

/**
 * Versioned schema. A migration runs once, in a transaction, and is never edited after it has
 * shipped: boxes in the field upgrade by running the ones they lack, in order.
 */
const MIGRATIONS: Array<{ version: number; name: string; sql: string }> = [
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
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export function migrate(db: Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)');
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new Error(`catalog schema version ${current} is newer than this edge-nvr (${SCHEMA_VERSION}); upgrade edge-nvr`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_version (version, name, applied_ms) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
  return SCHEMA_VERSION;
}
