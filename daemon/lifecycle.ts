import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SdNotify } from '../watchdog/sd-notify.js';
import { startWatchdogPings } from '../watchdog/watchdog-pings.js';
import { Daemon } from './daemon.js';
import { EXIT } from './args.js';

/** A supervisor that has not ticked for this long is wedged: let systemd restart the box. */
const SUPERVISOR_SILENT_MS = 10_000;

/**
 * Runs the daemon until SIGTERM/SIGINT (or `durationS`), then stops it cleanly: open segments
 * are finalised and indexed before the process exits 0. A second signal forces the exit.
 * Under systemd (Type=notify) it reports READY=1 once recording has started, and feeds the
 * watchdog only while the event loop and every camera's supervisor are alive.
 */
export async function runDaemon(config: Config, log: Logger, durationS?: number): Promise<number> {
  const daemon = new Daemon(config, log);
  const notify = new SdNotify({ log });
  let pings: { stop(): void } | undefined;
  let stopping: Promise<void> | undefined;
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
    stopping = daemon.stop().then(resolveDone, (err) => { log.error({ err }, 'error while stopping'); resolveDone(); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    void notify.status('recovering and starting recorders');
    await daemon.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    await notify.status(`cannot start: ${(err as Error).message}`);
    await daemon.stop().catch(() => undefined);
    return EXIT.failure;
  }
  void notify.ready(`recording ${daemon.recorders.size} cameras`);
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
