/**
 * docs/mqtt.md's Mosquitto ACL, run as the page gives it: the box alone writes its topics, and a
 * platform may send commands but not publish the box's status, events or command replies (an
 * outside probe answered a platform's request on `cmd/evidence/reply` with the ACL the page gave
 * before). The platform still reads everything, replies included.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Mosquitto } from '../support/mosquitto.js';

const page = readFileSync(join(import.meta.dirname, '../../docs/mqtt.md'), 'utf8');
const acl = /```\n(user edge-nvr-box1\n[\s\S]*?)```/.exec(page)?.[1];

t.test("the page's ACL keeps a platform to the command topics", async (t) => {
  t.ok(acl, 'docs/mqtt.md has the ACL block');
  const broker = await new Mosquitto(t.testdir(), { users: { 'edge-nvr-box1': 'box-pass', platform: 'platform-pass' }, acl: acl! }).start();
  t.teardown(() => broker.stop());
  const connect = (username: string, password: string) => mqtt.connectAsync(broker.url, { username, password, protocolVersion: 5, reconnectPeriod: 0 });
  const box = await connect('edge-nvr-box1', 'box-pass');
  const platform = await connect('platform', 'platform-pass');
  const watcher = await connect('platform', 'platform-pass');
  t.teardown(() => { box.end(true); platform.end(true); watcher.end(true); });
  const seen: string[] = [];
  watcher.on('message', (topic, payload) => seen.push(`${topic} ${String(payload)}`));
  await watcher.subscribeAsync('edge-nvr/#', { qos: 1 });
  const boxSeen: string[] = [];
  box.on('message', (topic) => boxSeen.push(topic));
  await box.subscribeAsync('edge-nvr/box1/cmd/#', { qos: 1 });

  // MQTT 5: a publish the ACL refuses is answered with reason code 135 (not authorised)
  const publish = async (client: mqtt.MqttClient, topic: string, text: string) => {
    try {
      await client.publishAsync(topic, text, { qos: 1 });
      return 'accepted';
    } catch (err) {
      return /135|[Nn]ot authori[sz]ed/.test(String((err as Error).message)) ? 'refused' : `error: ${(err as Error).message}`;
    }
  };
  t.equal(await publish(platform, 'edge-nvr/box1/cmd/hold', 'request'), 'accepted', 'the platform sends a command');
  for (const topic of ['edge-nvr/box1/cmd/hold/reply', 'edge-nvr/box1/status', 'edge-nvr/box1/events', 'edge-nvr/box1/checkpoint']) {
    t.equal(await publish(platform, topic, 'forged'), 'refused', `the platform cannot publish on ${topic}`);
  }
  t.equal(await publish(box, 'edge-nvr/box1/cmd/hold/reply', 'real'), 'accepted', 'the box replies');
  t.equal(await publish(box, 'edge-nvr/box1/status', 'online'), 'accepted', 'the box publishes its status');
  await new Promise((r) => setTimeout(r, 500));
  t.same(seen.sort(), ['edge-nvr/box1/cmd/hold request', 'edge-nvr/box1/cmd/hold/reply real', 'edge-nvr/box1/status online'],
    'the platform reads the command, the box\'s reply and status, and no forgery');
  t.ok(boxSeen.includes('edge-nvr/box1/cmd/hold'), 'the box receives the command');
});
