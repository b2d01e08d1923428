/**
 * A broker whose queue for the box is full drops everything it would send the box, PUBACKs
 * included (mosquitto issues 2887, 3542); an outside probe filled it with retained junk on the
 * command topics. 64 lost PUBACKs had stopped the box's events until the next reconnect, and
 * SIGTERM then left the daemon running for minutes (MQTT.js waited for the acknowledgements).
 * Here a proxy in front of a real Mosquitto drops the PUBACKs on their way to the box: the box
 * reconnects after 30 s and sends its events again, and stops on SIGTERM at once. Retained
 * messages on the command topics are not sent to the box at all (MQTT 5 retain handling).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { runCli } from '../support/cli.js';
import { DaemonProcess, sleep, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { freePort } from '../support/mosquitto.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';

/** Forwards to the broker; while `dropping`, the broker's PUBACKs (packet type 4) never reach the client. */
class AckDropper {
  dropping = false;
  dropped = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(brokerPort: number): Promise<this> {
    this.port = await freePort();
    this.server = createServer((client) => {
      const broker = connect(brokerPort, '127.0.0.1');
      for (const s of [client, broker]) { this.sockets.add(s); s.on('error', () => undefined); s.on('close', () => { client.destroy(); broker.destroy(); }); }
      client.pipe(broker);
      let pending = Buffer.alloc(0);
      broker.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          // fixed header: type byte, remaining length in 1-4 bytes
          let length = 0, multiplier = 1, i = 1;
          for (; i < pending.length && i <= 4; i++) {
            length += (pending[i]! & 0x7f) * multiplier;
            multiplier *= 128;
            if (!(pending[i]! & 0x80)) break;
          }
          if (i >= pending.length || pending.length < i + 1 + length) return;
          const packet = pending.subarray(0, i + 1 + length);
          pending = pending.subarray(i + 1 + length);
          if (this.dropping && packet[0]! >> 4 === 4) this.dropped++;
          else client.write(packet);
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    return this;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }
}

t.test('lost PUBACKs: the box reconnects and sends its events again; SIGTERM still stops it; retained commands are not sent to it', async (t) => {
  const box = await mqttBox(t, { mqtt: ['keepalive_s: 30', 'health_interval_s: 60'] });
  const proxy = await new AckDropper().start(box.broker.port);
  t.teardown(() => proxy.close());
  writeFileSync(box.config, readFileSync(box.config, 'utf8').replace(box.broker.url, `mqtt://127.0.0.1:${proxy.port}`));

  // junk retained on a command topic before the box connects
  const junk = await mqtt.connectAsync(box.broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
  await junk.publishAsync(`${PREFIX}/cmd/hold`, '{"junk":true}', { qos: 1, retain: true });
  await junk.endAsync();

  const sub = await new Subscriber(box.broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(box.config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/mqtt connected/, 30_000);
  const health = await sub.waitFor((m) => m.topic === `${PREFIX}/health`, 20_000, 'health after connect');
  await sleep(1000);
  t.notOk(sub.messages.some((m) => m.topic === `${PREFIX}/cmd/hold/reply`), 'the retained junk was not answered: it never reached the box');
  t.equal((health.json as { commands: { refused: number } }).commands.refused, 0, 'nor counted as a refusal');

  const outboxRows = () => {
    const db = new Database(join(box.data, 'catalog.db'), { readonly: true });
    try { return (db.prepare('SELECT count(*) AS n FROM mqtt_outbox').get() as { n: number }).n; } finally { db.close(); }
  };
  await until(() => outboxRows() === 0, 20_000, 'the outbox empty before the fault');

  proxy.dropping = true;
  const eventsBefore = sub.messages.filter((m) => m.topic === `${PREFIX}/events`).length;
  for (const reason of ['case one', 'case two', 'case three']) {
    const r = await runCli(['hold', 'add', '--data', box.data, '--camera', 'cam1', '--from', String(Date.now() - 60_000), '--to', String(Date.now()), '--reason', reason]);
    t.equal(r.code, 0, r.stderr);
  }
  await until(() => sub.messages.filter((m) => m.topic === `${PREFIX}/events`).length >= eventsBefore + 3, 10_000, 'the three events published');
  await until(() => proxy.dropped >= 3, 10_000, 'their PUBACKs dropped');
  t.ok(outboxRows() >= 3, 'unacknowledged, they stay in the outbox');
  await daemon.waitForLog(/the broker has not acknowledged events for 30 s/, 45_000);
  proxy.dropping = false;
  await until(() => outboxRows() === 0, 30_000, 'the events sent again after the reconnect and acknowledged');
  t.pass('the outbox drained once the broker acknowledged again');

  // lost acknowledgements at the moment of a stop: the daemon still exits, and on time
  proxy.dropping = true;
  const r = await runCli(['hold', 'add', '--data', box.data, '--camera', 'cam1', '--from', String(Date.now() - 60_000), '--to', String(Date.now()), '--reason', 'case four']);
  t.equal(r.code, 0, r.stderr);
  await until(() => sub.messages.some((m) => m.topic === `${PREFIX}/events` && m.text.includes('case four')), 10_000, 'the fourth event published');
  await sleep(300); // its PUBACK dropped on the way back
  const stopAt = Date.now();
  const exit = await daemon.stop();
  t.equal(exit.code, 0, 'a clean exit');
  t.ok(Date.now() - stopAt < 12_000, `SIGTERM with an acknowledgement outstanding: stopped in ${((Date.now() - stopAt) / 1000).toFixed(1)} s`);
  t.ok(outboxRows() >= 1, 'the unacknowledged event stays in the outbox for the next start');
});
