/**
 * The daemon's read model for the status page and /metrics (web/box-state.ts): health from the
 * same builder as the MQTT health message, the rest from the catalog's API. Totals are kept
 * running here, each read adding only the catalog rows written since the last one.
 */
import type { Logger } from 'pino';
import { describeEvent } from '../common/human.js';
import type { Config } from '../config/schema.js';
import { appendAudit, auditTally, type AuditEntry } from '../recorder/catalog/audit-log.js';
import type { BoxState, EventLine, GapSpan, Health, MqttLink, SnapshotTaken, Totals, VerificationProgress } from '../web/box-state.js';
import type { Daemon } from './daemon.js';
import { exportPath } from './egress-handlers.js';
import { urlWithoutSecrets } from '../common/credentials.js';
import { buildHealth, META_LAST_HEALTH } from './mqtt/health.js';
// a type only: MQTT.js is loaded only for a box that talks to a broker (lifecycle.ts)
import type { MqttReporter } from './mqtt/reporter.js';
import { packageVersion } from './package-root.js';

/** Readers arriving within this long of each other (a page refresh and a scrape) share one health reading. */
const HEALTH_TTL_MS = 500;

const EGRESS_KINDS = ['export', 'snapshot', 'redact'];

export class DaemonBoxState implements BoxState {
  readonly boxId: string;
  readonly site: string | null;
  readonly version = packageVersion();
  readonly startedMs = Date.now();
  private cached?: { atMs: number; health: Promise<Health> };
  private passTotal?: { atMs: number; pass: number | null; total: number };
  private readonly tally = {
    segmentId: 0, eventId: 0, auditId: 0,
    segments: new Map<string, { segments: number; bytes: number }>(),
    events: new Map<string, { type: string; camera: string | null; count: number }>(),
    egress: new Map<string, number>(),
  };

  constructor(private readonly daemon: Daemon, config: Config, private readonly log: Logger, private readonly reporter: () => MqttReporter | undefined) {
    this.boxId = config.box.id;
    this.site = config.box.site ?? null;
  }

  private get catalog() {
    const c = this.daemon.catalog;
    if (!c?.db.open) throw new Error('the catalog is closed (the daemon is stopping)');
    return c;
  }

  health(): Promise<Health> {
    const now = Date.now();
    if (!this.cached || now - this.cached.atMs > HEALTH_TTL_MS) {
      const health = buildHealth(this.daemon, this.boxId, this.startedMs, this.reporter()?.queue, now);
      health.catch(() => { if (this.cached?.health === health) this.cached = undefined; });
      this.cached = { atMs: now, health };
    }
    return this.cached.health;
  }

  gaps(camera: string, fromMs: number, toMs: number): GapSpan[] {
    return this.catalog.gaps(camera, fromMs, toMs).map((g) => ({ start_ms: g.start_ms, end_ms: g.end_ms, cause: g.cause }));
  }

  events(limit: number): EventLine[] {
    return this.catalog.events(0, limit).map((e) => {
      let data: Record<string, unknown> = {};
      try { data = JSON.parse(e.data) as Record<string, unknown>; } catch { /* shown by type alone */ }
      return { at_ms: e.at_ms, type: e.type, camera: e.camera, text: describeEvent(e.type, data) };
    });
  }

  activeHolds(): number {
    return this.catalog.holds().length;
  }

  totals(): Totals {
    const t = this.tally;
    const seg = this.catalog.segmentTally(t.segmentId);
    t.segmentId = seg.lastId;
    for (const r of seg.rows) {
      const c = t.segments.get(r.camera) ?? { segments: 0, bytes: 0 };
      c.segments += r.segments;
      c.bytes += r.bytes;
      t.segments.set(r.camera, c);
    }
    const ev = this.catalog.eventTally(t.eventId);
    t.eventId = ev.lastId;
    for (const r of ev.rows) {
      const key = `${r.type}\n${r.camera ?? ''}`;
      const c = t.events.get(key) ?? { type: r.type, camera: r.camera, count: 0 };
      c.count += r.count;
      t.events.set(key, c);
    }
    const au = auditTally(this.catalog, t.auditId);
    t.auditId = au.lastId;
    for (const r of au.rows) {
      // export, export.failed, export.refused, snapshot, ... (logins and commands are not egress)
      const [kind, result = 'ok'] = r.action.split('.', 2) as [string, string | undefined];
      if (!EGRESS_KINDS.includes(kind)) continue;
      const key = `${kind}\n${result}`;
      t.egress.set(key, (t.egress.get(key) ?? 0) + r.count);
    }
    const gaps = new Map(this.catalog.gapTally().map((g) => [g.camera, g]));
    const cameras = new Set([...this.daemon.recorders.keys(), ...t.segments.keys(), ...gaps.keys()]);
    return {
      cameras: [...cameras].sort().map((camera) => ({
        camera, segments: t.segments.get(camera)?.segments ?? 0, bytes: t.segments.get(camera)?.bytes ?? 0,
        gaps: gaps.get(camera)?.gaps ?? 0, closed_gap_ms: gaps.get(camera)?.closed_ms ?? 0,
      })),
      events: [...t.events.values()].map((e) => ({ ...e })),
      egress: [...t.egress.entries()].map(([k, count]) => {
        const [kind, result] = k.split('\n') as [string, string];
        return { kind, result, count };
      }),
    };
  }

  mqtt(): MqttLink | null {
    const reporter = this.reporter();
    const url = this.daemon.config.mqtt?.url;
    if (!url) return null;
    let last: number | null = null;
    try {
      const published = this.catalog.getMeta(META_LAST_HEALTH);
      if (published) last = (JSON.parse(published) as { ts?: number }).ts ?? null;
    } catch { /* nothing published yet */ }
    return { broker: urlWithoutSecrets(url, { path: false }), connected: reporter?.isConnected() ?? false, last_health_ms: last };
  }

  /**
   * The background verifier's current pass (recorder/background-verify.ts): segments re-hashed
   * so far, of those the pass will reach (what it did plus what lies after its cursor: a range
   * count on the id index, taken at most once a minute, as the total hardly moves within a pass).
   */
  verification(): VerificationProgress | null {
    const p = this.daemon.verifier?.status();
    if (!p) return null;
    const now = Date.now();
    if (!this.passTotal || now - this.passTotal.atMs > 60_000 || this.passTotal.pass !== p.pass_started_ms) {
      const row = this.catalog.db.prepare("SELECT count(*) AS n FROM segments WHERE id > ? AND state = 'ok'").get(p.cursor) as { n: number };
      this.passTotal = { atMs: now, pass: p.pass_started_ms, total: p.pass_segments + row.n };
    }
    return {
      checked_segments: p.pass_segments, total_segments: Math.max(p.pass_segments, this.passTotal.total),
      violations: p.violations, last_pass_end_ms: p.last_full_pass_ms,
    };
  }

  async snapshot(camera: string, requester: string, reason: string): Promise<SnapshotTaken> {
    // loaded when a snapshot is asked for, as the MQTT commands load it (egress-handlers.ts): the
    // gate brings ONNX Runtime (its native library and heaps) into a daemon that may never redact anything in its own process
    const { takeSnapshot } = await import('../redaction/egress.js');
    const r = await takeSnapshot({ catalog: this.catalog, dataDir: this.daemon.dataDir, config: this.daemon.config, log: this.log }, {
      camera, requester, reason, out: exportPath(this.daemon.dataDir, 'snapshot', `web-${requester}`, 'jpg'),
    });
    return { export_id: r.export_id, out: r.out, manifest: r.manifest, sha256: r.sha256, blanked_frames: r.blanked_frames };
  }

  audit(entry: AuditEntry): void {
    appendAudit(this.catalog, entry);
  }
}
