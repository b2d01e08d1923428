import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { Platform } from './platform.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const SECRET = randomBytes(32).toString('hex');

t.test('a reload that changes the mqtt section reconnects: answered first, and nothing queued is lost', async (t) => {
  const dir = t.testdir();
  const one = await new Mosquitto(join(dir, 'broker-1')).start();
  t.teardown(() => one.stop());
  const two = await new Mosquitto(join(dir, 'broker-2')).start();
  t.teardown(() => two.stop());
  const secretFile = join(dir, 'cmd.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const write = (url: string, interval: number, prefix?: string) => writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', enabled: false }], {
    extraYaml: ['mqtt:', `  url: ${url}`, `  health_interval_s: ${interval}`, ...(prefix ? [`  topic_prefix: ${prefix}`] : []), '  commands:', `    hmac_secret_file: ${secretFile}`].join('\n'),
  });
  const config = write(one.url, 60);
  const dataDir = join(dir, 'data');
  const subOne = await new Subscriber(one.url, PREFIX).connect();
  t.teardown(() => subOne.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const onlineOn = (sub: Subscriber, since: number) => sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online' && m.at >= since, 30000, 'online');
  await onlineOn(subOne, 0);

  // over MQTT: the reply comes on the connection the request came on, then the box reconnects
  write(one.url, 30);
  const platform = new Platform(subOne, PREFIX, 'test-box', SECRET);
  const asked = Date.now();
  const reply = await platform.one('reload', platform.request('reload', {}));
  t.equal(reply.ok, true, `the reload is answered: ${JSON.stringify(reply.error)}`);
  t.match(reply.result, { changed: ['mqtt.health_interval_s'], applied: ['mqtt reconnects with the new settings'], restart_required: [] });
  await onlineOn(subOne, asked);
  t.notOk(subOne.on(`${PREFIX}/status`).some((m) => m.at >= asked && (m.json as { state: string }).state === 'offline'), 'no offline status in between');
  // a reload is not a restart: the daemon's start time and its command counts carry over
  const statuses = subOne.on(`${PREFIX}/status`).map((m) => (m.json as { started_ms: number }).started_ms);
  t.equal(new Set(statuses).size, 1, `started_ms the same before and after the reload (${statuses.join(', ')})`);

  // broker 1 goes away; events queue in the outbox; a reload moves the box to broker 2
  await one.stop();
  for (const n of [1, 2, 3]) {
    const r = await runCli(['hold', 'add', '--data', dataDir, '--all-cameras', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', `case ${n}`]);
    t.equal(r.code, 0, r.stderr);
  }
  const queued = () => { const d = new Database(join(dataDir, 'catalog.db'), { readonly: true }); try { return (d.prepare('SELECT count(*) AS n FROM mqtt_outbox').get() as { n: number }).n; } finally { d.close(); } };
  await until(() => queued() >= 3, 20000, 'the three hold_added events in the outbox');
  const subTwo = await new Subscriber(two.url, PREFIX).connect();
  t.teardown(() => subTwo.close());
  write(two.url, 30);
  const moved = await runCli(['reload', '--config', config, '--json']);
  t.equal(moved.code, 0, moved.stderr);
  t.match(JSON.parse(moved.stdout), { changed: ['mqtt.url'], applied: ['mqtt reconnects with the new settings'] });
  await onlineOn(subTwo, 0);
  const health = await subTwo.waitFor((m) => m.topic === `${PREFIX}/health`, 30000, 'health on broker 2');
  t.equal((health.json as { commands: { accepted: number } }).commands.accepted, 1, 'the MQTT reload before is still counted by the reporter two reloads later');
  t.ok((health.json as { daemon_uptime_s: number }).daemon_uptime_s >= Math.floor((health.at - statuses[0]!) / 1000) - 1, 'uptime counts from the daemon\'s start, not the reload\'s');
  const events = await until(() => subTwo.on(`${PREFIX}/events`).filter((m) => (m.json as { type: string }).type === 'hold_added').length >= 3, 20000, 'the queued events on broker 2')
    .then(() => subTwo.on(`${PREFIX}/events`).filter((m) => (m.json as { type: string }).type === 'hold_added'));
  t.same(events.map((m) => (m.json as { data: { reason: string } }).data.reason), ['case 1', 'case 2', 'case 3'], 'every event queued while broker 1 was away arrives on broker 2, in order');
  // the subscriber can see a message before the box has the broker's PUBACK for it
  await until(() => queued() === 0, 10000, 'the outbox to empty once broker 2 acknowledges');
  t.equal(queued(), 0, 'and leaves the outbox once acknowledged');

  // a new prefix: the old status topic is left offline (it had said online for ever, a ghost box)
  const renamedAt = Date.now();
  write(two.url, 30, 'site/moved');
  const renamed = await runCli(['reload', '--config', config, '--json']);
  t.equal(renamed.code, 0, renamed.stderr);
  const subMoved = await new Subscriber(two.url, 'site/moved').connect();
  t.teardown(() => subMoved.close());
  await subMoved.waitFor((m) => m.topic === 'site/moved/status' && (m.json as { state: string }).state === 'online', 30000, 'online under the new prefix');
  const late = await new Subscriber(two.url, PREFIX).connect();
  t.teardown(() => late.close());
  const left = await late.waitFor((m) => m.topic === `${PREFIX}/status`, 10000, 'the old status topic');
  t.equal((left.json as { state: string }).state, 'offline', `the old prefix's retained status says offline (since ${renamedAt})`);
  t.equal((await daemon.stop()).code, 0);
  t.notOk(readFileSync(join(dir, 'config.yaml'), 'utf8').includes(SECRET), 'the secret is in its file only');
});
