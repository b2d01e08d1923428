/**
 * bench/mqtt: what the MQTT reporter puts on the wire, and how fast the outbox drains.
 *
 * 1. Bytes per day: a catalog with a day of 60 s segments for 8 cameras, the real reporter
 *    (daemon/mqtt/reporter.ts) connected through a byte-counting TCP proxy to a real broker
 *    (Debian's mosquitto, through the tests' own helper, test/support/mosquitto.ts). It measures the wire bytes
 *    of one health report (PUBLISH + PUBACK, both directions) and of one event. Health is sent
 *    when something changed (health@2): for --observe-minutes the reporter runs at the default
 *    interval and refresh (60 s, 300 s) on this machine, nothing happening to the cameras, and
 *    the share of checks that sent a report gives the reports per day; keepalive pings (30 s)
 *    are added.
 * 2. Outbox drain: N events queued while the broker was away, then the time until the broker
 *    acknowledged them all (and a QoS 1 subscriber received them all).
 *
 *   npm run build && node dist/bench/mqtt.js [--events 10000] [--observe-minutes 10]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import type { Config } from '../config/schema.js';
import type { Daemon } from '../daemon/daemon.js';
import { createLogger } from '../daemon/log.js';
import { MqttReporter } from '../daemon/mqtt/reporter.js';
import { Catalog } from '../recorder/catalog/catalog.js';
import { Retention } from '../watchdog/retention.js';
import { diskSpace } from '../watchdog/system-health.js';
import { Outbox } from '../daemon/mqtt/outbox.js';
import { Mosquitto } from '../test/support/mosquitto.js';

const CAMERAS = 8;
const DAY_S = 86_400;
const HEALTH_INTERVAL_S = 60;
const HEALTH_REFRESH_S = 300;
const KEEPALIVE_S = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy that counts every byte both ways. */
async function countingProxy(target: URL): Promise<{ url: string; bytes: () => number; server: Server }> {
  let total = 0;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    client.on('data', (d) => { total += d.length; upstream.write(d); });
    upstream.on('data', (d) => { total += d.length; client.write(d); });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, bytes: () => total, server };
}

function fakeDaemon(dataDir: string, catalog: Catalog, config: Config): Daemon {
  const log = createLogger('warn');
  const recorders = new Map(Array.from({ length: CAMERAS }, (_, i) => [`cam${i + 1}`, { camera: `cam${i + 1}`, state: 'recording', lastSegmentEndMs: Date.now() - 5000, restarts: 0 }]));
  const retention = new Retention(dataDir, catalog, {
    floorBytes: 1024 ** 3, cameras: [...recorders.keys()].map((camera) => ({ camera, minDays: 30, maxDays: null })),
  }, diskSpace, log, () => undefined);
  return { dataDir, catalog, recorders, retention, config, raise: (type: string, camera: string | null, data: Record<string, unknown>) => catalog.addEvent(type, camera, data) } as unknown as Daemon;
}

function seedDay(catalog: Catalog): void {
  const now = Date.now();
  const ins = catalog.db.prepare(`INSERT INTO segments (id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, origin, indexed_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'recorded', ?)`);
  catalog.db.transaction(() => {
    let id = 0;
    for (let s = now - DAY_S * 1000; s < now - 60_000; s += 60_000) {
      for (let c = 1; c <= CAMERAS; c++) {
        id++;
        ins.run(id, `cam${c}`, s, s + 60_000, 30_000_000, `recordings/cam${c}/x/${s}.mp4`, 'a'.repeat(64), 'b'.repeat(64), id.toString(16).padStart(64, '0'), now);
      }
    }
    for (let c = 1; c <= CAMERAS; c += 3) catalog.addGap(`cam${c}`, now - 3_600_000, now - 3_500_000, 'camera_unreachable');
  })();
}

function config(url: string, healthIntervalS = 3600): Config {
  return {
    box: { id: 'bench-box', designated_site: false },
    mqtt: { url, health_interval_s: healthIntervalS, health_refresh_s: HEALTH_REFRESH_S, keepalive_s: KEEPALIVE_S },
    integrity: { checkpoint_interval_s: 300, verify_read_mb_s: 2, age_deletion_needs_clock_sync: true },
  } as unknown as Config;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '10000' }, 'observe-minutes': { type: 'string', default: '10' } } });
  const nEvents = Number(values.events);
  const observeMinutes = Number(values['observe-minutes']);
  const dir = mkdtempSync(join(tmpdir(), 'bench-mqtt-'));
  const log = createLogger('warn');
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  try {
    // 1. bytes per day
    const dataDir = join(dir, 'day');
    const catalog = Catalog.open(dataDir);
    seedDay(catalog);
    const proxy = await countingProxy(new URL(broker.url));
    const cfg = config(proxy.url);
    const daemon = fakeDaemon(dataDir, catalog, cfg);
    const reporter = new MqttReporter(daemon, cfg, log).start();
    while (!catalog.getMeta('mqtt.last_health')) await sleep(50);
    await sleep(500);
    const healthBytes = catalog.getMeta('mqtt.last_health')!.length;
    let before = proxy.bytes();
    const rounds = 20;
    for (let i = 0; i < rounds; i++) { await reporter.publishHealth(true); await sleep(30); }
    await sleep(300);
    const perHealth = (proxy.bytes() - before) / rounds;
    before = proxy.bytes();
    const perEventRounds = 200;
    for (let i = 0; i < perEventRounds; i++) catalog.addEvent('camera_offline', 'cam3', { cause: 'camera_unreachable', reason: 'ffmpeg exited 0', since_ms: Date.now() });
    await sleep(1500);
    const perEvent = (proxy.bytes() - before) / perEventRounds;
    await reporter.stop();

    // Reports per check, at the default interval on this machine: a reporter of its own
    let checks = 0;
    let reports = 0;
    if (observeMinutes > 0) {
      const watch = new MqttReporter(daemon, config(proxy.url, HEALTH_INTERVAL_S), log).start();
      const sent = () => catalog.getMeta('mqtt.last_health');
      let last = sent();
      const started = Date.now();
      while (Date.now() - started < observeMinutes * 60_000) {
        await sleep(1000);
        const now = sent();
        if (now !== last) { reports++; last = now; }
      }
      checks = Math.floor(observeMinutes * 60 / HEALTH_INTERVAL_S);
      reports = Math.max(0, reports - 1); // the report on connect
      await watch.stop();
    }
    catalog.close();
    proxy.server.close();
    const pingsPerDay = DAY_S / KEEPALIVE_S;
    const checksPerDay = DAY_S / HEALTH_INTERVAL_S;
    // at least one report per refresh interval; more when checks found changes
    const healthPerDay = Math.max(DAY_S / HEALTH_REFRESH_S, checks ? (reports / checks) * checksPerDay : 0);
    const perDay = healthPerDay * perHealth + pingsPerDay * 4;

    // 2. outbox drain
    const drainDir = join(dir, 'drain');
    const c2 = Catalog.open(drainDir);
    for (let i = 0; i < nEvents; i++) c2.addEvent('gap', `cam${(i % CAMERAS) + 1}`, { cause: 'camera_unreachable', start_ms: Date.now(), end_ms: Date.now(), duration_ms: 1234, n: i });
    const outbox = new Outbox(c2, 'edge-nvr/bench-box/events', 'bench-box');
    while (outbox.feed() > 0) { /* queued while the broker was away */ }
    const queued = outbox.size();
    let received = 0;
    const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    sub.on('message', () => { received++; });
    await sub.subscribeAsync('edge-nvr/bench-box/events', { qos: 1 });
    const cfg2 = config(broker.url);
    const t0 = performance.now();
    const r2 = new MqttReporter(fakeDaemon(drainDir, c2, cfg2), cfg2, log).start();
    while (outbox.size() > 0) await sleep(5);
    const acked = performance.now() - t0;
    while (received < queued && performance.now() - t0 < 120_000) await sleep(5);
    const delivered = performance.now() - t0;
    await r2.stop();
    await sub.endAsync();
    c2.close();

    const result = {
      date: new Date().toISOString(), broker: 'mosquitto', cpus: cpus().length, cpu: cpus()[0]?.model, cameras: CAMERAS,
      health_payload_bytes: healthBytes, health_wire_bytes: Math.round(perHealth), event_wire_bytes: Math.round(perEvent),
      health_observed: { minutes: observeMinutes, checks, reports }, health_reports_per_day: Math.round(healthPerDay),
      bytes_per_day_every_check_a_report: Math.round(checksPerDay * perHealth + pingsPerDay * 4),
      bytes_per_day: Math.round(perDay), mib_per_day: +(perDay / 1024 / 1024).toFixed(2),
      per_100_events_per_day_bytes: Math.round(perEvent * 100),
      drain: { events: queued, acked_ms: Math.round(acked), delivered_ms: Math.round(delivered), received, per_s: Math.round(queued / (acked / 1000)) },
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
