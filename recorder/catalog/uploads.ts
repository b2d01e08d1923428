import type { Catalog } from './catalog.js';

export type UploadState = 'pending' | 'sending' | 'done' | 'failed';
export type UploadKind = 'evidence' | 'export' | 'snapshot';

/** A row of the `uploads` table (migration 6). `url` may hold a signature: never show it. */
export interface UploadRow {
  id: number;
  created_ms: number;
  requested_by: string;
  request_id: string | null;
  kind: UploadKind;
  camera: string | null;
  source: string;
  url: string;
  destination: string;
  state: UploadState;
  attempts: number;
  next_attempt_ms: number;
  last_error: string | null;
  state_at_ms: number;
  bytes: number | null;
  sha256: string | null;
}

/** What may be shown of an upload: everything but the URL. */
export type ShownUpload = Omit<UploadRow, 'url'>;

export function shownUpload(row: UploadRow): ShownUpload {
  const { url: _secret, ...shown } = row;
  void _secret;
  return shown;
}

export type NewUpload = Pick<UploadRow, 'requested_by' | 'request_id' | 'kind' | 'camera' | 'source' | 'url' | 'destination'>;

/**
 * The queue of uploads (catalog table `uploads`): the one writer of its rows. A row is added
 * durably before the command that asked for it is answered, so an acknowledged upload survives
 * a power cut; each attempt is counted before it starts, so one a crash interrupted is counted.
 */
export class UploadQueue {
  constructor(private readonly catalog: Catalog) {}

  private get db() {
    return this.catalog.db;
  }

  add(u: NewUpload, nowMs = Date.now()): UploadRow {
    return this.catalog.durably(() => {
      const id = Number(this.db.prepare(`INSERT INTO uploads (created_ms, requested_by, request_id, kind, camera, source, url, destination, state, attempts, next_attempt_ms, state_at_ms)
        VALUES (@created_ms, @requested_by, @request_id, @kind, @camera, @source, @url, @destination, 'pending', 0, @created_ms, @created_ms)`).run({ ...u, created_ms: nowMs }).lastInsertRowid);
      return this.get(id)!;
    });
  }

  get(id: number): UploadRow | undefined {
    return this.db.prepare('SELECT * FROM uploads WHERE id = ?').get(id) as UploadRow | undefined;
  }

  /** The next pending upload due at `nowMs`, and when the one after is due (undefined: none waits). */
  due(nowMs: number): { row?: UploadRow; nextMs?: number } {
    const first = this.db.prepare("SELECT * FROM uploads WHERE state = 'pending' ORDER BY next_attempt_ms, id LIMIT 1").get() as UploadRow | undefined;
    if (!first) return {};
    return first.next_attempt_ms <= nowMs ? { row: first } : { nextMs: first.next_attempt_ms };
  }

  /** Attempts a crash or a stop interrupted go back to the queue, due now (the attempt stays counted). */
  requeueInterrupted(nowMs = Date.now()): number {
    return this.db.prepare("UPDATE uploads SET state = 'pending', next_attempt_ms = ?, state_at_ms = ?, last_error = coalesce(last_error, 'interrupted') WHERE state = 'sending'")
      .run(nowMs, nowMs).changes;
  }

  started(id: number, nowMs = Date.now()): UploadRow {
    this.db.prepare("UPDATE uploads SET state = 'sending', attempts = attempts + 1, state_at_ms = ? WHERE id = ?").run(nowMs, id);
    return this.get(id)!;
  }

  retryAt(id: number, error: string, nextMs: number, nowMs = Date.now()): void {
    this.db.prepare("UPDATE uploads SET state = 'pending', last_error = ?, next_attempt_ms = ?, state_at_ms = ? WHERE id = ?").run(error, nextMs, nowMs, id);
  }

  done(id: number, sent: { bytes: number; sha256: string }, nowMs = Date.now()): UploadRow {
    this.catalog.durably(() => this.db.prepare("UPDATE uploads SET state = 'done', bytes = ?, sha256 = ?, last_error = NULL, state_at_ms = ? WHERE id = ?")
      .run(sent.bytes, sent.sha256, nowMs, id));
    return this.get(id)!;
  }

  failed(id: number, error: string, nowMs = Date.now()): UploadRow {
    this.catalog.durably(() => this.db.prepare("UPDATE uploads SET state = 'failed', last_error = ?, state_at_ms = ? WHERE id = ?").run(error, nowMs, id));
    return this.get(id)!;
  }

  /**
   * Every upload not finished, and the newest `limit` (null: all) of the rest, newest first; with
   * how many finished ones that left out (a pending upload under a thousand newer ones was not
   * shown at all: an outside probe).
   */
  list(limit: number | null = 100): { rows: UploadRow[]; leftOut: number } {
    const rows = this.db.prepare(`SELECT * FROM uploads WHERE state IN ('pending', 'sending') OR id IN (SELECT id FROM uploads ORDER BY id DESC LIMIT ?)
      ORDER BY id DESC`).all(limit ?? -1) as UploadRow[];
    const all = (this.db.prepare('SELECT count(*) AS n FROM uploads').get() as { n: number }).n;
    return { rows, leftOut: all - rows.length };
  }
}
