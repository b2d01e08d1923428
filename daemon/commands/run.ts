import { loadConfig } from '../../config/load.js';
import { DEFAULT_CONFIG, MAX_TIMER_S, parseCommand, parseNumber } from '../args.js';
import { createLogger } from '../log.js';
import { runDaemon } from '../lifecycle.js';

export const spec = {
  name: 'run',
  summary: 'Record every configured camera until stopped (SIGTERM finalises open segments).',
  usage: 'run [--config FILE]',
  options: { config: { type: 'string' }, duration: { type: 'string' } },
  help: { config: `config file (default ${DEFAULT_CONFIG})`, duration: 'stop by itself after this many seconds (at most 2147483, about 24 days)' },
} as const;

export function parseDuration(value: string | undefined): number | undefined {
  // the longest a Node timer holds (2^31 - 1 ms, about 24.8 days): past it the timer fired at
  // once and the daemon stopped as it started
  return parseNumber('duration', value, { above: 0, max: MAX_TIMER_S, what: 'a number of seconds' });
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return 0;
  const configPath = args.values.config ?? DEFAULT_CONFIG;
  const durationS = parseDuration(args.values.duration);
  const config = loadConfig(configPath);
  return runDaemon(config, createLogger(config.log.level, process.stdout, config.log.format), { durationS, configPath });
}
