/**
 * Prometheus metrics (docs/metrics.md lists each with its meaning): one prefix, base units
 * (seconds, bytes), `_total` for counters, an `_info` metric, and labels only from bounded sets
 * (camera ids from the config, event types, egress kinds and results). Every scrape reads the
 * box state once; a value the box does not know (no temperature sensor, no recording rate yet)
 * is left out rather than reported as 0.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { BoxState } from './box-state.js';

export const PREFIX = 'edge_nvr_';
const DAY_S = 86_400;
const REUSE_MS = 1000;

type Labels = Record<string, string>;

export class BoxMetrics {
  readonly registry = new Registry();
  /** the last reading, served again for REUSE_MS (see scrape) */
  private last?: { atMono: number; text: Promise<string> };

  private readonly info = this.gauge('build_info', 'always 1; the labels name the version, the box and Node.js', ['version', 'box', 'node_version']);
  private readonly start = this.gauge('start_time_seconds', 'when the daemon started, seconds since the Unix epoch');
  private readonly camUp = this.gauge('camera_up', '1 while the camera is recording, 0 while it is starting, down or stopped', ['camera']);
  private readonly camSegments = this.counter('camera_segments_recorded_total', 'segments catalogued (deleted ones included: they were recorded)', ['camera']);
  private readonly camBytes = this.counter('camera_recorded_bytes_total', 'bytes of the segments catalogued', ['camera']);
  private readonly camGaps = this.counter('camera_gaps_total', 'interruptions of recording (gap rows), open ones included', ['camera']);
  private readonly camGapSeconds = this.counter('camera_gap_seconds_total', 'length of the gaps that have closed (an open gap counts once it closes)', ['camera']);
  private readonly camGap24h = this.gauge('camera_gap_last_24h_seconds', 'seconds of the last 24 h inside gaps, an open gap up to now included', ['camera']);
  private readonly camContinuity = this.gauge('camera_continuity_last_24h_ratio', 'share of the last 24 h on record (of the time since the first recording or gap, when later), 0 to 1', ['camera']);
  private readonly camLast = this.gauge('camera_last_segment_end_timestamp_seconds', 'end of the newest segment, seconds since the Unix epoch', ['camera']);
  private readonly camRestarts = this.counter('camera_recorder_restarts_total', 'recorder restarts since the daemon started (resets with it)', ['camera']);
  private readonly camHeld = this.gauge('camera_retention_held_seconds', 'age of the oldest recording kept (divide by 86400 for days)', ['camera']);
  private readonly camRequired = this.gauge('camera_retention_required_seconds', 'how long recordings must be kept (min_days)', ['camera']);
  private readonly camTamper = this.counter('camera_tamper_events_total', 'tamper_suspected events raised', ['camera']);
  private readonly events = this.counter('events_total', 'events raised, by type (docs/mqtt.md lists them)', ['type']);
  private readonly size = this.gauge('storage_size_bytes', 'size of the data file system');
  private readonly used = this.gauge('storage_used_bytes', 'bytes used on the data file system, by anything');
  private readonly free = this.gauge('storage_free_bytes', 'bytes the daemon may still write on the data file system');
  private readonly floor = this.gauge('storage_floor_bytes', 'free space retention keeps (storage.free_space_floor_mb)');
  private readonly forecast = this.gauge('storage_forecast_seconds', 'how long the disk holds recordings at the last hour\'s rate; absent before there is a rate');
  private readonly required = this.gauge('retention_required_seconds', 'the largest min_days of any camera: what the box must hold');
  private readonly holds = this.gauge('holds_active', 'legal holds in force');
  private readonly mqttUp = this.gauge('mqtt_connected', '1 while the broker is connected; absent without an mqtt section');
  private readonly outbox = this.gauge('mqtt_outbox_messages', 'events waiting for the broker\'s acknowledgement');
  private readonly dropped = this.counter('mqtt_outbox_dropped_total', 'events dropped, oldest first, because the outbox was full');
  private readonly egress = this.counter('egress_total', 'exports, snapshots and redactions through the egress gate, by result (ok, failed, refused)', ['kind', 'result']);
  private readonly clock = this.gauge('clock_synchronized', '1 when the clock is synchronised, 0 when not; absent when unknown');
  private readonly temperature = this.gauge('temperature_celsius', 'SoC temperature; absent without a sensor');
  // prom-client's default process metrics are not used: some of its gauges end in _total
  private readonly rss = this.gauge('process_resident_memory_bytes', 'resident memory of the daemon process (recorder children not included)');
  private readonly heap = this.gauge('process_heap_used_bytes', 'V8 heap in use');
  private readonly cpu = this.counter('process_cpu_seconds_total', 'CPU time of the daemon process, user and system');
  private readonly verifyChecked = this.gauge('verify_checked_segments', 'segments re-hashed by the current background verification pass');
  private readonly verifyTotal = this.gauge('verify_total_segments', 'segments the current pass covers');
  private readonly verifyViolations = this.gauge('verify_violations', 'violations the background verification found (modified, missing, inserted)');
  private readonly verifyLastPass = this.gauge('verify_last_pass_end_timestamp_seconds', 'when the last full pass ended');

  constructor(private readonly state: BoxState) {
    this.info.set({ version: state.version, box: state.boxId, node_version: process.versions.node }, 1);
    this.start.set(state.startedMs / 1000);
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  /** A value that may be unknown: the metric is in the output only while it is known. */
  private maybe(metric: Gauge, value: number | null | undefined): void {
    const name = (metric as unknown as { name: string }).name;
    if (value === null || value === undefined || !Number.isFinite(value)) {
      if (this.registry.getSingleMetric(name)) this.registry.removeSingleMetric(name);
      return;
    }
    if (!this.registry.getSingleMetric(name)) this.registry.registerMetric(metric);
    metric.set(value);
  }

  /** Counters hold totals the catalog keeps: each scrape sets them from there. */
  private total(metric: Counter, labels: Labels, value: number): void {
    metric.inc(labels, Math.max(0, value));
  }

  /**
   * The text exposition of one consistent reading of the box. A reading less than a second old
   * is served again, and scrapes at once share one: the endpoint has no login, and 20 clients
   * scraping in a loop kept a core busy reading the catalog (an outside probe).
   */
  scrape(): Promise<string> {
    const now = performance.now();
    if (this.last && now - this.last.atMono < REUSE_MS) return this.last.text;
    const text = this.read();
    this.last = { atMono: now, text };
    text.catch(() => { if (this.last?.text === text) this.last = undefined; });
    return text;
  }

  private async read(): Promise<string> {
    const s = this.state;
    const [health, totals] = [await s.health(), s.totals()];
    for (const m of [this.camUp, this.camGap24h, this.camContinuity, this.camLast, this.camHeld, this.camRequired]) m.reset();
    for (const m of [this.camSegments, this.camBytes, this.camGaps, this.camGapSeconds, this.camRestarts, this.camTamper, this.events, this.egress]) m.reset();

    for (const c of health.cameras) {
      const camera = { camera: c.camera };
      this.camUp.set(camera, c.state === 'recording' ? 1 : 0);
      this.camGap24h.set(camera, c.gap_ms_24h / 1000);
      this.camContinuity.set(camera, c.continuity_24h);
      if (c.last_segment_end_ms !== null) this.camLast.set(camera, c.last_segment_end_ms / 1000);
      this.total(this.camRestarts, camera, c.restarts);
    }
    for (const r of health.retention.cameras) {
      this.camHeld.set({ camera: r.camera }, r.days_held * DAY_S);
      this.camRequired.set({ camera: r.camera }, r.min_days * DAY_S);
    }
    for (const c of totals.cameras) {
      const camera = { camera: c.camera };
      this.total(this.camSegments, camera, c.segments);
      this.total(this.camBytes, camera, c.bytes);
      this.total(this.camGaps, camera, c.gaps);
      this.total(this.camGapSeconds, camera, c.closed_gap_ms / 1000);
      this.total(this.camTamper, camera, 0);
    }
    const byType = new Map<string, number>();
    for (const e of totals.events) {
      byType.set(e.type, (byType.get(e.type) ?? 0) + e.count);
      if (e.type === 'tamper_suspected' && e.camera) this.total(this.camTamper, { camera: e.camera }, e.count);
    }
    for (const [type, count] of byType) this.total(this.events, { type }, count);
    for (const e of totals.egress) this.total(this.egress, { kind: e.kind, result: e.result }, e.count);

    const disk = health.disks[0];
    if (disk) {
      this.size.set(disk.total_bytes);
      this.used.set(Math.max(0, disk.total_bytes - disk.free_bytes));
      this.free.set(disk.available_bytes);
      this.floor.set(disk.floor_bytes);
    }
    this.maybe(this.forecast, health.retention.forecast_days === null ? null : health.retention.forecast_days * DAY_S);
    this.required.set(health.retention.min_required_days * DAY_S);
    this.holds.set(s.activeHolds());
    const mqtt = s.mqtt();
    this.maybe(this.mqttUp, mqtt === null ? null : mqtt.connected ? 1 : 0);
    this.outbox.set(health.outbox.queued);
    this.dropped.reset();
    this.total(this.dropped, {}, health.outbox.dropped);
    this.maybe(this.clock, health.clock.synchronized === null ? null : health.clock.synchronized ? 1 : 0);
    this.maybe(this.temperature, health.temperature_c);
    this.rss.set(process.memoryUsage.rss());
    this.heap.set(process.memoryUsage().heapUsed);
    const cpu = process.cpuUsage();
    this.cpu.reset();
    this.total(this.cpu, {}, (cpu.user + cpu.system) / 1e6);
    const v = s.verification();
    this.maybe(this.verifyChecked, v?.checked_segments);
    this.maybe(this.verifyTotal, v?.total_segments);
    this.maybe(this.verifyViolations, v?.violations);
    this.maybe(this.verifyLastPass, v?.last_pass_end_ms === null || v === null ? null : v.last_pass_end_ms / 1000);
    return this.registry.metrics();
  }
}
