import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, sleep, writeConfig } from '../support/daemon.js';
import { makeCerts, Mosquitto } from '../support/mosquitto.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const BOX_PW = `box-${randomBytes(9).toString('hex')}`;
const WRONG_PW = `wrong-${randomBytes(9).toString('hex')}`;
const PLATFORM_PW = `pf-${randomBytes(9).toString('hex')}`;

t.test('password and TLS brokers', async (t) => {
  const dir = t.testdir();
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const users = { box: BOX_PW, platform: PLATFORM_PW };
  const pwBroker = await new Mosquitto(join(dir, 'pw-broker'), { users }).start();
  t.teardown(() => pwBroker.stop());
  const pwFile = join(dir, 'mqtt.password');

  const run = (name: string, mqttLines: string[]) => {
    const config = writeConfig(join(dir, name), [{ id: 'cam1', url: sim.url('cam1') }], { extraYaml: ['mqtt:', ...mqttLines.map((l) => `  ${l}`)].join('\n') });
    const d = new DaemonProcess(config).start();
    t.teardown(() => { d.proc?.kill('SIGKILL'); });
    return d;
  };

  t.test('a wrong password is reported clearly and retried; the box keeps recording', async (t) => {
    writeFileSync(pwFile, `${WRONG_PW}\n`, { mode: 0o600 });
    const d = run('wrong', [`url: ${pwBroker.url}`, 'username: box', `password_file: ${pwFile}`]);
    await d.waitForLog(/segment indexed/, 30000);
    const end = Date.now() + 15000;
    while (d.countLog(/mqtt broker refused the login/) < 3 && Date.now() < end) await sleep(200);
    t.ok(d.countLog(/mqtt broker refused the login/) >= 3, `refused and retried (${d.countLog(/mqtt broker refused the login/)} attempts)`);
    t.match(d.output, /check mqtt.username and mqtt.password_file; retrying/, 'the log says what to check');
    t.equal(d.proc!.exitCode, null, 'not fatal: the daemon runs');
    const segEnd = Date.now() + 10000;
    while (d.countLog(/segment indexed/) < 3 && Date.now() < segEnd) await sleep(200);
    t.ok(d.countLog(/segment indexed/) >= 3, 'and records');
    t.equal((await d.stop()).code, 0);
    t.notOk(d.output.includes(WRONG_PW), 'the password never reaches the log');
  });

  t.test('the right password from a file: online, then offline on a clean stop', async (t) => {
    writeFileSync(pwFile, `${BOX_PW}\n`, { mode: 0o600 });
    const sub = await new Subscriber(pwBroker.url, PREFIX, { username: 'platform', password: PLATFORM_PW }).connect();
    t.teardown(() => sub.close());
    await sub.client.subscribeAsync('homeassistant/#', { qos: 1 });
    const d = run('right', [`url: ${pwBroker.url}`, 'username: box', `password_file: ${pwFile}`, 'health_interval_s: 5', 'home_assistant: {}']);
    await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 20000, 'online');
    await sub.waitFor((m) => m.topic === `${PREFIX}/health`, 20000, 'health');
    await sub.waitFor((m) => m.topic === `${PREFIX}/cameras/cam1/state`, 20000, 'camera state');

    // Home Assistant discovery: each sensor reads a topic the box really publishes
    const discovery = sub.messages.filter((m) => m.topic.startsWith('homeassistant/') && m.topic.endsWith('/config'));
    t.ok(discovery.some((m) => m.topic === 'homeassistant/binary_sensor/edge-nvr_test-box/online/config'), 'the online binary sensor');
    t.ok(discovery.some((m) => m.topic === 'homeassistant/sensor/edge-nvr_test-box/camera_cam1/config'), 'a sensor per camera');
    t.ok(discovery.some((m) => m.topic === 'homeassistant/sensor/edge-nvr_test-box/view_cam1/config'), 'and one for its view');
    const boxTopics = new Set(sub.messages.map((m) => m.topic));
    for (const m of discovery) {
      const c = m.json as { state_topic: string; unique_id: string; availability_topic?: string };
      t.ok(boxTopics.has(c.state_topic), `${c.unique_id} reads ${c.state_topic}, which the box publishes`);
      if (c.availability_topic) t.equal(c.availability_topic, `${PREFIX}/status`);
    }
    t.match(d.output, /"protocol":"MQTT 5"/, 'mosquitto speaks MQTT 5');
    const stopAt = Date.now();
    t.equal((await d.stop()).code, 0);
    const off = await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'offline' && m.at >= stopAt, 5000, 'offline');
    t.equal((off.json as { reason: string }).reason, 'clean_stop', 'a clean stop says so (not the last will)');
    t.notOk(d.output.includes(BOX_PW), 'the password never reaches the log');
    t.notOk(sub.messages.some((m) => m.text.includes(BOX_PW)), 'nor a payload');
    t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates');
  });

  t.test('TLS with a CA and a client certificate', async (t) => {
    const certs = makeCerts(join(dir, 'certs'));
    const tlsBroker = await new Mosquitto(join(dir, 'tls-broker'), { tls: certs, users }).start();
    t.teardown(() => tlsBroker.stop());
    writeFileSync(pwFile, `${BOX_PW}\n`, { mode: 0o600 });
    const { readFileSync } = await import('node:fs');
    const sub = await new Subscriber(tlsBroker.url, PREFIX, {
      username: 'platform', password: PLATFORM_PW, ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey),
    }).connect();
    t.teardown(() => sub.close());
    const d = run('tls', [`url: ${tlsBroker.url}`, 'username: box', `password_file: ${pwFile}`, `ca_file: ${certs.ca}`, `cert_file: ${certs.clientCert}`, `key_file: ${certs.clientKey}`, 'health_interval_s: 5']);
    await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 20000, 'online over TLS');
    await sub.waitFor((m) => m.topic === `${PREFIX}/cameras/cam1/state`, 20000, 'camera state over TLS');
    t.match(d.output, /mqtt connected/);
    t.equal((await d.stop()).code, 0);
    t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates');

    // without the client certificate the broker refuses the box, and the box says so and retries
    const noCert = run('tls-no-cert', [`url: ${tlsBroker.url}`, 'username: box', `password_file: ${pwFile}`, `ca_file: ${certs.ca}`]);
    await noCert.waitForLog(/segment indexed/, 30000);
    const end = Date.now() + 10000;
    while (noCert.countLog(/mqtt connection error/) < 2 && Date.now() < end) await sleep(200);
    t.ok(noCert.countLog(/mqtt connection error/) >= 2, 'refused without a client certificate, retried');
    t.notMatch(noCert.output, /mqtt connected/);
    t.equal((await noCert.stop()).code, 0);
  });
});
