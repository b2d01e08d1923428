/**
 * A broker client attacking the command topics, with and without the signing secret, while a
 * camera records: text the catalog cannot store as signed (a lone UTF-16 surrogate escape, bytes
 * that are not UTF-8), MQTT 5 response topics that point at the box's own topics, a huge payload
 * and a flood. Each is answered (or dropped past the rate limit) with a clear reason; nothing is
 * acted on without a valid signature; the audit chain still verifies; recording goes on.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProcess, sleep, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { runCli } from '../support/cli.js';
import { Platform } from './platform.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';

t.test('hostile commands: refused with a reason, never acted on unsigned, the chains intact, recording on', async (t) => {
  const { data, broker, secret, config } = await mqttBox(t, { mqtt: ['health_interval_s: 5'], commands: ['allowed_clients: [platform]'] });
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 30000, 'online');
  await daemon.waitForLog(/segment indexed/, 30000);
  await sub.waitFor((m) => m.topic === `${PREFIX}/checkpoint`, 20000, 'the retained checkpoint');
  const platform = new Platform(sub, PREFIX, 'test-box', secret);
  const segments = () => {
    const db = new Database(join(data, 'catalog.db'), { readonly: true });
    try { return (db.prepare('SELECT count(*) AS n FROM segments').get() as { n: number }).n; } finally { db.close(); }
  };
  const segsBefore = segments();
  const now = Date.now();
  const hold = { camera: 'cam1', from_ms: now - 60_000, to_ms: now, reason: 'incident 9' };

  // 1. a signed hold whose reason is a lone surrogate escape ("\ud800": valid JSON, not text
  // SQLite stores as it was signed): the audit entry would be stored other than hashed, and the
  // audit chain would read as altered from then on
  const lone = platform.request('hold', { ...hold, reason: 'incident \ud800 9' });
  const loneReply = await platform.one('hold', lone);
  t.equal(loneReply.ok, false, `a lone surrogate is refused: ${JSON.stringify(loneReply)}`);
  t.equal(loneReply.error?.code, 'bad_json', String(loneReply.error?.message));
  t.match(loneReply.error?.message, /UTF-8|surrogate/, 'saying why');

  // 2. bytes that are not UTF-8 inside a string: bad_json, not a request the box read with guessed characters
  const latin1 = Buffer.concat([Buffer.from('{"id":"req-latin1","client":"platform","nonce":"0123456789abcdef0123","ts":1,"args":{"reason":"caf'), Buffer.from([0xe9]), Buffer.from('"}}')]);
  const repliesBefore = platform.replies('hold').length;
  await sub.client.publishAsync(`${PREFIX}/cmd/hold`, latin1, { qos: 1 });
  await until(() => platform.replies('hold').length > repliesBefore, 10000, 'the reply to non-UTF-8 bytes');
  const latin1Reply = platform.replies('hold')[repliesBefore]!;
  t.equal(latin1Reply.error?.code, 'bad_json', `non-UTF-8 bytes: ${JSON.stringify(latin1Reply.error)}`);
  t.match(latin1Reply.error?.message, /UTF-8/, `non-UTF-8 bytes: ${latin1Reply.error?.message}`);

  // 3. a response topic naming the box's own topics: the box publishes only its own payloads there
  const before = sub.messages.length;
  for (const own of ['checkpoint', 'status', 'health', 'events', 'cmd/hold', 'cmd/snapshot/reply']) {
    await sub.client.publishAsync(`${PREFIX}/cmd/hold`, '{"id":"reflect", not json', { qos: 1, properties: { responseTopic: `${PREFIX}/${own}`, correlationData: Buffer.from('x') } });
  }
  // unsigned junk naming another box's topic: the box would publish there with its own broker
  // credentials, where the sender itself may not write; only a signed request picks a response topic
  await sub.client.subscribeAsync('edge-nvr/other-box/#', { qos: 1 });
  await sub.client.publishAsync(`${PREFIX}/cmd/hold`, '{"id":"elsewhere", not json', { qos: 1, properties: { responseTopic: 'edge-nvr/other-box/status' } });
  const signedReflect = platform.request('hold', hold);
  await sub.client.publishAsync(`${PREFIX}/cmd/hold`, JSON.stringify(signedReflect), { qos: 1, properties: { responseTopic: `${PREFIX}/checkpoint` } });
  await until(() => platform.replies('hold').some((r) => r.id === signedReflect.id), 10000, 'the signed hold answered');
  await sleep(1500);
  const misplaced = sub.messages.slice(before).filter((m) => m.topic !== `${PREFIX}/cmd/hold/reply` && (m.json as { schema?: string } | undefined)?.schema === 'edge-nvr/cmd-reply@2');
  t.same(misplaced.map((m) => m.topic), [], 'no reply lands on the box\'s own status, health, events, checkpoint or command topics, nor on another box\'s');
  t.equal(platform.replies('hold').find((r) => r.id === signedReflect.id)?.ok, true, 'the signed hold is still answered on its reply topic');

  // 4. a large payload is answered too_large; a huge one (mosquitto takes up to 256 MB) never
  // reaches the box whole: the broker drops what is past the box's maximum packet size
  await sub.client.publishAsync(`${PREFIX}/cmd/hold`, Buffer.alloc(1536 * 1024, 0x20), { qos: 1 });
  await until(() => platform.replies('hold').some((r) => r.error?.code === 'too_large'), 20000, 'too_large');
  const peakKb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.proc!.pid}/status`, 'utf8'))![1]);
  const peakBefore = peakKb();
  const huge = Buffer.alloc(96 * 1024 * 1024, 0x20);
  for (let i = 0; i < 3; i++) await sub.client.publishAsync(`${PREFIX}/cmd/hold`, huge, { qos: 1 });
  await sleep(3000);
  const grown = Math.round((peakKb() - peakBefore) / 1024);
  t.ok(grown < 48, `three 96 MB payloads grew the daemon's peak memory by ${grown} MB`);

  // 5. a flood of junk, with a signed hold in the middle of it: the hold is answered and placed
  const flood = [];
  for (let i = 0; i < 300; i++) flood.push(platform.publish('hold', `{"id":"junk-${i}","__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}`));
  const mid = platform.request('hold', { ...hold, reason: 'incident 10' });
  flood.push(platform.publish('hold', mid));
  for (let i = 300; i < 600; i++) flood.push(platform.publish('export', `[${'['.repeat(5000)}${']'.repeat(5000)}]`));
  await Promise.all(flood);
  await until(() => platform.replies('hold').some((r) => r.id === mid.id), 20000, 'the signed hold in the flood answered');
  t.equal(platform.replies('hold').find((r) => r.id === mid.id)?.ok, true, 'a signed hold in a flood of junk is placed');

  // the daemon lived through it, kept recording, and its audit chain verifies
  await until(() => segments() > segsBefore + 2, 30000, 'recording goes on');
  t.equal(daemon.proc!.exitCode, null, 'the daemon is still running');
  const audit = await runCli(['audit', '--verify', '--data', data]);
  t.equal(audit.code, 0, `the audit chain verifies: ${audit.stdout.slice(-400)}${audit.stderr}`);
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const reasons = (db.prepare('SELECT reason FROM holds ORDER BY id').all() as Array<{ reason: string }>).map((r) => r.reason);
  t.same(reasons, ['incident 9', 'incident 10'], 'only the two well-formed signed holds were placed');
  t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message on the box\'s topics fits its schema');
  t.notOk(daemon.output.includes(secret), 'the secret never reaches the log');
  t.notOk(sub.messages.some((m) => m.text.includes(secret)), 'nor a payload');
});
