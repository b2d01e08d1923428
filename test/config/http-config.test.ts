import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigError } from '../../config/errors.js';
import { parseConfig } from '../../config/load.js';
import { runCli } from '../support/cli.js';
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
