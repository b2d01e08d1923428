import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { makeCerts, Mosquitto } from '../support/mosquitto.js';
import mqtt from 'mqtt';
import { ocrModelPath } from '../../redaction/models.js';

/** a config with one rtsp camera; `storage` lines replace the default data dir */
function config(dir: string, url: string, storage: string[] = [`  path: ${join(dir, 'data')}`], minDays = 0.001): string {
  const path = join(dir, 'config.yaml');
  writeFileSync(path, [
    'box:', '  id: test-box',
    'storage:', ...storage, '  free_space_floor_mb: 0',
    '  retention:', `    min_days: ${minDays}`, '    below_legal_minimum_reason: test bench',
    'cameras:', '  - id: lobby', '    source:', '      type: rtsp', `      url: ${url}`, '    record:', '      timeout_seconds: 2', '',
  ].join('\n'));
  return path;
}

/** a tmpfs outside tap's fixture dir (which tap removes before our teardown could unmount it) */
function tmpfs(t: { teardown(fn: () => unknown): void }, options: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-check-'));
  // mode 0700: a tmpfs root is 1777, writable by all, which check (and run) refuse as a data dir
  execFileSync('mount', ['-t', 'tmpfs', '-o', `${options},mode=0700`, 'tmpfs', dir]);
  t.teardown(() => { execFileSync('umount', ['-l', dir]); rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

t.test('check pre-flight', async (t) => {
  const sim = await new CameraSim({ mounts: ['lobby'], bitrate: 1000 }).start();
  t.teardown(() => sim.kill());

  t.test('passes on a good box', async (t) => {
    const dir = t.testdir();
    const r = await runCli(['check', '--config', config(dir, sim.url('lobby'))]);
    t.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['config', 'ffmpeg', 'gstreamer', 'storage', 'cameras', 'disk size', 'clock', 'broker', 'secrets', 'redaction']) {
      t.match(r.stdout, new RegExp(`^PASS ${name} `, 'm'), `one line for ${name}`);
    }
    t.match(r.stdout, /^PASS redaction +blazeface \(face_detection_back_256x256_barracuda\.onnx@sha256:[0-9a-f]{16}\), ppocr-det \(ch_PP-OCRv4_det_infer\.folded\.onnx@/m, 'names the detectors and their model hashes');
  });

  t.test('a clock whose synchronisation is unknown warns where max_days would then never apply', async (t) => {
    const dir = t.testdir();
    // timedatectl and chronyc that answer nothing, ahead of any real ones
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['timedatectl', 'chronyc']) writeFileSync(join(bin, tool), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const path = config(dir, sim.url('lobby'));
    const timesyncd = existsSync('/run/systemd/timesync/synchronized'); // the third source, a file
    const noMax = await runCli(['check', '--config', path], { env });
    t.match(noMax.stdout, timesyncd ? /^PASS clock +synchronised \(timesyncd\)/m : /^PASS clock +synchronisation unknown .*; check NTP by hand$/m, 'no max_days: nothing waits on the clock');
    writeFileSync(path, readFileSync(path, 'utf8').replace('    min_days: 0.001\n', '    min_days: 0.001\n    max_days: 31\n'));
    const withMax = await runCli(['check', '--config', path], { env });
    t.equal(withMax.code, 0, withMax.stdout);
    t.match(withMax.stdout, timesyncd ? /^PASS clock +synchronised \(timesyncd\)/m
      : /^WARN clock +synchronisation unknown .*: deletion at max_days waits for a clock known synchronised, so recordings would be kept past max_days; .*integrity\.age_deletion_needs_clock_sync: false/m);
    writeFileSync(path, readFileSync(path, 'utf8') + 'integrity:\n  age_deletion_needs_clock_sync: false\n');
    const notNeeded = await runCli(['check', '--config', path], { env });
    t.match(notNeeded.stdout, timesyncd ? /^PASS clock /m : /^PASS clock +synchronisation unknown .*; check NTP by hand$/m, 'not waited for: a pass');
  });

  t.test('a configured detector whose layout does not fit its model', async (t) => {
    const dir = t.testdir();
    const path = config(dir, sim.url('lobby'));
    const model = join(dir, 'plates.onnx');
    // a real ONNX model that is not an image detector: the text detector's layout is NCHW, this says NHWC
    copyFileSync(ocrModelPath(), model);
    writeFileSync(path, readFileSync(path, 'utf8') + `redaction:\n  detectors:\n    - { name: plates, model: ${model}, input: { width: 640, height: 640, layout: nhwc }, output: { format: heatmap } }\n`);
    const r = await runCli(['check', '--config', path]);
    t.equal(r.code, 1, r.stdout);
    t.match(r.stdout, /^FAIL redaction +redaction\.detectors\[0\]\.input: the model's input x has shape \[[^,]+, 3, [^,]+, [^\]]+\] but the config gives \[1, 640, 640, 3\] \(layout nhwc\); expected layout nchw \(the model's 3 channels are second\); exports and snapshots would be refused$/m);
  });

  t.test('an unreachable camera', async (t) => {
    const dir = t.testdir();
    const r = await runCli(['check', '--config', config(dir, 'rtsp://127.0.0.1:9/nothing')]);
    t.equal(r.code, 1);
    t.match(r.stdout, /^FAIL cameras +lobby unreachable: rtsp:\/\/127\.0\.0\.1:9\/nothing: .*refused/m, 'names the camera and why');
    t.match(r.stdout, /^WARN disk size +[\d.]+ days need 0\.00 GB, the disk holds [\d.]+ GB above the floor \(bitrate unknown for lobby\)$/m, 'the disk size not known to be enough: not a pass');
  });

  t.test('a free-space floor that leaves almost nothing, with the camera not probed', async (t) => {
    const dir = t.testdir();
    const small = tmpfs(t, 'size=8m');
    const path = config(dir, 'rtsp://127.0.0.1:9/nothing', [`  path: ${small}/data`]);
    writeFileSync(path, readFileSync(path, 'utf8').replace('free_space_floor_mb: 0', 'free_space_floor_mb: 7'));
    const r = await runCli(['check', '--config', path]);
    t.match(r.stdout, /^WARN disk size +[\d.]+ days need 0\.00 GB, the disk holds 0\.00 GB above the floor \(bitrate unknown for lobby\)$/m, 'a floor leaving 1 MB for recordings is no pass when the bitrate is unknown');
  });

  t.test('an unwritable data dir (read-only mount)', async (t) => {
    const dir = t.testdir();
    const ro = tmpfs(t, 'ro,size=1m');
    const r = await runCli(['check', '--config', config(dir, sim.url('lobby'), [`  path: ${ro}`])]);
    t.equal(r.code, 1);
    t.match(r.stdout, /^FAIL storage .* is not writable by root \(EROFS\)/m, 'names the path and the cause');
  });

  t.test('a disk too small for min_days', async (t) => {
    const dir = t.testdir();
    const small = tmpfs(t, 'size=16m');
    const r = await runCli(['check', '--config', config(dir, sim.url('lobby'), [`  path: ${small}`], 2)]);
    t.equal(r.code, 1);
    t.match(r.stdout, /^FAIL disk size .*: 2 days need [\d.]+ GB at the probed bitrates, the disk holds 0\.0\d GB/m, 'says how much is needed and held');
    t.match(r.stdout, /^PASS storage /m, 'the disk itself is writable');
  });

  t.test('ffmpeg missing from PATH', async (t) => {
    const dir = t.testdir();
    const r = await runCli(['check', '--config', config(dir, sim.url('lobby'))], { env: { ...process.env, PATH: '/nonexistent' } });
    t.equal(r.code, 1);
    t.match(r.stdout, /^FAIL ffmpeg +ffmpeg not found on PATH/m, 'names ffmpeg');
  });

  t.test('an unreachable broker', async (t) => {
    const dir = t.testdir();
    const path = config(dir, sim.url('lobby'));
    writeFileSync(path, readFileSync(path, 'utf8') + 'mqtt:\n  url: mqtt://127.0.0.1:9\n');
    const r = await runCli(['check', '--config', path]);
    t.equal(r.code, 1);
    t.match(r.stdout, /^FAIL broker +mqtt:\/\/127\.0\.0\.1:9: connect ECONNREFUSED/m);
  });

  t.test('the broker login: a wrong password and a refused certificate fail, the right ones pass, a running daemon stays connected', async (t) => {
    const dir = t.testdir();
    const broker = await new Mosquitto(join(dir, 'broker'), { users: { box: 'right-password' } }).start();
    t.teardown(() => broker.stop());
    // the daemon's own connection, with the client id a check must not take from it
    const daemon = await mqtt.connectAsync(broker.url, { clientId: 'edge-nvr-test-box', username: 'box', password: 'right-password', reconnectPeriod: 0 });
    let dropped = false;
    daemon.on('close', () => { dropped = true; });
    t.teardown(() => daemon.end(true));
    const secret = join(dir, 'mqtt-password');
    const withBroker = (password: string, extra = '') => {
      writeFileSync(secret, password, { mode: 0o600 });
      const path = config(dir, sim.url('lobby'));
      writeFileSync(path, readFileSync(path, 'utf8') + `mqtt:\n  url: ${broker.url}\n  username: box\n  password_file: ${secret}\n${extra}`);
      return path;
    };
    let r = await runCli(['check', '--config', withBroker('Zq7-not-this-one')]);
    t.equal(r.code, 1, r.stdout);
    t.match(r.stdout, /^FAIL broker +mqtt:\/\/127\.0\.0\.1:\d+ refused the login \([^)]*\): check mqtt\.username and mqtt\.password_file$/m, 'a wrong password is named as such');
    t.notMatch(r.stdout + r.stderr, /Zq7-not-this-one/, 'and the password is not printed');
    r = await runCli(['check', '--config', withBroker('right-password')]);
    t.match(r.stdout, /^PASS broker +mqtt:\/\/127\.0\.0\.1:\d+ accepted the login \(MQTT 5, user box\)$/m, r.stdout);
    t.equal(r.code, 0, r.stdout);
    t.notOk(dropped, 'the running daemon\'s connection was not taken over by the check');

    const certs = makeCerts(join(dir, 'certs'));
    const tls = await new Mosquitto(join(dir, 'tls-broker'), { tls: certs }).start();
    t.teardown(() => tls.stop());
    const path = config(dir, sim.url('lobby'));
    writeFileSync(path, readFileSync(path, 'utf8') + `mqtt:\n  url: ${tls.url}\n  cert_file: ${certs.clientCert}\n  key_file: ${certs.clientKey}\n`);
    r = await runCli(['check', '--config', path]);
    t.equal(r.code, 1, r.stdout);
    t.match(r.stdout, /^FAIL broker +mqtts:\/\/127\.0\.0\.1:\d+: .*; check mqtt\.ca_file, mqtt\.cert_file and mqtt\.key_file$/m, 'a server certificate the box cannot trust (no ca_file) points at the TLS files');
    writeFileSync(path, readFileSync(path, 'utf8') + `  ca_file: ${certs.ca}\n`);
    r = await runCli(['check', '--config', path]);
    t.match(r.stdout, /^PASS broker +mqtts:\/\/127\.0\.0\.1:\d+ accepted the login/m, r.stdout);
  });
});
