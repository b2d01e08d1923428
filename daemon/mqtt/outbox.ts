import { randomUUID } from 'node:crypto';
import type { Catalog, EventRow } from '../../recorder/catalog/catalog.js';
import type { EventPayload } from './payloads.js';

export const OUTBOX_MAX_ROWS = 10_000;
const FEED_BATCH = 500;
/** mqtt_outbox_stats keys */
export const STAT_LAST_EVENT_ID = 'last_event_id';
export const STAT_DROPPED = 'dropped';
export const STAT_PUBLISHED = 'published';

export interface OutboxRow {
  id: number;
  message_id: string;
  created_ms: number;
  topic: string;
  payload: string;
  qos: number;
  retain: number;
  attempts: number;
}

/**
 * The persistent queue of event messages (catalog table `mqtt_outbox`). It is fed from the
 * catalog's `events` table, which every raised event reaches first: the last event id copied
 * is kept in `mqtt_outbox_stats` in the same transaction as the copy, so a crash or a restart
 * neither loses nor doubles an event. A row goes only once the broker acknowledged it (PUBACK).
 * Bounded: past `maxRows` the oldest rows are dropped first and counted (`dropped`).
 */
export class Outbox {
  constructor(
    private readonly catalog: Catalog,
    private readonly topic: string,
    private readonly box: string,
    readonly maxRows = OUTBOX_MAX_ROWS,
  ) {}

  private get db() { return this.catalog.db; }

  stat(key: string): number {
    return (this.db.prepare('SELECT value FROM mqtt_outbox_stats WHERE key = ?').get(key) as { value: number } | undefined)?.value ?? 0;
  }

  private addStat(key: string, delta: number): void {
    this.db.prepare(`INSERT INTO mqtt_outbox_stats (key, value) VALUES (?, ?)
      ON CONFLICT(key) DO UPDATE SET value = value + excluded.value`).run(key, delta);
  }

  private setStat(key: string, value: number): void {
    this.db.prepare(`INSERT INTO mqtt_outbox_stats (key, value) VALUES (?, ?)
      ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, value);
  }

  /** Copies events raised since the last call into the outbox; returns how many. */
  feed(now = Date.now()): number {
    return this.db.transaction(() => {
      const last = this.stat(STAT_LAST_EVENT_ID);
      const rows = this.db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?').all(last, FEED_BATCH) as EventRow[];
      if (rows.length === 0) return 0;
      const insert = this.db.prepare(`INSERT INTO mqtt_outbox (message_id, created_ms, topic, payload, qos, retain)
        VALUES (?, ?, ?, ?, 1, 0)`);
      for (const ev of rows) {
        const message_id = randomUUID();
        insert.run(message_id, now, this.topic, JSON.stringify(eventPayload(this.box, message_id, ev, now)));
      }
      this.setStat(STAT_LAST_EVENT_ID, rows[rows.length - 1]!.id);
      this.trim();
      return rows.length;
    }).immediate();
  }

  private trim(): void {
    const excess = this.size() - this.maxRows;
    if (excess <= 0) return;
    this.db.prepare('DELETE FROM mqtt_outbox WHERE id IN (SELECT id FROM mqtt_outbox ORDER BY id LIMIT ?)').run(excess);
    this.addStat(STAT_DROPPED, excess);
  }

  size(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM mqtt_outbox').get() as { n: number }).n;
  }

  /** The oldest rows after `afterId` (those up to it are in flight). */
  next(limit: number, afterId = 0): OutboxRow[] {
    return this.db.prepare('SELECT * FROM mqtt_outbox WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as OutboxRow[];
  }

  /** The broker acknowledged it. */
  acknowledged(id: number): void {
    const r = this.db.prepare('DELETE FROM mqtt_outbox WHERE id = ?').run(id);
    if (r.changes) this.addStat(STAT_PUBLISHED, 1);
  }
}

export function eventPayload(box: string, id: string, ev: EventRow, now: number): EventPayload {
  let data: Record<string, unknown>;
  try {
    const parsed = JSON.parse(ev.data) as unknown;
    data = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : { value: parsed };
  } catch {
    data = { raw: ev.data };
  }
  return { schema: 'edge-nvr/event@1', box, ts: now, id, event_id: ev.id, at_ms: ev.at_ms, type: ev.type, camera: ev.camera, data };
}
