/**
 * What the box accepts as an upload target, and the `uploads` config's own errors: no daemon,
 * the config parser and the target check the daemon uses.
 */
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { Uploader } from '../../uploads/uploader.js';
import { retryAfterMs } from '../../uploads/https-put.js';
import { until } from '../support/daemon.js';
import { makeCerts } from '../support/mosquitto.js';
import { UploadServer } from '../support/upload-server.js';
import { ConfigError } from '../../config/errors.js';
import { parseConfig } from '../../config/load.js';
import { configFileIssues } from '../../config/secret-files.js';
import { checkTarget, TargetError } from '../../uploads/target.js';

const base = (uploads: string) => `box: { id: site1 }
storage: { path: /tmp/edge-nvr-uploads-test }
cameras:
  - id: cam1
    source: { type: test }
uploads:
${uploads}`;

const errors = (text: string) => {
  try {
    parseConfig(text, 'config.yaml');
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
};

t.test('config errors name the field and the fix', async (t) => {
  t.match(errors(base('  allowed_hosts: [store.example.com]\n  bearer_tokens: [{ host: other.example.com, token_file: /x }]')),
    [/^uploads\.bearer_tokens\[0\]\.host: "other\.example\.com" is not in uploads\.allowed_hosts; expected one of "store\.example\.com", or add it to allowed_hosts$/]);
  t.match(errors(base('  allowed_hosts: []')), [/^uploads\.allowed_hosts: /], 'at least one host');
  t.match(errors(base('  allowed_hosts: ["https://store.example.com/"]')), [/^uploads\.allowed_hosts\[0\]: /], 'a host, not a URL');
  t.same(errors(base('  allowed_hosts: ["Store.Example.com:443"]\n  bearer_tokens: [{ host: store.example.com, token_file: /x }]')), [], 'the same host, written otherwise');
});

t.test('a bearer token file other users can read is refused like every secret file', async (t) => {
  const dir = t.testdir();
  const token = join(dir, 'upload.token');
  writeFileSync(token, 'token\n', { mode: 0o644 });
  const config = parseConfig(base(`  allowed_hosts: [store.example.com]\n  bearer_tokens: [{ host: store.example.com, token_file: ${token} }]`), 'config.yaml');
  t.match(configFileIssues(config, dir).errors, [new RegExp(`^uploads\\.bearer_tokens\\[0\\]\\.token_file: ${token} is readable by every local user`)]);
});

t.test('targets: https only, no userinfo, an allowed host and port; the shown destination has no query', async (t) => {
  const uploads = parseConfig(base('  allowed_hosts: [store.example.com, "10.0.0.5:8443"]\n  bearer_tokens: [{ host: "10.0.0.5:8443", token_file: /x }]'), 'c').uploads;
  const ok = checkTarget('https://STORE.example.com:443/bucket/case.tar?X-Amz-Signature=abc', uploads);
  t.same({ destination: ok.destination, host: ok.host, tokenFile: ok.tokenFile }, { destination: 'https://store.example.com/bucket/case.tar', host: 'store.example.com', tokenFile: undefined });
  t.equal(checkTarget('https://10.0.0.5:8443/in', uploads).tokenFile, '/x', 'the host\'s bearer token');
  const refused = (url: string) => {
    let error: unknown;
    try { checkTarget(url, uploads); } catch (err) { error = err; }
    t.ok(error instanceof TargetError, `${url} refused: ${(error as Error | undefined)?.message}`);
  };
  refused('https://10.0.0.5/in');
  refused('https://store.example.com:8443/in');
  refused('https://store.example.com.evil.example/in');
  refused('http://store.example.com/in');
  refused('https://user:pw@store.example.com/in');
  refused('not a url');
  t.throws(() => checkTarget('https://store.example.com/in', undefined), /uploads are not configured/);
});

/**
 * An uploader in this process, over a real catalog with one snapshot export to send: `uploads`
 * is the config's uploads section (indented two spaces); its events are collected.
 */
function uploaderBox(t: Test, dir: string, uploads: string) {
  const config = parseConfig(`box: { id: site1 }
storage: { path: ${join(dir, 'data')} }
cameras:
  - id: cam1
    source: { type: test }
uploads:
${uploads}`, 'config.yaml');
  const catalog = Catalog.open(join(dir, 'data'));
  t.teardown(() => catalog.close());
  const file = join(dir, 'data', 'exports', 'snap.jpg');
  mkdirSync(join(dir, 'data', 'exports'), { recursive: true });
  writeFileSync(file, 'jpeg');
  writeFileSync(`${file}.manifest.json`, '{}');
  const events: Array<{ type: string; data: Record<string, unknown> }> = [];
  const uploader = new Uploader({
    catalog, dataDir: join(dir, 'data'), config: () => config, log: pino({ level: 'silent' }), registerSecret: () => undefined,
    raise: (type, _camera, data) => { events.push({ type, data: data as Record<string, unknown> }); },
  }).start();
  t.teardown(() => uploader.stop());
  const send = (url: string) => uploader.enqueue(uploader.check(url), { kind: 'snapshot', camera: 'cam1', source: file, requested_by: 'test', request_id: null });
  return { events, send };
}

t.test('a token file loosened after the config was checked is not used: the attempt fails naming the fix', async (t) => {
  const dir = t.testdir();
  const pki = makeCerts(join(dir, 'pki'));
  const server = await new UploadServer(pki.serverCert, pki.serverKey).start();
  t.teardown(() => server.stop());
  const token = join(dir, 'upload.token');
  writeFileSync(token, 'tok-rotated\n', { mode: 0o600 });
  // a rotation that left the file readable by every local user
  chmodSync(token, 0o644);
  const { events, send } = uploaderBox(t, dir, `  allowed_hosts: ["${server.host}"]\n  ca_file: ${pki.ca}\n  bearer_tokens: [{ host: "${server.host}", token_file: ${token} }]\n`);
  send(server.url('/bucket/snap.tar'));
  await until(() => events.some((e) => e.type === 'upload_retrying'), 10000, 'the attempt');
  t.match(events.find((e) => e.type === 'upload_retrying')!.data.error, /token_file: .* is readable by every local user \(mode 0644\); expected chmod 0600/);
  t.equal(server.requests.length, 0, 'the server got no request');
});

t.test('a server answering 503 with Retry-After is left alone that long, never past max_age_h', async (t) => {
  t.equal(retryAfterMs('120'), 120_000, 'seconds');
  t.equal(retryAfterMs(new Date(Date.now() + 60_000).toUTCString())! > 50_000, true, 'an HTTP date');
  t.equal(retryAfterMs('soon'), undefined, 'unreadable');
  t.equal(retryAfterMs(new Date(Date.now() - 60_000).toUTCString()), undefined, 'in the past');

  const dir = t.testdir();
  const pki = makeCerts(join(dir, 'pki'));
  let asked = 0;
  const server = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (req, res) => {
    asked++;
    req.resume();
    req.on('end', () => { res.writeHead(503, 'Slow Down', { 'Retry-After': asked === 1 ? '600' : '999999' }).end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { events, send } = uploaderBox(t, dir, `  allowed_hosts: ["${host}"]\n  ca_file: ${pki.ca}\n  retry_s: [0.1]\n  max_age_h: 1\n`);
  const retries = () => events.filter((e) => e.type === 'upload_retrying').map((e) => e.data as { retry_at_ms: number });
  send(`https://${host}/bucket/snap.tar`);
  await until(() => retries().length === 1, 10000, 'the first attempt');
  const waited = retries()[0]!.retry_at_ms - Date.now();
  t.ok(waited > 590_000 && waited <= 600_000, `the next attempt in ${Math.round(waited / 1000)} s, as asked (retry_s says 0.1 s)`);
  // a server asking for 11 days is given at most what is left of max_age_h (a second upload)
  send(`https://${host}/bucket/snap2.tar`);
  await until(() => retries().length === 2, 10000, 'the second upload\'s attempt');
  const capped = retries()[1]!.retry_at_ms - Date.now();
  t.ok(capped > 3_500_000 && capped <= 3_601_000, `then in ${Math.round(capped / 1000)} s: no later than max_age_h`);
  t.equal(asked, 2);
});
