import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadConfig } from '../../config/load.js';
import { parseListen } from '../../config/listen.js';
import { EMBEDDED_BROKER_PORT } from '../../daemon/mqtt/embedded-broker.js';
import { CLI, runCli } from '../support/cli.js';
import { until } from '../support/daemon.js';
import { probe } from '../support/media.js';

/** Holds host:port until the test ends; taken already (another demo) does as well: either way the demo cannot have it. */
async function hold(t: Test, port: number): Promise<void> {
  const server = createServer();
  const held = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (held) t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

t.test('`edge-nvr demo` on a terminal: readable logs, what to try next, the page and metrics on; it records both cameras and verifies', async (t) => {
  // the demo's page and metrics ports (config/examples/demo.yaml) and its broker's held by another
  // process: each moves to a free port, and the guidance names those (two demos at once had sent
  // a user to the other demo's page: a port found free was taken before the demo bound it)
  const { http } = loadConfig('config/examples/demo.yaml');
  const ports = [...[http!.listen!, http!.metrics_listen!].map((at) => parseListen(at).port), EMBEDDED_BROKER_PORT];
  for (const port of ports) await hold(t, port);
  const dir = t.testdir();
  const data = join(dir, 'demo-data');
  // a real pseudo-terminal (util-linux script), as a person running npm run demo has
  const demo = spawn('script', ['-qefc', `${process.execPath} ${CLI} demo --data ${data} --duration 16`, '/dev/null'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGE_NVR_LOG_FORMAT: undefined } });
  let out = '';
  demo.stdout.on('data', (d) => { out += String(d); });
  demo.stderr.on('data', (d) => { out += String(d); });
  const exited = new Promise<number | null>((resolve) => demo.once('close', resolve));
  t.teardown(() => { demo.kill('SIGKILL'); });
  await until(() => /Ctrl-C stops the demo/.test(out), 60000, 'the demo\'s guidance');

  const text = out.replace(/\r/g, '');
  t.equal(statSync(data).mode & 0o777, 0o700, 'the data dir is the user\'s alone (an outside probe: 0755 from a shell with umask 022, every name in it listed by any user)');
  t.notMatch(text, /^\{"level"/m, 'no JSON log lines on a terminal');
  t.match(text, /^\d\d:\d\d:\d\d +INFO +edge-nvr running/m, 'readable log lines instead');
  t.match(text, /^ {2}node \S*cli\.js status --data demo-data$/m, 'it says what to try next, as commands that work from here');
  const commands = [...text.matchAll(/^ {2}([a-z_]+) .*$/gm)].map((m) => m[1]!);
  t.ok(commands.includes('mosquitto_sub') && commands.includes('curl'), `tools suggested: ${[...new Set(commands)].join(', ')}`);
  for (const tool of new Set(commands)) t.equal(spawnSync('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} is installed (scripts/setup)`);

  // the demo brings its own broker (README): what the suggested mosquitto_sub would show; the
  // subscriber stays connected to the end (one left open had kept the demo from exiting)
  const [, host, port] = /mosquitto_sub -h (\S+) -p (\d+) -t 'edge-nvr\/#'/.exec(text)!;
  const client = await mqtt.connectAsync(`mqtt://${host}:${port}`, { reconnectPeriod: 0 });
  t.teardown(() => client.end(true));
  const topics: string[] = [];
  client.on('message', (topic) => topics.push(topic));
  await client.subscribeAsync('edge-nvr/#');
  await until(() => topics.some((x) => x.endsWith('/health')), 15000, 'a health report on the demo\'s broker');
  t.ok(topics.some((x) => /^edge-nvr\/[^/]+\/health$/.test(x)), `the box publishes on the demo's own broker (${[...new Set(topics)].join(', ')})`);

  const metricsUrl = /curl -s (http:\/\/\S+\/metrics)/.exec(text)![1]!;
  const page = /The status page: (http:\/\/\S+) \(user demo, password in (\S+)\)/.exec(text)!;
  t.match(text, /http\.listen: \S+ is taken; a free port instead/, 'the log says the page moved');
  t.same([new URL(page[1]!).port, new URL(metricsUrl).port, port].map(Number).filter((p) => ports.includes(p)), [], `the page, metrics and broker on free ports, not the taken ${ports.join(', ')}`);
  const metrics = await (await fetch(metricsUrl)).text();
  t.match(metrics, /^edge_nvr_camera_up\{camera="demo-1"\} [01]$/m, 'the metrics the guidance names are served');
  const password = readFileSync(join(dir, page[2]!), 'utf8').trim();
  t.equal(statSync(join(dir, page[2]!)).mode & 0o777, 0o600, 'the demo password file is private');
  t.notMatch(text, new RegExp(password), 'the password itself is never printed');
  const form = await fetch(`${page[1]}/login`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const login = await fetch(`${page[1]}/login`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams({ csrf, user: 'demo', password }),
    headers: { Cookie: String(form.headers.get('set-cookie')).split(';')[0]!, Origin: page[1]!, 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  // (refused once on CI, not reproduced: what the page and the demo said are what tell why)
  const answered = (await login.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 400);
  t.equal(login.status, 303, 'the status page lets the demo user in', login.status === 303 ? {} : { answered, said: out.replace(/\r/g, '').split('\n').filter((l) => /WARN|ERROR|users|login/i.test(l)).slice(-12) });

  const code = await exited;
  t.equal(code, 0, 'demo exits 0 after --duration');
  if (code !== 0) t.comment(out.slice(-3000));
  for (const camera of ['demo-1', 'demo-2']) {
    const listed = await runCli(['recordings', '--data', data, '--camera', camera, '--json']);
    t.equal(listed.code, 0);
    const segments = JSON.parse(listed.stdout).segments as Array<{ path: string }>;
    t.ok(segments.length >= 1, `${camera}: ${segments.length} segment(s) recorded`);
    for (const s of segments) t.ok(probe(join(data, s.path)).frames > 0, `${s.path} plays`);
  }
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, verified.stdout);
});

t.test('read-only commands on an empty data dir explain themselves', async (t) => {
  const r = await runCli(['verify', '--data', t.testdir()]);
  t.equal(r.code, 2);
  t.match(r.stderr, /no edge-nvr data in .*\(no catalog.db\)/);
});

t.test('unknown commands and options are usage errors', async (t) => {
  t.equal((await runCli(['record'])).code, 2);
  const bad = await runCli(['recordings', '--camera']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /usage: edge-nvr recordings/);
  const version = await runCli(['--version']);
  t.equal(version.code, 0);
  t.equal(version.stdout, `edge-nvr ${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}\n`);
  const help = await runCli(['verify', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--camera/);
});
