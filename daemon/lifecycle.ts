import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SdNotify } from '../watchdog/sd-notify.js';
import { startWatchdogPings } from '../watchdog/watchdog-pings.js';
import { CatalogUnreadable, catalogNotReadable, Daemon } from './daemon.js';
import { unreadableCatalog } from '../recorder/catalog/catalog.js';
import { egressHandlers } from './egress-handlers.js';
import type { MqttReporter, ReporterOptions } from './mqtt/reporter.js';
import { newCommandCounts } from './mqtt/refusals.js';
import type { WebServers } from '../web/server.js';
import { EXIT } from './args.js';
import { exitOnUnhandledErrors } from './fatal-errors.js';
import { ConfigError } from '../config/errors.js';
import { filesBeforeUse } from '../config/secret-files.js';

/** A supervisor that has not ticked for this long is wedged: let systemd restart the box. */
const SUPERVISOR_SILENT_MS = 10_000;

/**
 * Runs the daemon until SIGTERM/SIGINT (or `durationS`), then stops it cleanly: open segments
 * are finalised and indexed before the process exits 0. A second signal forces the exit.
 * Under systemd (Type=notify) it reports READY=1 once recording has started, and feeds the
 * watchdog only while the event loop and every camera's supervisor are alive. A promise
 * rejection nobody handles, or an uncaught exception, is logged as fatal and exits 1 for systemd
 * to restart the daemon.
 */
export interface RunOptions {
  /** stop by itself after this many seconds */
  durationS?: number;
  /** the file SIGHUP re-reads; without one (the demo) a reload is refused */
  configPath?: string;
  /** called once recording has started, with where the page and metrics are (the demo prints what to try next) */
  onReady?: (web: { pageUrl?: string; metricsUrl?: string }) => void;
  /** a configured http port another process holds is replaced by a free one (the demo) */
  anyHttpPortIfTaken?: boolean;
}

export async function runDaemon(config: Config, log: Logger, { durationS, configPath, onReady, anyHttpPortIfTaken }: RunOptions = {}): Promise<number> {
  exitOnUnhandledErrors(log);
  // The recordings, the catalog (with the audit log) and the box key are the service's alone, run
  // by hand as by the unit (UMask=0077): started from a shell with umask 022 they were 0644 (an
  // outside probe). The recorders inherit it.
  process.umask(0o077);
  const daemon = new Daemon(config, log, { configPath });
  // A secret other local users can read is a leak already, and a file that cannot be used would
  // fail what uses it after recording started: refuse either before anything runs.
  for (const { level, text } of filesBeforeUse(config, daemon.dataDir, configPath ?? 'config')) log[level]({ path: configPath }, text);
  const notify = new SdNotify({ log });
  let pings: { stop(): void } | undefined;
  let mqtt: MqttReporter | undefined;
  /** a reporter being replaced after a reload (stop() waits for it) */
  let mqttSwap: Promise<unknown> = Promise.resolve();
  let web: WebServers | undefined;
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const shutdown = (why: string) => {
    if (stopping) {
      log.warn({ why }, 'second stop request: exiting now');
      process.exit(EXIT.failure);
    }
    log.info({ why }, 'stopping');
    pings?.stop();
    void notify.stopping();
    // A stop during start-up waits for it (recovery, the first sweep): never a half-started daemon
    // stopped under its feet. The page first, then MQTT takes no more commands and cancels running
    // exports (their replies say so); then the recorders finalise their open segments and the
    // daemon signs its last checkpoint, which MQTT publishes before it says offline.
    stopping = (starting ?? Promise.resolve()).catch(() => undefined)
      .then(() => web?.close().catch((err) => log.error({ err }, 'http stop failed')))
      .then(() => mqttSwap).then(() => mqtt?.quiesce()).catch((err) => log.error({ err }, 'mqtt stop failed'))
      .then(() => daemon.stop(why, async () => mqtt?.stop()))
      .then(resolveDone, (err) => { log.error({ err }, 'error while stopping'); resolveDone(); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP (edge-nvr reload): apply the config file again; an invalid one is refused and the
  // running config stays.
  process.on('SIGHUP', () => {
    if (!stopping) daemon.reloadFile(configPath, 'signal:SIGHUP').catch((err) => log.error({ err }, 'config reload failed'));
  });
  const mqttOptions: ReporterOptions = {
    handlers: { ...egressHandlers(daemon, log), reload: (actor) => daemon.reloadFile(configPath, actor) },
    // one start time and one set of command counts for the daemon's life, whatever reloads swap
    startedMs: Date.now(), counts: newCommandCounts(),
  };
  // A changed mqtt section (or box id, or a file it names) reconnects with the new settings. The
  // swap waits a turn of the event loop: a reload asked for over MQTT is answered on the old
  // connection first. The outbox is in the catalog: nothing queued is lost, at most re-sent.
  daemon.reloadTargets.push({
    affects: (changed) => changed.some((c) => c === 'box.id' || c.startsWith('mqtt')),
    apply: (next) => {
      const old = mqtt;
      mqtt = undefined;
      mqttSwap = mqttSwap.then(() => new Promise((r) => setImmediate(r))).then(async () => {
        await old?.stop({ next });
        if (!stopping && next.mqtt) mqtt = (await import('./mqtt/reporter.js')).startMqtt(daemon, next, log, mqttOptions);
      }).catch((err) => log.error({ err }, 'cannot restart mqtt with the reloaded settings'));
      return Promise.resolve(next.mqtt ? (old ? 'mqtt reconnects with the new settings' : 'mqtt started') : 'mqtt stopped');
    },
  });
  try {
    void notify.status('recovering and starting recorders');
    starting = daemon.start();
    await starting;
    if (stopping) {
      await done;
      return EXIT.ok;
    }
    // MQTT.js costs the daemon about 15 MB: loaded only for a box that talks to a broker
    mqtt = config.mqtt ? (await import('./mqtt/reporter.js')).startMqtt(daemon, config, log, mqttOptions) : undefined;
    web = await startHttp(daemon, config, log, () => mqtt, anyHttpPortIfTaken);
  } catch (caught) {
    if (stopping) {
      await done;
      return EXIT.ok;
    }
    let err = caught;
    // a cause this code names with what to do: the message alone is logged, no stack (journald
    // got one in a JSON log line; an outside probe)
    let named = false;
    // a data disk full to the last byte with its reserve spent (disk-reserve.ts): the start's own
    // writes fail before retention could free anything; say what gives the box room again
    if ((err as { code?: string }).code === 'SQLITE_FULL') {
      named = true;
      err = new Error(`the data disk ${config.storage.path} is full and the catalog cannot record this start (its reserve is spent): free space on it by hand`
        + `${config.storage.free_space_floor_mb === 0 ? ', or give storage.free_space_floor_mb a value so that retention deletes the oldest recordings for room' : ''}`);
    }
    // damage deeper in the catalog than its opening reads, met by the start's first reads
    if (unreadableCatalog(err)) err = catalogNotReadable(daemon.dataDir, err as Error, 'the start had written its own entries before it met the damage');
    await notify.status(`cannot start: ${(err as Error).message}`);
    // a setting the box cannot use (storage.path a file) is a bad config: one line, exit 2, as
    // for the config's own errors, not a fatal log line with a stack trace
    if (err instanceof ConfigError) {
      await daemon.stop('start failed').catch(() => undefined);
      throw err;
    }
    // what to do is the message: no stack; and no restart by systemd (EXIT.catalog)
    if (err instanceof CatalogUnreadable) {
      log.fatal(`cannot start: ${err.message}`);
      daemon.leaveCatalogAlone();
      await daemon.stop('start failed').catch(() => undefined);
      return EXIT.catalog;
    }
    if (named) log.fatal(`cannot start: ${(err as Error).message}`);
    else log.fatal({ err }, 'cannot start');
    await daemon.stop('start failed').catch(() => undefined);
    return EXIT.failure;
  }
  void notify.ready(`recording ${daemon.recorders.size} cameras`);
  onReady?.({ pageUrl: web?.pageUrl, metricsUrl: web?.metricsUrl });
  pings = startWatchdogPings({
    notify,
    log,
    isHealthy: () => {
      for (const r of daemon.recorders.values()) {
        if (performance.now() - r.lastTickMono > SUPERVISOR_SILENT_MS) return { ok: false, why: `camera ${r.camera}: supervisor silent` };
      }
      return { ok: true };
    },
  });
  const timer = durationS ? setTimeout(() => shutdown(`ran for ${durationS} s`), durationS * 1000) : undefined;
  await done;
  clearTimeout(timer);
  return EXIT.ok;
}

/**
 * The status page and /metrics, when configured. Recording matters more than either: one that
 * cannot start (port taken, certificate unreadable) is logged and the daemon records on.
 */
async function startHttp(daemon: Daemon, config: Config, log: Logger, mqtt: () => MqttReporter | undefined, anyPortIfTaken?: boolean): Promise<WebServers | undefined> {
  const http = config.http;
  if (!http?.listen && !http?.metrics_listen) return undefined;
  try {
    // loaded only when configured: the page, its users and prom-client are a few MB the
    // daemon does not carry otherwise (bench/README.md, "Node RSS at 16 cameras: the floor")
    const [{ startWeb }, { DaemonBoxState }] = await Promise.all([import('../web/server.js'), import('./box-state.js')]);
    return await startWeb({ http, dataDir: daemon.dataDir, state: new DaemonBoxState(daemon, config, log, mqtt), log, anyPortIfTaken });
  } catch (err) {
    log.error({ err }, `status page and metrics not started: ${(err as Error).message}`);
    return undefined;
  }
}
