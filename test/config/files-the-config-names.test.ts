/**
 * The files a config names (secrets, certificates, CA files) are checked before anything uses
 * them, the same way by `run`, `reload` and `check` (config/secret-files.ts, configFileIssues).
 * An outside probe (2026-12-04): `check` passed a missing command secret or CA file, and `run`
 * then started, wrote to the catalog and crashed with a stack trace, exit 1, again and again
 * under systemd; a client key that was no PEM was taken by a reload and MQTT stayed down; a FIFO
 * as a password file froze the daemon; /dev/zero filled `check`'s memory; a missing camera
 * password file dropped the camera and the box looked healthy.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { makeCerts } from '../support/mosquitto.js';

t.test('a file the config names that cannot be used: run refuses to start, exit 2, one line naming the setting; check fails on it', async (t) => {
  const dir = t.testdir();
  const certs = makeCerts(join(dir, 'certs'));
  const other = makeCerts(join(dir, 'other'));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    chmodSync(p, 0o600);
    return p;
  };
  const pass = file('cam.pass', 'hunter2-pass\n');
  const fifo = join(dir, 'fifo.pass');
  spawnSync('mkfifo', ['-m', '600', fifo]);
  const notPem = file('not.pem', 'just some text\n');
  const config = (name: string, { camPass = pass, mqtt = '' }: { camPass?: string; mqtt?: string }) => {
    const p = join(dir, `${name}.yaml`);
    writeFileSync(p, [
      'box: { id: files-box }', `storage: { path: ${join(dir, `${name}-data`)}, free_space_floor_mb: 0 }`,
      'cameras:', '  - id: cam1', `    source: { type: rtsp, url: "rtsp://127.0.0.1:9/x", username: admin, password_file: ${camPass} }`,
      ...(mqtt ? ['mqtt:', '  url: mqtts://127.0.0.1:9', ...mqtt.split('\n').map((l) => `  ${l}`)] : []),
    ].join('\n') + '\n');
    return p;
  };
  const cases: Array<[string, string, RegExp]> = [
    ['the command secret missing', config('hmac-missing', { mqtt: `ca_file: ${certs.ca}\ncommands: { hmac_secret_file: ${join(dir, 'nope.secret')} }` }),
      /^mqtt\.commands\.hmac_secret_file: cannot read \S+nope\.secret \(ENOENT: no such file\); expected a file readable by the edge-nvr service$/],
    ['the CA file missing', config('ca-missing', { mqtt: `ca_file: ${join(dir, 'nope-ca.pem')}` }), /^mqtt\.ca_file: cannot read \S+ \(ENOENT: no such file\)/],
    ['a client key that is no PEM', config('key-not-pem', { mqtt: `ca_file: ${certs.ca}\ncert_file: ${certs.clientCert}\nkey_file: ${notPem}` }),
      /^mqtt\.key_file: \S+not\.pem holds no usable PEM private key/],
    ['a client certificate that is no PEM', config('cert-not-pem', { mqtt: `ca_file: ${certs.ca}\ncert_file: ${notPem}\nkey_file: ${certs.clientKey}` }),
      /^mqtt\.cert_file: \S+not\.pem holds no PEM certificate/],
    ['a client key of another certificate', config('key-mismatch', { mqtt: `ca_file: ${certs.ca}\ncert_file: ${certs.clientCert}\nkey_file: ${other.clientKey}` }),
      /^mqtt\.key_file: \S+ is not the key of the certificate in \S+client\.crt/],
    ['a FIFO as a camera password file', config('fifo', { camPass: fifo }), /^cameras\[0\]\.source\.password_file: cannot read \S+fifo\.pass \(a FIFO, not a file/],
    ['a camera password file that is missing', config('pass-missing', { camPass: join(dir, 'none.pass') }), /^cameras\[0\]\.source\.password_file: cannot read \S+none\.pass \(ENOENT/],
    ['an empty camera password file', config('pass-empty', { camPass: file('empty.pass', '') }), /^cameras\[0\]\.source\.password_file: \S+ is empty/],
    ['a camera password file of two lines', config('pass-two', { camPass: file('two.pass', 'one\ntwo\n') }), /^cameras\[0\]\.source\.password_file: \S+ holds more than one line; expected the secret on one line/],
    ['a directory as a camera password file', config('pass-dir', { camPass: dir }), /^cameras\[0\]\.source\.password_file: cannot read \S+ \(a directory, not a file\)/],
  ];
  for (const [what, path, says] of cases) {
    const r = spawnSync(process.execPath, [CLI, 'run', '--config', path], { encoding: 'utf8', timeout: 20_000 });
    t.equal(r.signal, null, `${what}: run ends (no hang)`);
    t.equal(r.status, 2, `${what}: exit 2 (bad config), not a crash`);
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${what}: one line: ${r.stderr}`);
    t.match(lines[0]!.replace(`${path}: `, ''), says, `${what}: names the setting`);
    t.notMatch(r.stderr, /\n\s+at |hunter2/, `${what}: no stack trace, no secret`);
    t.notOk(existsSync(join(path.replace(/\.yaml$/, '-data'), 'catalog.db')), `${what}: nothing ran (no catalog written)`);
  }
  // check fails on the same words, and ends on a FIFO; /dev/zero is named, not read
  const checked = spawnSync(process.execPath, [CLI, 'check', '--json', '--config', cases[0]![1]], { encoding: 'utf8', timeout: 60_000 });
  const secrets = (JSON.parse(checked.stdout) as Array<{ name: string; ok: boolean; detail: string }>).find((c) => c.name === 'secrets')!;
  t.equal(secrets.ok, false, 'check: the secrets line fails');
  t.match(secrets.detail, /mqtt\.commands\.hmac_secret_file: cannot read \S+nope\.secret/);
  const zero = spawnSync(process.execPath, [CLI, 'check', '--json', '--config', config('zero', { camPass: '/dev/zero' })], { encoding: 'utf8', timeout: 60_000 });
  t.equal(zero.signal, null, '/dev/zero as a password file: check ends');
  t.match(zero.stdout, /a device or socket, not a file/);
});

t.test('a config holding a password inline, readable by every local user: check warns, run and reload log it (check said "secrets readable by the service only": an outside probe)', async (t) => {
  const dir = t.testdir();
  const config = join(dir, 'c.yaml');
  writeFileSync(config, `box: { id: b1 }\nstorage: { path: ${join(dir, 'data')} }\ncameras: [{ id: c1, source: { type: rtsp, url: "rtsp://admin:Inline-Pw1@127.0.0.1:1/x" } }]\nmqtt: { url: "mqtt://127.0.0.1:1", username: nvr, password: "Mqtt-Inline-Pw" }\n`);
  chmodSync(config, 0o644);
  const check = () => spawnSync(process.execPath, [CLI, 'check', '--config', config], { encoding: 'utf8', timeout: 60_000 });
  const loose = check();
  t.match(loose.stdout, new RegExp(`^WARN secrets +the config, holding cameras\\[0\\]\\.source\\.url's password, mqtt\\.password inline: ${config.replace(/[.]/g, '\\.')} is readable by every local user \\(mode 0644\\); expected chmod 0600 .*; or move them to password_file`, 'm'), loose.stdout);
  t.notMatch(loose.stdout + loose.stderr, /Inline-Pw/, 'never the passwords');
  const run = spawnSync(process.execPath, [CLI, 'run', '--config', config, '--duration', '2'], { encoding: 'utf8', timeout: 60_000 });
  t.match(run.stdout, /"level":40,.*the config, holding cameras\[0\]\.source\.url's password, mqtt\.password inline: \S+ is readable by every local user/, 'run logs the same warning');
  t.notMatch(run.stdout + run.stderr, /Inline-Pw/, 'never the passwords');
  // and each reload of a running daemon
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/edge-nvr running/);
  const mark = daemon.output.length;
  const reload = await runCli(['reload', '--config', config]);
  t.equal(reload.code, 0, reload.stdout + reload.stderr);
  t.match(daemon.output.slice(mark), /"level":40,.*the config, holding cameras\[0\]\.source\.url's password, mqtt\.password inline: \S+ is readable by every local user/, 'reload logs it too');
  t.equal((await daemon.stop()).code, 0);
  t.notMatch(daemon.output, /Inline-Pw/, 'never the passwords');
  chmodSync(config, 0o600);
  t.match(check().stdout, /^PASS secrets +the files the config names can be used, secrets readable by the service only/m, '0600: passes');
});
