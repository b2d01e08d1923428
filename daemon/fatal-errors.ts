import type { Logger } from 'pino';
import { EXIT } from './args.js';

/**
 * A rejection nobody handled or an exception nobody caught leaves the daemon in a state no code
 * reasoned about. Log it as fatal through the daemon's logger (scrubbed like every line: Node's
 * default would print a raw stack to stderr, credentials and all) and exit non-zero, so systemd
 * (`Restart=always`) starts a fresh daemon, whose start-up recovery indexes the open segments as
 * after any crash. Exiting at once, not stopping cleanly: a clean stop would run the same code
 * that just failed.
 */
export function exitOnUnhandledErrors(log: Logger): void {
  const die = (what: string) => (err: unknown) => {
    try {
      log.fatal({ err }, `${what}: exiting for systemd to restart the daemon`);
    } finally {
      process.exit(EXIT.failure);
    }
  };
  process.on('unhandledRejection', die('unhandled promise rejection'));
  process.on('uncaughtException', die('uncaught exception'));
}
