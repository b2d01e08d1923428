import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Daemon } from './daemon.js';
import { EXIT } from './args.js';

/**
 * Runs the daemon until SIGTERM/SIGINT (or `durationS`), then stops it cleanly: open segments
 * are finalised and indexed before the process exits 0. A second signal forces the exit.
 */
export async function runDaemon(config: Config, log: Logger, durationS?: number): Promise<number> {
  const daemon = new Daemon(config, log);
  let stopping: Promise<void> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const shutdown = (why: string) => {
    if (stopping) {
      log.warn({ why }, 'second stop request: exiting now');
      process.exit(EXIT.failure);
    }
    log.info({ why }, 'stopping');
    stopping = daemon.stop().then(resolveDone, (err) => { log.error({ err }, 'error while stopping'); resolveDone(); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    await daemon.stop().catch(() => undefined);
    return EXIT.failure;
  }
  const timer = durationS ? setTimeout(() => shutdown(`ran for ${durationS} s`), durationS * 1000) : undefined;
  await done;
  clearTimeout(timer);
  return EXIT.ok;
}
