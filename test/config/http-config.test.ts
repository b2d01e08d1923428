import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigError } from '../../config/errors.js';
import { parseConfig } from '../../config/load.js';
import { httpReady } from '../../daemon/commands/check.js';
import { CLI, runCli } from '../support/cli.js';
import { makeCerts } from '../support/mosquitto.js';
import { writeConfig } from '../support/daemon.js';

t.test('plain HTTP is for loopback unless the config says why', async (t) => {
  const dir = t.testdir();
  const base = readFileSync(writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:1/x' }]), 'utf8');
  const issues = (http: string) => {
    try {
      parseConfig(base + http, 'config.yaml');
      return [];
    } catch (err) {
      return (err as ConfigError).issues;
    }
  };
  const open = issues('http:\n  listen: 0.0.0.0:8080\n  metrics_listen: 192.168.1.5:9464\n');
  t.match(open, [/^http\.listen: 0\.0\.0\.0 is reachable from the network and there is no TLS; expected a loopback address/, /^http\.metrics_listen: 192\.168\.1\.5 is reachable/]);
  t.same(issues('http:\n  listen: 127.0.0.1:8080\n  metrics_listen: "[::1]:9464"\n'), [], 'loopback, IPv4 and IPv6, needs no TLS');
  t.same(issues('http:\n  listen: 0.0.0.0:8443\n  cert_file: /c.pem\n  key_file: /k.pem\n'), [], 'TLS may listen everywhere');
  t.match(issues('http:\n  listen: 127.0.0.1:8080\n  cert_file: /x.pem\n'), [/^http\.key_file: missing while cert_file is set/]);
  t.match(issues('http:\n  listen: 127.0.0.1:8080\n  metrics_listen: 127.0.0.1:8080\n'), [/^http\.metrics_listen: the same address as http\.listen/]);
  t.match(issues('http:\n  listen: 127.0.0.1:70000\n'), [/^http\.listen: port 70000 does not exist/]);
  t.match(issues('http:\n  listen: localhost\n'), [/^http\.listen: expected host:port of the status web page/]);
  t.same(issues('http:\n  listen: 0.0.0.0:8080\n  plain_http_reason: isolated camera VLAN, no route out\n'), [], 'a stated reason is accepted');
  // and an installer sees it from the CLI, exit 2
  writeFileSync(join(dir, 'open.yaml'), base + 'http:\n  listen: 0.0.0.0:8080\n');
  const r = await runCli(['check', '--config', join(dir, 'open.yaml')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /open\.yaml: http\.listen: 0\.0\.0\.0 is reachable from the network/);
});

t.test('check: the page needs a readable certificate and a user who can log in', async (t) => {
  const dir = t.testdir();
  const text = readFileSync(writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:1/x' }]), 'utf8');
  const ctx = (http: string) => ({ config: parseConfig(text + http, 'config.yaml'), configPath: 'config.yaml' });
  t.match(await httpReady(ctx('')), { ok: true, detail: 'no status page or metrics configured' });
  t.match(await httpReady(ctx('http:\n  metrics_listen: 127.0.0.1:9464\n')), { ok: true, detail: 'metrics http://127.0.0.1:9464/metrics' });
  const none = await httpReady(ctx('http:\n  listen: 127.0.0.1:8080\n'));
  t.match(none, { ok: false, detail: /nobody can log in to the page; add a user: edge-nvr user add NAME --role viewer/ });
  const missing = await httpReady(ctx(`http:\n  listen: 0.0.0.0:8443\n  cert_file: ${join(dir, 'none.pem')}\n  key_file: ${join(dir, 'none.key')}\n`));
  t.match(missing, { ok: false, detail: /^http\.cert_file: cannot read .*none\.pem \(ENOENT: no such file\)/ });
  mkdirSync(join(dir, 'data'), { recursive: true });
  t.equal((await runCli(['user', 'add', 'ana', '--role', 'viewer', '--data', join(dir, 'data')], { input: 'a-long-password\n' })).code, 0);
  t.match(await httpReady(ctx('http:\n  listen: 127.0.0.1:8080\n')), { ok: true, detail: /^page http:\/\/127\.0\.0\.1:8080; 1 user in .*users\.json$/ });
  // a users file others may read: the daemon lets nobody log in, and check says so before it starts
  chmodSync(join(dir, 'data', 'users.json'), 0o644);
  t.match(await httpReady(ctx('http:\n  listen: 127.0.0.1:8080\n')), { ok: false, detail: /users\.json: the users file may be read by other users \(mode 0644\): nobody can log in until it is fixed; chmod 0600/ }, 'a users file others may read fails the check');
  chmodSync(join(dir, 'data', 'users.json'), 0o600);
  // a pair the daemon could not serve with fails here too (the page and metrics never came up, check said ok)
  const certs = makeCerts(join(dir, 'certs'));
  const tlsYaml = (cert: string, key: string) => `http:\n  listen: 0.0.0.0:8443\n  cert_file: ${cert}\n  key_file: ${key}\n`;
  const good = await httpReady(ctx(tlsYaml(certs.serverCert, certs.serverKey)));
  t.match(good, { ok: true, detail: /^page https:\/\/0\.0\.0\.0:8443; 1 user in .*users\.json; certificate valid until \d{4}-\d\d-\d\d$/ }, 'the server\'s own pair passes');
  t.notOk(good.warn, 'no metrics: nothing to warn of');
  // the metrics have no login: on the network (allowed under TLS) a warning says who can read them (an outside probe: nothing did)
  const metricsOut = await httpReady(ctx(`${tlsYaml(certs.serverCert, certs.serverKey)}  metrics_listen: 0.0.0.0:9464\n`));
  t.match(metricsOut, { ok: true, warn: true, detail: /the metrics have no login and listen on 0\.0\.0\.0:9464: anyone who reaches it reads the box id, its cameras and which are down/ }, 'metrics on the network: a warning');
  t.match(await httpReady(ctx(tlsYaml(certs.serverCert, certs.clientKey))), { ok: false, detail: /^http\.key_file: .*client\.key is not the key of the certificate in http\.cert_file \(.*key values mismatch\); give the key that certificate was made for$/ }, 'another certificate\'s key');
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a pem\n');
  t.match(await httpReady(ctx(tlsYaml(garbage, certs.serverKey))), { ok: false, detail: /^http\.cert_file: .*garbage\.pem holds no PEM certificate/ }, 'a file that is no certificate');
  t.match(await httpReady(ctx(tlsYaml(certs.serverCert, garbage))), { ok: false, detail: /^http\.key_file: .*garbage\.pem holds no usable PEM private key/ }, 'a file that is no key');
  // made valid for one day in 2020 (libfaketime): expired
  const old = (f: string) => join(dir, 'certs', f);
  // faketime starts the clock there and lets it run: openssl on a loaded machine signs a second or more later
  execFileSync('faketime', ['2020-01-01 00:00:00', 'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', old('old.key'), '-out', old('old.crt'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'pipe' });
  t.match(await httpReady(ctx(tlsYaml(old('old.crt'), old('old.key')))), { ok: false, detail: /^http\.cert_file: the certificate in .*old\.crt expired on 2020-01-02T00:00:0\d\.000Z; browsers will refuse the page: renew it$/ }, 'an expired certificate');
});

// an outside probe: run by a user who may not look into the data dir, check said "nobody can
// log in" (existsSync is false on EACCES) while users.json held users
t.test('check as a user who may not look into the data dir: permission denied, not "nobody can log in"', { skip: process.getuid?.() !== 0 && 'needs root to run check as nobody' }, async (t) => {
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:1/x' }], { extraYaml: 'http:\n  listen: 127.0.0.1:8080\n' });
  mkdirSync(join(dir, 'data'));
  t.equal((await runCli(['user', 'add', 'ana', '--role', 'viewer', '--data', join(dir, 'data')], { input: 'a-long-password\n' })).code, 0);
  chmodSync(join(dir, 'data'), 0o700);
  let out = '';
  try {
    execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, CLI, 'check', '--config', config], { stdio: 'pipe' });
  } catch (err) {
    out = String((err as { stdout: Buffer }).stdout);
  }
  t.match(out, new RegExp(`^FAIL http +cannot look into ${join(dir, 'data')}: permission denied; run the command as the service user or root`, 'm'));
  t.notMatch(out, 'nobody can log in');
});
