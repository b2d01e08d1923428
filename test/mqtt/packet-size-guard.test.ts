/**
 * MQTT 3.1.1 has no maximum packet size the box could announce, and MQTT.js gathers a packet
 * whole before the daemon sees it: a 200 MB command took a daemon on aedes from 159 to 537 MB
 * before it was refused (an outside probe). The client now closes the connection as soon as a
 * packet's header announces more than 2 MiB, and reconnects; smaller messages pass, before and after.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import pino from 'pino';
import { connectBroker, MAX_INCOMING_PACKET_BYTES } from '../../daemon/mqtt/client.js';
import { startEmbeddedBroker } from '../../daemon/mqtt/embedded-broker.js';
import type { Config } from '../../config/schema.js';

const until = async (ok: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

t.test('on MQTT 3.1.1 a packet past 2 MiB closes the connection before its body is read; the box reconnects and takes the next message', async (t) => {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
  const broker = await startEmbeddedBroker(pino({ level: 'silent' }), 0);
  t.teardown(() => broker.close());
  const cfg = { url: broker.url, keepalive_s: 30 } as NonNullable<Config['mqtt']>;
  const box = connectBroker(cfg, 'edge-nvr-guard-test', { topic: 'edge-nvr/box/status', payload: () => '{}' }, log);
  t.teardown(() => box.end(true));
  const received: number[] = [];
  box.on('message', (_topic, payload) => received.push(payload.length));
  let connects = 0;
  box.on('connect', () => { connects++; void box.subscribeAsync('edge-nvr/box/cmd/#', { qos: 1 }); });
  await until(() => connects === 1, 15_000, 'the box connects (MQTT 3.1.1 after aedes refuses 5)');
  await new Promise((r) => setTimeout(r, 300)); // the subscription in place

  const sender = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => sender.end(true));
  await sender.publishAsync('edge-nvr/box/cmd/hold', Buffer.alloc(1024 * 1024, 'a'), { qos: 1 });
  await until(() => received.length === 1, 10_000, 'a 1 MiB message arrives');
  t.equal(received[0], 1024 * 1024, 'a message under the limit passes whole');

  let read = 0; // what the box's connection read of it
  box.stream.on('data', (chunk: Buffer) => { read += chunk.length; });
  await sender.publishAsync('edge-nvr/box/cmd/hold', Buffer.alloc(MAX_INCOMING_PACKET_BYTES * 16, 'b'), { qos: 0 });
  await until(() => lines.some((l) => l.includes('more than the 2097152 the box takes')), 10_000, 'the oversized packet is refused');
  t.equal(received.length, 1, 'the 32 MiB message never reached the box');
  const line = JSON.parse(lines.find((l) => l.includes('more than the 2097152'))!) as { bytes: number; msg: string };
  t.ok(line.bytes > MAX_INCOMING_PACKET_BYTES * 16, `the log names its size (${line.bytes} bytes) and the limit`);
  t.match(line.msg, /MQTT 3\.1\.1\); reconnecting$/);
  t.ok(read < 1024 * 1024, `the box's connection read ${read} bytes of the 32 MiB before it closed`);

  await until(() => connects === 2, 15_000, 'the box reconnects');
  await new Promise((r) => setTimeout(r, 300));
  await sender.publishAsync('edge-nvr/box/cmd/hold', Buffer.from('{"small":true}'), { qos: 1 });
  await until(() => received.length === 2, 10_000, 'a small message after the reconnect arrives');
  t.equal(received[1], 14, 'the reconnected stream is read as before');
  await sender.publishAsync('edge-nvr/box/cmd/hold', Buffer.alloc(MAX_INCOMING_PACKET_BYTES + 1000, 'c'), { qos: 0 });
  await until(() => lines.filter((l) => l.includes('more than the 2097152')).length === 2, 10_000, 'the reconnected stream is guarded too');
  t.equal(received.length, 2, 'and the second oversized message never reached the box');
});

t.test('a retained packet past 2 MiB on a command topic, sent again at every subscribe: the box backs off instead of reconnecting every second', async (t) => {
  const broker = await startEmbeddedBroker(pino({ level: 'silent' }), 0);
  t.teardown(() => broker.close());
  const sender = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => sender.end(true));
  await sender.publishAsync('edge-nvr/box/cmd/export', Buffer.alloc(MAX_INCOMING_PACKET_BYTES + 4096, 'r'), { qos: 0, retain: true });
  const cfg = { url: broker.url, keepalive_s: 30 } as NonNullable<Config['mqtt']>;
  const box = connectBroker(cfg, 'edge-nvr-retained-test', { topic: 'edge-nvr/box/status', payload: () => '{}' }, pino({ level: 'silent' }));
  t.teardown(() => box.end(true));
  const connects: number[] = [];
  box.on('connect', () => { connects.push(Date.now()); void box.subscribeAsync('edge-nvr/box/cmd/#', { qos: 1 }).catch(() => undefined); });
  await new Promise((r) => setTimeout(r, 12_000));
  const waits = connects.slice(1).map((at, i) => at - connects[i]!);
  t.ok(connects.length >= 3 && connects.length <= 5, `${connects.length} connections in 12 s (every second before: 12); waits ${waits.join(', ')} ms`);
  t.ok(waits.every((w, i) => i === 0 || w > waits[i - 1]!), 'each wait longer than the one before');
});
