/**
 * A platform's side: signed checkpoints arrive retained on `<prefix>/checkpoint`, byte for byte
 * what `edge-nvr checkpoint` prints, valid against the published schema; kept as anchors, they
 * verify the box's catalog. Holds placed over MQTT and from the CLI raise one event shape.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandHmac } from '../../daemon/mqtt/commands.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { Subscriber } from '../mqtt/subscriber.js';

const PREFIX = 'edge-nvr/test-box';

t.test('checkpoints on MQTT are the CLI\'s bytes and anchor verify; hold events have one shape', async (t) => {
  const { dir, data, broker, secret, config } = await mqttBox(t, {
    commands: ['allowed_clients: [platform]'], yaml: ['integrity:', '  checkpoint_interval_s: 10', '  verify_read_mb_s: 0'],
  });
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('cam1'), 40000);
  const first = await sub.waitFor((m) => m.topic === `${PREFIX}/checkpoint`, 20000, 'a checkpoint');
  t.equal((first.json as { schema: string }).schema, 'edge-nvr/checkpoint@1');

  const cli = await runCli(['checkpoint', '--data', data]);
  t.equal(cli.code, 0, cli.stderr);
  const line = cli.stdout.trim();
  await sub.waitFor((m) => m.topic === `${PREFIX}/checkpoint` && m.text === line, 10000, 'the CLI\'s checkpoint on MQTT');
  t.pass('the checkpoint the CLI signed is published byte for byte');
  const late = await new Subscriber(broker.url, PREFIX).connect();
  const retained = await late.waitFor((m) => m.topic === `${PREFIX}/checkpoint` && m.retain, 5000, 'the retained checkpoint');
  await late.close();
  t.ok(retained.text.length > 0, 'a platform connecting later gets the newest one, retained');

  const now = Date.now();
  const req: Record<string, unknown> = { id: 'req-1', client: 'platform', nonce: randomBytes(12).toString('hex'), ts: now,
    args: { camera: 'cam1', from_ms: now - 60_000, to_ms: now, reason: 'incident 7' } };
  req.hmac = commandHmac(secret, 'test-box', `${PREFIX}/cmd/hold`, req);
  await sub.client.publishAsync(`${PREFIX}/cmd/hold`, JSON.stringify(req), { qos: 1 });
  const viaMqtt = await sub.waitFor((m) => m.topic === `${PREFIX}/events` && (m.json as { type: string }).type === 'hold_added', 10000, 'hold_added from MQTT');
  const added = await runCli(['hold', 'add', '--data', data, '--camera', 'cam1', '--from', String(now - 60_000), '--to', String(now), '--reason', 'incident 8']);
  t.equal(added.code, 0, added.stderr);
  const viaCli = await sub.waitFor((m) => m.topic === `${PREFIX}/events` && (m.json as { type: string; data: { reason: string } }).type === 'hold_added'
    && (m.json as { data: { reason: string } }).data.reason === 'incident 8', 10000, 'hold_added from the CLI');
  const keys = (m: typeof viaMqtt) => Object.keys((m.json as { data: object }).data).sort();
  t.same(keys(viaCli), keys(viaMqtt), `one shape for hold_added, whoever placed it: ${keys(viaMqtt).join(', ')}`);
  t.equal((viaMqtt.json as { data: { by: string } }).data.by, 'mqtt:platform');
  t.match((viaCli.json as { data: { by: string } }).data.by, /^unix:/);

  const reload: Record<string, unknown> = { id: 'req-2', client: 'platform', nonce: randomBytes(12).toString('hex'), ts: Date.now(), args: {} };
  reload.hmac = commandHmac(secret, 'test-box', `${PREFIX}/cmd/reload`, reload);
  await sub.client.publishAsync(`${PREFIX}/cmd/reload`, JSON.stringify(reload), { qos: 1 });
  const answer = await sub.waitFor((m) => m.topic === `${PREFIX}/cmd/reload/reply`, 15000, 'the reload reply');
  t.equal((answer.json as { ok: boolean }).ok, true, 'a reload over MQTT is accepted');

  // one interval checkpoint more (every 10 s here), received after the reload
  await sub.waitFor((m) => m.topic === `${PREFIX}/checkpoint` && m.at > answer.at, 30000, 'an interval checkpoint after the reload');
  t.equal((await daemon.stop()).code, 0);
  await sleep(1000);
  const invalid = sub.messages.filter((m) => m.errors);
  t.same(invalid.map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates against its published schema (checkpoints and hold events included)');
  const anchors = sub.on(`${PREFIX}/checkpoint`).map((m) => m.text);
  t.ok(anchors.length >= 3, `${anchors.length} checkpoints received`);
  // the one signed on the clean stop, over the last segments, reaches the platform (it never did:
  // the reporter had stopped before it was signed)
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  const last = db.prepare('SELECT reason, payload FROM checkpoints ORDER BY id DESC LIMIT 1').get() as { reason: string; payload: string };
  db.close();
  t.equal(last.reason, 'stop', 'the box\'s last checkpoint is the stop\'s');
  t.equal(anchors.at(-1), last.payload, 'and it is the last one published');
  writeFileSync(join(dir, 'anchors.jsonl'), anchors.join('\n') + '\n');
  const audit = await runCli(['audit', '--data', data, '--json']);
  const entries = (JSON.parse(audit.stdout) as { entries: Array<{ action: string; actor: string }> }).entries;
  t.ok(entries.some((e) => e.action === 'hold.add' && e.actor === 'mqtt:platform'), 'the MQTT hold is audited with the client as actor');
  t.ok(entries.some((e) => e.action === 'config.reload' && e.actor === 'mqtt:platform'), 'so is the MQTT reload');
  const verified = await runCli(['verify', '--data', data, '--anchors', join(dir, 'anchors.jsonl')]);
  t.equal(verified.code, 0, `the catalog extends every checkpoint the platform received:\n${verified.stdout.slice(-1200)}`);
});
