/**
 * What the page and the metrics may know about the box: one read model, implemented by the
 * daemon (daemon/box-state.ts) over the same health builder MQTT publishes from. Nothing in web/
 * opens the catalog: it reads these methods and nothing else, so the page, the metrics and the
 * MQTT health message cannot disagree about a number.
 */
import type { AuditEntry } from '../recorder/catalog/audit-log.js';
import type { HealthPayload } from '../daemon/mqtt/payloads.js';

export type Health = HealthPayload;
export type HealthCamera = HealthPayload['cameras'][number];

export interface GapSpan {
  start_ms: number;
  /** null while the gap is open */
  end_ms: number | null;
  cause: string;
}

export interface EventLine {
  at_ms: number;
  type: string;
  camera: string | null;
  /** for a person (common/human.ts describeEvent) */
  text: string;
}

export interface MqttLink {
  /** scheme, host and port only: never credentials */
  broker: string;
  connected: boolean;
  last_health_ms: number | null;
}

/** Totals since the catalog was created; they only grow (Prometheus counters). */
export interface Totals {
  cameras: Array<{ camera: string; segments: number; bytes: number; gaps: number; closed_gap_ms: number }>;
  /** events raised, by type and camera (null: the box) */
  events: Array<{ type: string; camera: string | null; count: number }>;
  /** what left the box through the egress gate, by kind (export, snapshot, redact) and result (ok, failed, refused) */
  egress: Array<{ kind: string; result: string; count: number }>;
}

/** Helper A's background verification, once it exists: how far the current pass got and what it found. */
export interface VerificationProgress {
  checked_segments: number;
  total_segments: number;
  violations: number;
  last_pass_end_ms: number | null;
}

export interface SnapshotTaken {
  export_id: string;
  /** the redacted image, under <data>/exports/ */
  out: string;
  manifest: string;
  sha256: string;
  blanked_frames: number;
}

export interface BoxState {
  readonly boxId: string;
  readonly site: string | null;
  readonly version: string;
  readonly startedMs: number;
  /** the MQTT health message's content, shared (and briefly cached) for every reader */
  health(): Promise<Health>;
  gaps(camera: string, fromMs: number, toMs: number): GapSpan[];
  events(limit: number): EventLine[];
  activeHolds(): number;
  totals(): Totals;
  /** null when the box has no broker configured */
  mqtt(): MqttLink | null;
  /** null until background verification exists (see docs/web.md) */
  verification(): VerificationProgress | null;
  /** a redacted still of the camera's newest recording, through the egress gate, audited as `requester` */
  snapshot(camera: string, requester: string, reason: string): Promise<SnapshotTaken>;
  /** an entry in the chained audit log (logins) */
  audit(entry: AuditEntry): void;
}
