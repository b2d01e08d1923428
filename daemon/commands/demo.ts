import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { makeDirs } from '../../common/make-dirs.js';
import { loadConfig } from '../../config/load.js';
import { hashPassword, UsersFile, usersFilePath } from '../../web/users.js';
import { parseCommand, print } from '../args.js';
import { createLogger } from '../log.js';
import { runDaemon } from '../lifecycle.js';
import { packageRoot } from '../package-root.js';
import { parseDuration } from './run.js';
import { startEmbeddedBroker } from '../mqtt/embedded-broker.js';

export const spec = {
  name: 'demo',
  summary: 'Run the daemon on the embedded demo config: two synthetic cameras (one per backend), data under ./demo-data, the status page and metrics on loopback.',
  usage: 'demo [--data DIR] [--duration SECONDS]',
  options: { data: { type: 'string' }, duration: { type: 'string' } },
  help: { data: 'data dir (default ./demo-data)', duration: 'stop by itself after this many seconds (at most 2147483, about 24 days)' },
} as const;

/** The demo's page user; its password is generated once and kept in the data dir (mode 0600), never printed. */
const DEMO_USER = 'demo';
export const DEMO_PASSWORD_FILE = 'demo-password';

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return 0;
  const config = loadConfig(join(packageRoot(), 'config/examples/demo.yaml'));
  const dataDir = resolve(args.values.data ?? config.storage.path);
  config.storage.path = dataDir;
  const log = createLogger(config.log.level, process.stdout, config.log.format);
  // no broker configured: an embedded one (aedes, MQTT 3.1.1) on 127.0.0.1:1883 or a free port
  const broker = config.mqtt ? undefined : await startEmbeddedBroker(log);
  if (broker) config.mqtt = { url: broker.url, health_interval_s: 60, health_refresh_s: 300, keepalive_s: 30 };
  // the user's alone, whatever the shell's umask (the daemon sets 077 only later: it was 0755)
  makeDirs(dataDir, 0o700);
  const passwordFile = await demoUser(dataDir);
  try {
    return await runDaemon(config, log, {
      durationS: parseDuration(args.values.duration),
      // another demo (or anything) on 8080 or 9464: the page and metrics move to free ports
      anyHttpPortIfTaken: true,
      onReady: (web) => print(nextSteps(dataDir, broker?.url, web.pageUrl, web.metricsUrl, passwordFile)),
    });
  } finally {
    await broker?.close();
  }
}

/** The page's user `demo` (a manager, so snapshots can be tried), created once per data dir. */
async function demoUser(dataDir: string): Promise<string> {
  const passwordFile = join(dataDir, DEMO_PASSWORD_FILE);
  const users = new UsersFile(usersFilePath(undefined, dataDir));
  const known = users.read();
  if (known.some((u) => u.name === DEMO_USER) && existsSync(passwordFile)) return passwordFile;
  const password = randomBytes(12).toString('base64url');
  writeFileSync(passwordFile, password + '\n', { mode: 0o600 });
  const now = Date.now();
  users.write([...known.filter((u) => u.name !== DEMO_USER), { name: DEMO_USER, role: 'manager', hash: await hashPassword(password), created_ms: now, changed_ms: now }]);
  return passwordFile;
}

/** How this very CLI is run from here: `edge-nvr` when installed, else `node <path to cli.js>`. */
function cliName(): string {
  const script = process.argv[1] ?? 'dist/daemon/cli.js';
  if (script.startsWith('/usr/lib/edge-nvr/')) return 'edge-nvr';
  const rel = relative(process.cwd(), script);
  return `node ${rel.startsWith('..') ? script : rel}`;
}

/** What to try next, once the demo records: every tool named here is installed by scripts/setup. */
export function nextSteps(dataDir: string, brokerUrl: string | undefined, pageUrl: string | undefined, metricsUrl: string | undefined, passwordFile: string): string {
  const cli = cliName();
  const rel = relative(process.cwd(), dataDir);
  const data = rel && !rel.startsWith('..') ? rel : dataDir;
  const pw = relative(process.cwd(), passwordFile).startsWith('..') ? passwordFile : relative(process.cwd(), passwordFile);
  const mqtt = brokerUrl ? new URL(brokerUrl) : undefined;
  const rows: Array<[string, string]> = [
    [`${cli} status --data ${data}`, 'is every camera recording, how many days are held'],
    [`${cli} recordings --data ${data} --camera demo-1 --gaps`, 'gaps and continuity per day'],
    [`${cli} verify --data ${data}`, 're-hash every segment and walk the hash chain'],
    [`${cli} snapshot --data ${data} --camera demo-1 --out ${join(data, 'snapshot.jpg')}`, 'a redacted, watermarked, signed still'],
    ...(mqtt ? [[`mosquitto_sub -h ${mqtt.hostname} -p ${mqtt.port} -t 'edge-nvr/#' -v`, 'what the box publishes over MQTT'] as [string, string]] : []),
    ...(metricsUrl ? [[`curl -s ${metricsUrl}/metrics | grep '^edge_nvr_camera'`, 'the Prometheus metrics'] as [string, string]] : []),
  ];
  const passwordNote = existsSync(passwordFile) ? `user ${DEMO_USER}, password in ${pw}` : `user ${DEMO_USER}`;
  return [
    '',
    `The demo is recording demo-1 (ffmpeg) and demo-2 (GStreamer) into ${data}. Try, in another terminal:`,
    ...rows.flatMap(([c, why]) => [`  # ${why}`, `  ${c}`]),
    pageUrl ? `The status page: ${pageUrl} (${passwordNote}).` : 'The status page did not start: the log above says why.',
    'Ctrl-C stops the demo.',
    '',
    '',
  ].join('\n');
}
