import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, sleep, until, writeConfig } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { RECONNECT_BACKOFF_S } from '../../daemon/mqtt/client.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';

function catalogEvents(dataDir: string): Array<{ id: number; type: string; camera: string | null }> {
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, type, camera FROM events ORDER BY id').all() as Array<{ id: number; type: string; camera: string | null }>;
  } finally {
    db.close();
  }
}

function outboxState(dataDir: string): { rows: number; dropped: number } {
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  try {
    const rows = (db.prepare('SELECT count(*) AS n FROM mqtt_outbox').get() as { n: number }).n;
    const dropped = (db.prepare("SELECT value FROM mqtt_outbox_stats WHERE key = 'dropped'").get() as { value: number } | undefined)?.value ?? 0;
    return { rows, dropped };
  } finally {
    db.close();
  }
}

t.test('broker away while a camera dies and returns, and the daemon restarts, until its reconnect delay is the longest: every event arrives once, in order', async (t) => {
  const dir = t.testdir();
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  // persistence: the platform's subscription (a persistent session) outlives the broker restart
  const broker = await new Mosquitto(join(dir, 'broker'), { persistence: true }).start();
  t.teardown(() => broker.stop());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], {
    extraYaml: ['mqtt:', `  url: ${broker.url}`, '  keepalive_s: 5', '  health_interval_s: 30'].join('\n'),
  });
  const dataDir = join(dir, 'data');
  const sub = await new Subscriber(broker.url, PREFIX, {
    clientId: 'platform-outbox-test', clean: false, properties: { sessionExpiryInterval: 3600 },
  }).connect();
  t.teardown(() => sub.close());

  let daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await sub.waitFor((m) => m.topic === `${PREFIX}/cameras/cam1/state` && (m.json as { state: string }).state === 'recording', 30000, 'cam1 recording');
  await daemon.waitForLog(/segment indexed/, 30000);

  const awayAt = Date.now();
  await broker.stop();
  await daemon.waitForLog(/mqtt broker unreachable/, 10000);

  // the camera dies and comes back while the broker is away
  await sim.kill();
  await daemon.waitForLog(/event camera_offline/, 20000);
  await sleep(1500);
  await sim.restart();
  await daemon.waitForLog(/event camera_online/, 30000);

  // and the daemon restarts (a clean stop with no broker must not hang)
  const stopAt = Date.now();
  t.equal((await daemon.stop()).code, 0, 'a clean stop while the broker is away');
  t.ok(Date.now() - stopAt < 15000, `stopped in ${Date.now() - stopAt} ms`);
  const eventsWhileAway = catalogEvents(dataDir).length;
  daemon = new DaemonProcess(config).start();
  await daemon.waitForLog(/event camera_online/, 30000);

  // the broker stays away until the restarted daemon's reconnect delay is at its longest (two
  // failed attempts that far apart; the steps are 1, 2, 5, 10 s), so the broker returns at the start
  // of the longest wait and the resumption asserted below is the backoff's worst case, not a lucky
  // early retry (a fixed 60 s outage proved no more, and took twice as long)
  const longestMs = RECONNECT_BACKOFF_S.at(-1)! * 1000;
  const failures = () => daemon.output.split('\n').filter((l) => l.includes('mqtt connection error; retrying')).map((l) => (JSON.parse(l) as { time: number }).time);
  await until(() => { const f = failures(); return f.length >= 2 && f.at(-1)! - f.at(-2)! >= longestMs - 1000; }, 90_000, 'the reconnect delay at its longest');
  // the waits between failed tries follow the steps from the first (a delay set one try late
  // read 1, 1, 2, 5 here); a refused connect fails within milliseconds, the rest is the wait
  const waits = failures().slice(0, RECONNECT_BACKOFF_S.length + 1).map((at, i, all) => (i ? at - all[i - 1]! : 0)).slice(1);
  t.ok(waits.length === RECONNECT_BACKOFF_S.length && waits.every((w, i) => w >= RECONNECT_BACKOFF_S[i]! * 1000 - 250 && w < RECONNECT_BACKOFF_S[i]! * 1000 + 2500),
    `reconnect waits ${waits.map((w) => (w / 1000).toFixed(1)).join(', ')} s follow the steps ${RECONNECT_BACKOFF_S.join(', ')} s`);
  t.ok(outboxState(dataDir).rows > 0, `events wait in the outbox (${outboxState(dataDir).rows}) after ${((Date.now() - awayAt) / 1000).toFixed(0)} s without a broker`);
  await broker.start();
  const backAt = Date.now();

  // every event in the catalog reaches the subscriber
  const eventsOf = () => sub.messages.filter((m) => m.topic === `${PREFIX}/events`).map((m) => m.json as { id: string; event_id: number; type: string });
  const end = Date.now() + 40000;
  let expected = catalogEvents(dataDir);
  while (Date.now() < end) {
    expected = catalogEvents(dataDir);
    const got = new Set(eventsOf().map((e) => e.event_id));
    if (expected.every((e) => got.has(e.id))) break;
    await sleep(200);
  }
  await sleep(1000); // a late duplicate would show up here
  const received = eventsOf();
  t.ok(expected.length >= eventsWhileAway && expected.length >= 4, `${expected.length} events in the catalog`);
  t.same(received.map((e) => e.event_id).filter((id) => id <= expected[expected.length - 1]!.id), expected.map((e) => e.id), 'every event once, in order');
  t.equal(new Set(received.map((e) => e.id)).size, received.length, 'no message id twice');
  t.ok(expected.some((e) => e.type === 'camera_offline') && expected.some((e) => e.type === 'camera_online'), `the outage is in them: ${expected.map((e) => e.type).join(', ')}`);
  const firstAfter = sub.messages.find((m) => m.topic === `${PREFIX}/events` && m.at >= backAt);
  t.ok(firstAfter && firstAfter.at - backAt < 15000, `delivery resumed ${firstAfter ? firstAfter.at - backAt : '?'} ms after the broker returned`);
  // the subscriber can see a message before the box has the broker's PUBACK for it
  await until(() => outboxState(dataDir).rows === 0, 10000, 'the outbox to empty').catch(() => undefined);
  t.same(outboxState(dataDir), { rows: 0, dropped: 0 }, 'acknowledged rows leave the outbox; none dropped');
  t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates against its schema');
  t.equal((await daemon.stop()).code, 0);
});
