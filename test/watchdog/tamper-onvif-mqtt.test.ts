import t from 'tap';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';
import { Subscriber } from '../mqtt/subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const USER = 'installer';
const PASSWORD = 'onvif-Secret-never-printed';
const FPS = 10;
/** the shortest the config allows: the learning is this test's precondition, not its subject (what
 * is asserted is the view's state, never how long it learned), and a reference still needs its 5
 * samples, however short learn_s is; 8 s here cost 6 s of the file's wall time, learned twice */
const LEARN_S = 5;
/** small: a sample costs less, so the view is sampled more often and its reference (5 samples at
 * least) is learned twice within the test in about learn_s each (docs/tamper.md, Rate and cost) */
const WIDTH = 320;
const HEIGHT = 180;

type Json = Record<string, any>;

t.test('the camera\'s own tamper events and a replaced device reach MQTT; health has the view and the stream as recorded', async (t) => {
  const dir = t.testdir();
  const sim = await new CameraSim({ mounts: ['gate'], fps: FPS, gop: FPS, width: WIDTH, height: HEIGHT, user: USER, password: PASSWORD }).start();
  t.teardown(() => sim.kill());
  const camera = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('gate', false), serial: 'SN-ORIGINAL-0001', model: 'Gate Cam' });
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  t.teardown(() => broker.stop());
  const passwordFile = join(dir, 'onvif.secret');
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data'), ['mqtt:', `  url: ${broker.url}`, '  health_interval_s: 5']) + [
    'cameras:', '  - id: gate',
    '    source:', '      type: onvif', `      host: ${camera.address}`, `      username: ${USER}`, `      password_file: ${passwordFile}`,
    '    record: { segment_seconds: 2, timeout_seconds: 3 }',
    `    tamper: { learn_s: ${LEARN_S} }`,
  ].join('\n') + '\n');
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });

  const state = (pred: (v: Json) => boolean) => (m: { topic: string; json: unknown }) => m.topic === `${PREFIX}/cameras/gate/state` && pred((m.json as Json).view);
  await sub.waitFor(state((v) => v.state === 'ok' && v.reference_ms > 0), 90_000, 'the view learned (camera state)');
  t.pass('the camera state topic says the view is ok once its reference is learned');

  const health = (await sub.waitFor((m) => m.topic === `${PREFIX}/health` && (m.json as Json).cameras[0].stream?.fps > 0 && (m.json as Json).cameras[0].view.state === 'ok', 30_000, 'a health with the stream')).json as Json;
  const cam = health.cameras[0];
  t.same([cam.stream.codec, cam.stream.width, cam.stream.height], ['h264', WIDTH, HEIGHT], 'health: codec and resolution as seen in the recording');
  t.ok(Math.abs(cam.stream.fps - FPS) <= 1.5, `health: the frame rate measured, ${cam.stream.fps} fps for a ${FPS} fps camera`);
  t.equal(cam.view.state, 'ok', 'health: the view');

  // the camera says its scene changed globally (someone turned it, or sprayed it)
  camera.emitEvent('tns1:VideoSource/GlobalSceneChange/ImagingService', true);
  const event = (type: string, kind: string) => (m: { topic: string; json: unknown }) => m.topic === `${PREFIX}/events` && (m.json as Json).type === type && (m.json as Json).data.kind === kind;
  const reported = (await sub.waitFor(event('tamper_suspected', 'camera_reported'), 30_000, 'camera_reported')).json as Json;
  t.same(reported.data.signals, ['global_scene_change'], 'the camera\'s signal is named');
  t.match(reported.data.topic, /GlobalSceneChange/, 'with its ONVIF topic');
  t.equal(reported.camera, 'gate');
  await sub.waitFor(state((v) => v.state === 'tampered' && v.kinds.includes('camera_reported')), 10_000, 'tampered camera state');
  camera.emitEvent('tns1:VideoSource/GlobalSceneChange/ImagingService', false);
  await sub.waitFor(event('tamper_cleared', 'camera_reported'), 30_000, 'camera_reported cleared');
  t.pass('and cleared when the camera clears it');

  // another device answers at the camera's address
  camera.replaceDevice('SN-IMPOSTOR-9999');
  const replaced = (await sub.waitFor(event('tamper_suspected', 'replaced'), 90_000, 'replaced')).json as Json;
  t.equal(replaced.data.pinned.serial, 'SN-ORIGINAL-0001', 'the pinned serial number');
  t.equal(replaced.data.seen.serial, 'SN-IMPOSTOR-9999', 'the one answering now');
  await sub.waitFor(state((v) => v.kinds.includes('replaced')), 10_000, 'replaced in the camera state');

  const bad = sub.messages.filter((m) => m.schema && m.errors);
  t.same(bad.map((m) => `${m.topic}: ${m.errors}`), [], 'every message follows its published schema');

  const status = await runCli(['status', '--config', config, '--json']);
  const gate = (JSON.parse(status.stdout) as Json).cameras[0];
  t.equal(gate.view.state, 'tampered', 'status: the view, from the catalog');
  t.ok(gate.view.kinds.includes('replaced'), 'status: replaced');
  t.same([gate.stream.codec, gate.stream.width, gate.stream.height], ['h264', WIDTH, HEIGHT], 'status: the stream as recorded');
  const text = await runCli(['status', '--config', config]);
  t.match(text.stdout, /gate\s+TAMPER SUSPECTED: replaced since /, 'status says it in words');
  t.match(text.stdout, /gate\s+tampering suspected: replaced\n/, 'and the event in its last events');
  t.match(text.stdout, /gate\s+view back to normal \(camera reported for \d+ s\)/, 'the camera\'s own signal raised and cleared');

  // the installer did swap the camera: reset, audited, and the new device is the camera now
  const reset = await runCli(['tamper', 'reset', '--camera', 'gate', '--reason', 'camera swapped after storm damage', '--by', 'installer-anna', '--config', config]);
  t.equal(reset.code, 0, `tamper reset exits 0: ${reset.stderr}`);
  t.match(reset.stdout, /reference of .* retired; identity pins forgotten/);
  await sub.waitFor(event('tamper_cleared', 'replaced'), 30_000, 'replaced cleared after the reset');
  await sub.waitFor((m) => state((v) => v.state === 'ok' && v.kinds.length === 0)(m) && m.at > Date.now() - 60_000 && (m.json as Json).view.reference_ms > (reported.at_ms as number), 60_000, 'a new reference');
  t.pass('the view is learned again and nothing is suspected');

  const { code } = await daemon.stop();
  t.equal(code, 0, 'the daemon stops cleanly');
  t.notMatch(daemon.output, PASSWORD, 'the ONVIF password never reaches the log');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const audit = db.prepare("SELECT actor, action, reason, details FROM audit_log WHERE camera = 'gate' ORDER BY id").all() as Array<{ actor: string; action: string; reason: string; details: string }>;
  const actions = audit.map((a) => a.action);
  t.ok(actions.includes('camera.identity_pinned'), 'the first device and stream were pinned, audited');
  const swap = audit.find((a) => a.action === 'tamper.replaced');
  t.ok(swap && JSON.parse(swap.details).seen.serial === 'SN-IMPOSTOR-9999', 'the replaced device is in the audit log');
  const byAnna = audit.find((a) => a.action === 'tamper.reset');
  t.equal(byAnna?.actor, 'installer-anna', 'the reset: who');
  t.equal(byAnna?.reason, 'camera swapped after storm damage', 'and why');
  t.ok(actions.lastIndexOf('camera.identity_pinned') > actions.indexOf('tamper.reset'), 'the new device was pinned after the reset');
  const pinned = db.prepare("SELECT serial FROM camera_identity WHERE camera = 'gate'").get() as { serial: string };
  t.equal(pinned.serial, 'SN-IMPOSTOR-9999', 'the device answering now is the pinned one');
});
