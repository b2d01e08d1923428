import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';

const USER = 'installer';
const PASSWORD = 'onvif-Secret-never-printed';

t.test('discover finds two ONVIF cameras; its snippet passes check and records', async (t) => {
  const sim = await new CameraSim({ mounts: ['front', 'back'], user: USER, password: PASSWORD, gop: 15 }).start();
  t.teardown(() => sim.kill());
  const front = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('front', false), model: 'Sim Front', clockOffsetMs: 90_000 });
  const back = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('back', false), model: 'Sim Back' });
  const dir = t.testdir();
  const passwordFile = join(dir, 'onvif.secret');
  writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
  const targets = [front, back].flatMap((r) => ['--target', `127.0.0.1:${r.discoveryPort}`, '--host', r.address]);

  const table = await runCli(['discover', ...targets, '--user', USER, '--password-file', passwordFile, '--timeout', '1']);
  t.equal(table.code, 0, `discover exits 0: ${table.stderr}`);
  t.match(table.stdout, front.address, 'the table lists the first camera');
  t.match(table.stdout, back.address, 'the table lists the second camera');
  t.match(table.stdout, /H264 640x360/, 'with its profile');
  t.match(table.stdout, new RegExp(`WARNING: ${front.address.replace(/\./g, '\\.')}: camera clock is \\+(89|90|91) s off`), 'the drifting clock is reported');
  t.notMatch(table.stdout + table.stderr, PASSWORD, 'the password is never printed');

  const yaml = await runCli(['discover', ...targets, '--user', USER, '--password-file', passwordFile, '--timeout', '1', '--yaml', '--segment-seconds', '2']);
  t.equal(yaml.code, 0, `discover --yaml exits 0: ${yaml.stderr}`);
  t.equal(yaml.stdout.match(/type: onvif/g)?.length, 2, 'a snippet with two onvif cameras');
  t.notMatch(yaml.stdout, PASSWORD, 'the snippet names the password file, never the password');
  const ids = [...yaml.stdout.matchAll(/- id: (\S+)/g)].map((m) => m[1]!);
  const frontId = ids.find((id) => id.startsWith('sim-front-'));
  const backId = ids.find((id) => id.startsWith('sim-back-'));
  t.ok(frontId && backId, `camera ids from the model names: ${ids.join(', ')}`);
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + yaml.stdout);

  const check = await runCli(['check', '--config', config]);
  t.equal(check.code, 0, `check passes the generated config:\n${check.stdout}${check.stderr}`);
  t.match(check.stdout, new RegExp(`PASS cameras .*${frontId}: h264 640x360 .*via ONVIF ${front.address}`), 'the cameras are reached through ONVIF');

  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  // the two cameras resolve in either order: wait for the front one's line, whose clock is 90 s off
  await daemon.waitForLog(new RegExp(`"camera":"${frontId}".*onvif stream URI resolved`));
  t.match(daemon.output, new RegExp(`"camera":"${frontId}".*"clockDriftMs":(89|90|91)\\d{3}`), 'the clock drift is logged at start');
  for (const id of [frontId, backId]) await daemon.waitForLog(new RegExp(`"camera":"${id}".*segment indexed`), 40000);
  t.notMatch(daemon.output, PASSWORD, 'the password never reaches the log');
  const { code } = await daemon.stop();
  t.equal(code, 0, 'stops cleanly');
});

t.test('wrong ONVIF credentials give a clear error naming the camera', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam1'], user: USER, password: PASSWORD }).start();
  t.teardown(() => sim.kill());
  const cam = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('cam1', false) });
  const dir = t.testdir();
  const wrong = join(dir, 'wrong.secret');
  writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
  const found = await runCli(['discover', '--target', `127.0.0.1:${cam.discoveryPort}`, '--host', cam.address, '--user', USER, '--password-file', wrong, '--timeout', '1']);
  t.match(found.stderr, `ONVIF camera ${cam.address}: authentication failed (wrong username or password)`, 'discover names the camera');
  t.match(found.stdout, /ERROR: ONVIF camera .*authentication failed/, 'and marks it in the table');

  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + [
    'cameras:', '  - id: gate', '    source:', '      type: onvif', `      host: "${cam.address}"`, `      username: ${USER}`, `      password_file: ${wrong}`, '',
  ].join('\n'));
  const check = await runCli(['check', '--config', config]);
  t.equal(check.code, 1, 'check fails');
  t.match(check.stdout, new RegExp(`FAIL cameras +gate unreachable: ONVIF camera ${cam.address.replace(/\./g, '\\.')}: authentication failed`), 'naming the camera and the cause');
  t.notMatch(check.stdout + check.stderr, 'not-the-password', 'without printing the password');
});

// an outside probe: each of these reached the network and came back wrong: a timer past 24.8 days
// fired at once, Node's "Port should be > 0 and < 65536" (exit 1), and pasted credentials printed
// in the error and the table, exit 0
t.test('discover refuses a --timeout past its bound, a --target port that does not exist, and a --host with user:password@ without repeating it', async (t) => {
  const pw = join(t.testdir(), 'pw');
  writeFileSync(pw, 'DiscPw1\n');
  const timeout = await runCli(['discover', '--timeout', '1e10']);
  t.equal(timeout.code, 2);
  t.match(timeout.stderr, '--timeout: expected seconds above 0 and at most 600, got "1e10"');
  for (const target of ['127.0.0.1:0', '[::1]:99999']) {
    const r = await runCli(['discover', '--target', target, '--timeout', '1']);
    t.equal(r.code, 2, `${target}: exit 2`);
    t.match(r.stderr, `--target: expected a port in "${target}", a whole number at least 1 and at most 65535`);
  }
  const host = await runCli(['discover', '--host', 'admin:DiscPw1@127.0.0.1', '--user', 'admin', '--password-file', pw, '--timeout', '1']);
  t.equal(host.code, 2);
  t.match(host.stderr, '--host: expected HOST or HOST:PORT, without user:password@');
  t.notMatch(host.stdout + host.stderr, 'DiscPw1', 'the pasted password is not repeated');
});
