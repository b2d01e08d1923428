import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SdNotify } from '../watchdog/sd-notify.js';
import { startWatchdogPings } from '../watchdog/watchdog-pings.js';
import { Daemon } from './daemon.js';
import { egressHandlers } from './egress-handlers.js';
import type { MqttReporter } from './mqtt/reporter.js';
import { DaemonBoxState } from './box-state.js';
import { startWeb, type WebServers } from '../web/server.js';
import { EXIT } from './args.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { exitOnUnhandledErrors } from './fatal-errors.js';

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
  /** called once recording has started (the demo prints what to try next) */
  onReady?: () => void;
}

export async function runDaemon(config: Config, log: Logger, { durationS, configPath, onReady }: RunOptions = {}): Promise<number> {
  exitOnUnhandledErrors(log);
  const daemon = new Daemon(config, log, { configPath });
  const notify = new SdNotify({ log });
  let pings: { stop(): void } | undefined;
  let mqtt: MqttReporter | undefined;
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
    // a stop during start-up waits for it (recovery, the first sweep): never a half-started daemon stopped under its feet
    stopping = (starting ?? Promise.resolve()).catch(() => undefined)
      .then(() => web?.close().catch((err) => log.error({ err }, 'http stop failed')))
      .then(() => mqtt?.stop().catch((err) => log.error({ err }, 'mqtt stop failed')))
      .then(() => daemon.stop(why)).then(resolveDone, (err) => { log.error({ err }, 'error while stopping'); resolveDone(); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP (edge-nvr reload): apply the config file again; an invalid one is refused and the
  // running config stays. Reloads run one at a time.
  let reloading: Promise<unknown> = Promise.resolve();
  process.on('SIGHUP', () => {
    if (stopping) return;
    reloading = reloading.then(() => reloadFromFile(daemon, log, configPath));
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
    mqtt = config.mqtt ? (await import('./mqtt/reporter.js')).startMqtt(daemon, config, log, {
      handlers: { ...egressHandlers(daemon, config, log), reload: (actor) => (reloading = reloading.then(() => reloadFromFile(daemon, log, configPath, actor))) },
    }) : undefined;
    web = await startHttp(daemon, config, log, () => mqtt);
  } catch (err) {
    if (stopping) {
      await done;
      return EXIT.ok;
    }
    log.fatal({ err }, 'cannot start');
    await notify.status(`cannot start: ${(err as Error).message}`);
    await daemon.stop('start failed').catch(() => undefined);
    return EXIT.failure;
  }
  void notify.ready(`recording ${daemon.recorders.size} cameras`);
  onReady?.();
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
async function startHttp(daemon: Daemon, config: Config, log: Logger, mqtt: () => MqttReporter | undefined): Promise<WebServers | undefined> {
  const http = config.http;
  if (!http?.listen && !http?.metrics_listen) return undefined;
  try {
    return await startWeb({ http, dataDir: daemon.dataDir, state: new DaemonBoxState(daemon, config, log, mqtt), log });
  } catch (err) {
    log.error({ err }, `status page and metrics not started: ${(err as Error).message}`);
    return undefined;
  }
}

async function reloadFromFile(daemon: Daemon, log: Logger, path: string | undefined, actor = 'signal:SIGHUP'): Promise<void> {
  log.info({ path }, 'SIGHUP: reloading the config');
  let next: Config;
  try {
    if (!path) throw new Error('this daemon was started without a config file (the demo): nothing to reload');
    next = loadConfig(path);
  } catch (err) {
    const lines = err instanceof ConfigError ? err.issues.map((i) => `${err.source}: ${i}`) : [(err as Error).message];
    // one log line per issue; an issue itself may hold "; " (what is wrong; what to do)
    for (const line of lines) log.error({ path }, `config reload refused: ${line}`);
    daemon.refuseReload(lines.join('; '), actor);
    return;
  }
  await daemon.reload(next, actor).catch((err) => log.error({ err }, 'config reload failed'));
}
