import type { Logger } from 'pino';
import { appendAudit, lastAuditOf } from '../recorder/catalog/audit-log.js';
import type { Catalog, CameraIdentityRow } from '../recorder/catalog/catalog.js';
import type { OnvifDevice } from '../recorder/sources/onvif.js';
import type { TamperKind } from './tamper-monitor.js';

export interface StreamShape { codec: string; width: number; height: number }

/** The same codec and size (undefined: no stream known, never the same); a pin may hold nulls. */
type PinnedShape = { [K in keyof StreamShape]: StreamShape[K] | null };
export const sameShape = (a: PinnedShape | undefined, b: PinnedShape): boolean => a !== undefined && a.codec === b.codec && a.width === b.width && a.height === b.height;

export interface IdentityWatchOptions {
  catalog: Catalog;
  /** raises or clears a kind (the camera's TamperMonitor) */
  report: (kind: TamperKind, on: boolean, data: Record<string, unknown>) => void;
  log?: Logger;
}

/**
 * A stream of the shape last compared is compared with the pins again at most this often: at 64
 * cameras the comparison (a catalog read) ran 64 times a second; after a reset the stream is
 * pinned again within this, plus the view watch's 5 s re-check.
 */
const SAME_STREAM_RECHECK_MS = 4000;

/** the daemon, in audit entries it writes on its own */
export const DAEMON_ACTOR = 'edge-nvr';

/**
 * Is this still the camera that was commissioned? The ONVIF device (serial number, else
 * hardware id, manufacturer and model) and the stream as recorded (codec, width, height) are
 * pinned in the catalog the first time each is seen. Another device answering at the camera's
 * address raises `replaced`; the stream changing codec or size raises `stream_changed`. Each
 * pin and each mismatch is an audit entry; `edge-nvr tamper reset` forgets the pins.
 */
export class IdentityWatch {
  private replaced = false;
  private changed = false;
  /** the stream shape last compared with the pins, and when (monotonic ms) */
  private lastStream?: { key: string; atMono: number };

  constructor(readonly camera: string, private readonly opts: IdentityWatchOptions) {}

  onDevice(seen: OnvifDevice): void {
    const pinned = this.pins();
    if (!pinned || (pinned.serial === null && pinned.hardware_id === null && pinned.model === null)) {
      this.pin({ serial: seen.serial, hardware_id: seen.hardware_id, manufacturer: seen.manufacturer, model: seen.model }, 'ONVIF device');
      // pins forgotten by `tamper reset` while replaced: the device seen now is the camera
      if (this.replaced) { this.replaced = false; this.opts.report('replaced', false, { reason: 'tamper reset: the device seen now is pinned' }); }
      return;
    }
    const differs = pinned.serial !== null && seen.serial !== undefined
      ? pinned.serial !== seen.serial
      : (pinned.hardware_id !== null && seen.hardware_id !== undefined && pinned.hardware_id !== seen.hardware_id)
        || (pinned.model !== null && seen.model !== undefined && pinned.model !== seen.model)
        || (pinned.manufacturer !== null && seen.manufacturer !== undefined && pinned.manufacturer !== seen.manufacturer);
    const was = { serial: pinned.serial, hardware_id: pinned.hardware_id, manufacturer: pinned.manufacturer, model: pinned.model };
    const now = { serial: seen.serial ?? null, hardware_id: seen.hardware_id ?? null, manufacturer: seen.manufacturer ?? null, model: seen.model ?? null };
    if (differs && !this.replaced) {
      this.replaced = true;
      this.audit('tamper.replaced', 'another device answers at the camera\'s address', { pinned: was, seen: now });
      this.opts.report('replaced', true, { pinned: was, seen: now });
    } else if (!differs && this.replaced) {
      this.replaced = false;
      this.opts.report('replaced', false, { reason: 'the pinned device answers again', seen: now });
    }
  }

  onStream(seen: StreamShape): void {
    // The sampler reports the stream at every fragment (its measured rate moves): a shape just
    // compared is compared again only after a while (the pins change only on a reset), a new one at once.
    const key = `${seen.codec} ${seen.width}x${seen.height}`;
    const atMono = performance.now();
    if (this.lastStream?.key === key && atMono - this.lastStream.atMono < SAME_STREAM_RECHECK_MS) return;
    this.lastStream = { key, atMono };
    const pinned = this.pins();
    if (!pinned || pinned.codec === null) {
      this.pin({ codec: seen.codec, width: seen.width, height: seen.height }, 'stream');
      if (this.changed) { this.changed = false; this.opts.report('stream_changed', false, { reason: 'tamper reset: the stream seen now is pinned' }); }
      return;
    }
    const was = { codec: pinned.codec, width: pinned.width, height: pinned.height };
    const now = { codec: seen.codec, width: seen.width, height: seen.height };
    const differs = !sameShape(was, now);
    if (differs && !this.changed) {
      this.changed = true;
      // the same change an earlier run (or this camera before a reload restarted it) raised and
      // nobody reset: it goes on, from when it began; raised again, each restart had announced it
      // anew, with no still and a new onset, and audited it once more (an outside probe)
      const known = this.knownChange(pinned.pinned_ms, now);
      if (known !== undefined) {
        this.opts.report('stream_changed', true, { pinned: was, seen: now, since_ms: known, continued: true });
        return;
      }
      this.audit('tamper.stream_changed', 'the recorded stream changed codec or resolution', { pinned: was, seen: now });
      this.opts.report('stream_changed', true, { pinned: was, seen: now });
    } else if (!differs && this.changed) {
      this.changed = false;
      this.opts.report('stream_changed', false, { reason: 'the stream is as pinned again', seen: now });
    }
  }

  /** When the change to `seen` was audited, since the stream was pinned: undefined if it was not. */
  private knownChange(pinnedMs: number, seen: StreamShape): number | undefined {
    try {
      const row = lastAuditOf(this.opts.catalog, 'tamper.stream_changed', this.camera, pinnedMs);
      const audited = row ? (JSON.parse(row.details) as { seen?: StreamShape }).seen : undefined;
      return row && audited && sameShape(audited, seen) ? row.at_ms : undefined;
    } catch (err) {
      this.opts.log?.error({ camera: this.camera, err }, 'cannot read the audit log for an earlier stream change');
      return undefined;
    }
  }

  private pins(): CameraIdentityRow | undefined {
    try {
      return this.opts.catalog.cameraIdentity(this.camera);
    } catch (err) {
      this.opts.log?.error({ camera: this.camera, err }, 'cannot read the camera\'s identity pins');
      return undefined;
    }
  }

  /**
   * The pin and its audit entry in one transaction, durable with the other pins of this turn of
   * the event loop (DurableGroup: one fsync for the cameras whose first stream came in together,
   * as at start-up). Logged once it is on the disk. A crash before that leaves neither the pin nor
   * its entry, and the stream or device is pinned again when it is next seen.
   */
  private pin(fields: Record<string, string | number | undefined>, what: string): void {
    const { catalog } = this.opts;
    catalog.durableGroup.add(() => {
      const row = catalog.pinIdentity(this.camera, fields);
      appendAudit(catalog, { actor: DAEMON_ACTOR, action: 'camera.identity_pinned', camera: this.camera, reason: `first ${what} seen`, details: { pinned: fields, identity: row } });
      return row;
    }).then(() => {
      this.opts.log?.info({ camera: this.camera, ...fields }, `camera identity pinned (${what})`);
    }, (err: unknown) => {
      this.opts.log?.error({ camera: this.camera, err }, 'cannot pin the camera\'s identity');
    });
  }

  private audit(action: string, reason: string, details: Record<string, unknown>): void {
    try {
      appendAudit(this.opts.catalog, { actor: DAEMON_ACTOR, action, camera: this.camera, reason, details });
    } catch (err) {
      this.opts.log?.error({ camera: this.camera, err, action }, 'cannot write the audit entry');
    }
  }
}
