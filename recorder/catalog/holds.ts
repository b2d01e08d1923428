/**
 * Legal holds are placed and lifted through here, whoever asks (CLI, MQTT): the hold row and its
 * ledger entry (one transaction, in the catalog, durable when it returns), the audit entry (who, why) and one event shape
 * for `hold_added` and `hold_released`, whatever the channel.
 */
import { wellFormed } from '../../common/well-formed-text.js';
import { appendAudit } from './audit-log.js';
import type { Catalog, HoldRow } from './catalog.js';

/** `data` of the `hold_added` event (docs/mqtt.md, event schema). */
export interface HoldAddedEvent { hold_id: number; camera: string | null; from_ms: number; to_ms: number; reason: string; by: string; created_ms: number }
/** `data` of the `hold_released` event. */
export interface HoldReleasedEvent { hold_id: number; camera: string | null; from_ms: number; to_ms: number; reason: string; by: string; released_ms: number }

export type HoldEventSink = (type: 'hold_added' | 'hold_released', camera: string | null, data: HoldAddedEvent | HoldReleasedEvent) => void;

/** Events straight into the catalog (the CLI: no daemon, no log). */
export const catalogEvents = (catalog: Catalog): HoldEventSink => (type, camera, data) => { catalog.addEvent(type, camera, { ...data }); };

export interface HoldRequest { camera: string | null; from_ms: number; to_ms: number; reason: string }

export function placeHold(catalog: Catalog, asked: HoldRequest, actor: string, raise: HoldEventSink = catalogEvents(catalog), via = 'cli'): HoldRow {
  // the reason as SQLite stores it (a lone surrogate as U+FFFD), so the row, the ledger, the audit entry and the event say the same
  const req = { ...asked, reason: wellFormed(asked.reason) };
  const hold = catalog.durably(() => catalog.db.transaction(() => {
    const h = catalog.addHold({ ...req, created_by: actor });
    appendAudit(catalog, { actor, action: 'hold.add', camera: req.camera, from_ms: req.from_ms, to_ms: req.to_ms, reason: req.reason, details: { hold_id: h.id, via } });
    return h;
  }).immediate());
  raise('hold_added', hold.camera, { hold_id: hold.id, camera: hold.camera, from_ms: hold.from_ms, to_ms: hold.to_ms, reason: hold.reason, by: actor, created_ms: hold.created_ms });
  return hold;
}

/** Undefined when there is no active hold with that id. */
export function liftHold(catalog: Catalog, id: number, actor: string, raise: HoldEventSink = catalogEvents(catalog), via = 'cli'): HoldRow | undefined {
  const hold = catalog.durably(() => catalog.db.transaction(() => {
    const h = catalog.releaseHold(id, actor);
    if (h) appendAudit(catalog, { actor, action: 'hold.release', camera: h.camera, from_ms: h.from_ms, to_ms: h.to_ms, reason: h.reason, details: { hold_id: id, via } });
    return h;
  }).immediate());
  if (!hold) return undefined;
  raise('hold_released', hold.camera, { hold_id: id, camera: hold.camera, from_ms: hold.from_ms, to_ms: hold.to_ms, reason: hold.reason, by: actor, released_ms: hold.released_ms! });
  return hold;
}

/** The active hold covering any of the segment's time, if one does. */
export const holdOver = <H extends Pick<HoldRow, 'camera' | 'from_ms' | 'to_ms'>>(activeHolds: H[], r: { camera: string; start_ms: number; end_ms: number }): H | undefined =>
  activeHolds.find((h) => (h.camera === null || h.camera === r.camera) && h.from_ms < r.end_ms && h.to_ms > r.start_ms);
