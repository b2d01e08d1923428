import { join, resolve } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { parseCommand } from '../args.js';
import { createLogger } from '../log.js';
import { runDaemon } from '../lifecycle.js';
import { packageRoot } from '../package-root.js';
import { parseDuration } from './run.js';
import { startEmbeddedBroker } from '../mqtt/embedded-broker.js';

export const spec = {
  name: 'demo',
  summary: 'Run the daemon on the embedded demo config: two synthetic cameras (one per backend), data under ./demo-data.',
  usage: 'demo [--data DIR] [--duration SECONDS]',
  options: { data: { type: 'string' }, duration: { type: 'string' } },
  help: { data: 'data dir (default ./demo-data)', duration: 'stop by itself after this many seconds' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return 0;
  const config = loadConfig(join(packageRoot(), 'config/examples/demo.yaml'));
  config.storage.path = resolve(args.values.data ?? config.storage.path);
  const log = createLogger(config.log.level);
  log.info({ dataDir: config.storage.path }, 'demo: try `edge-nvr recordings --data <dir> --camera demo-1` and `edge-nvr verify --data <dir>` in another terminal');
  // no broker configured: an embedded one (aedes, MQTT 3.1.1) on 127.0.0.1:1883 or a free port
  const broker = config.mqtt ? undefined : await startEmbeddedBroker(log);
  if (broker) config.mqtt = { url: broker.url, health_interval_s: 60, health_refresh_s: 300, keepalive_s: 30 };
  try {
    return await runDaemon(config, log, { durationS: parseDuration(args.values.duration) });
  } finally {
    await broker?.close();
  }
}
