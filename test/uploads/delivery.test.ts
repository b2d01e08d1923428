/**
 * Delivery to a platform: `cmd/evidence` with an upload target. A real broker, a real daemon, and
 * real HTTPS servers started here with their own CA (the box trusts it through uploads.ca_file).
 * One daemon run, then a kill -9 and a second run:
 * - a target whose host is not allowed is refused, nothing is exported and nothing is sent;
 * - a pre-signed PUT to a server that answers 500 twice is retried with backoff and delivered:
 *   the object's bytes are the box's bundle, and it verifies offline once unpacked;
 * - a server whose certificate the box does not trust gets no request; the upload is given up;
 * - killed mid-upload (the server stalls on the body), the daemon sends it again after its
 *   restart: exactly one complete object arrives;
 * - the signature in the URL and the bearer token appear in no log line, event, reply, audit
 *   entry or CLI listing.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxPublicKey } from '../../common/box-key.js';
import { commandHmac } from '../../daemon/mqtt/commands.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';
import { evidenceBox } from '../support/evidence-box.js';
import { makeCerts, Mosquitto } from '../support/mosquitto.js';
import { UploadServer } from '../support/upload-server.js';
import { Subscriber } from '../mqtt/subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const HMAC = `hmac-${randomBytes(16).toString('hex')}`;
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const sig = () => `SIG${randomBytes(16).toString('hex')}`;

type Reply = { ok: boolean; error?: { code: string; message: string }; result?: { out: string; upload?: { id: number; state: string; destination: string } } };
type UploadEvent = { type: string; data: { upload: number; attempts: number; destination: string; sha256?: string; bytes?: number; error?: string; retry_at_ms?: number; requested_by: string } };

t.test('uploads: allowed hosts only, retried with backoff, across a kill -9, TLS verified, secrets kept', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await evidenceBox(dir, 'test-box');
  const pki = makeCerts(join(dir, 'pki'));
  const rogue = makeCerts(join(dir, 'rogue'));
  const platform = await new UploadServer(pki.serverCert, pki.serverKey).start();
  t.teardown(() => platform.stop());
  platform.bearer = TOKEN;
  const untrusted = await new UploadServer(rogue.serverCert, rogue.serverKey).start();
  t.teardown(() => untrusted.stop());
  const elsewhere = await new UploadServer(pki.serverCert, pki.serverKey).start();
  t.teardown(() => elsewhere.stop());
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  t.teardown(() => broker.stop());

  const secretFile = join(dir, 'hmac.secret');
  writeFileSync(secretFile, `${HMAC}\n`, { mode: 0o600 });
  const tokenFile = join(dir, 'upload.token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const writeBoxConfig = (allowed: UploadServer[]) => writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/cam1', enabled: false }], {
    extraYaml: [
      'mqtt:', `  url: ${broker.url}`, '  commands:', `    hmac_secret_file: ${secretFile}`, '    allowed_clients: [platform]',
      'integrity:', '  verify_read_mb_s: 0',
      'uploads:', `  allowed_hosts: [${allowed.map((s) => `"${s.host}"`).join(', ')}]`, `  ca_file: ${pki.ca}`,
      '  bearer_tokens:', `    - host: "${platform.host}"`, `      token_file: ${tokenFile}`,
      '  retry_s: [0.5, 1]', '  max_attempts: 4', '  timeout_s: 30',
    ].join('\n'),
  });
  const config = writeBoxConfig([platform, untrusted]);
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  let daemon = new DaemonProcess(config).start();
  /** what the daemons before the running one logged */
  let earlierLogs = '';
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/mqtt reporter started/, 60000);
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 30000, 'online');

  const evidence = {
    camera: 'cam1', from_ms: t0 - 1000, to_ms: t0 + 400_000, agency: 'Regional Police', approval: 'Court order 77/2026',
    officers: [{ name: 'Maria Lind', id: 'RP-301' }, { name: 'Omar Sahin', id: 'RP-412' }], reason: 'traffic accident, case 2026-881',
    destination: 'regional police evidence platform',
  };
  let n = 0;
  const send = async (cmd: string, args: Record<string, unknown>): Promise<Reply> => {
    const req: Record<string, unknown> = { id: `up-${++n}`, client: 'platform', nonce: randomBytes(12).toString('hex'), ts: Date.now(), args };
    req.hmac = commandHmac(HMAC, 'test-box', `${PREFIX}/cmd/${cmd}`, req);
    await sub.client.publishAsync(`${PREFIX}/cmd/${cmd}`, JSON.stringify(req), { qos: 1 });
    const reply = await sub.waitFor((m) => m.topic === `${PREFIX}/cmd/${cmd}/reply` && (m.json as { id: string }).id === req.id, 60000, `reply to ${req.id as string}`);
    return reply.json as Reply;
  };
  const uploadEvent = (id: number) => sub.waitFor((m) => m.topic === `${PREFIX}/events` && /^upload_(done|failed)$/.test((m.json as UploadEvent).type)
    && (m.json as UploadEvent).data.upload === id, 60000, `the outcome of upload ${id}`).then((m) => m.json as UploadEvent);
  const secrets = [TOKEN];
  const target = (server: UploadServer, path: string) => {
    const s = sig();
    secrets.push(s);
    return `${server.url(path)}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=${s}`;
  };

  await t.test('a host not allowed is refused before anything is exported or sent', async (t) => {
    const refused = await send('evidence', { ...evidence, upload_url: target(elsewhere, '/case.tar') });
    t.equal(refused.ok, false);
    t.equal(refused.error?.code, 'invalid');
    t.match(refused.error?.message, new RegExp(`upload_url: host ${elsewhere.host} is not in uploads.allowed_hosts`));
    const plain = await send('export', { camera: 'cam1', from_ms: t0, to_ms: t0 + 10_000, reason: 'platform copy', upload_url: `http://${platform.host}/x.tar` });
    t.match(plain.error?.message, /only https:\/\/ targets/, 'plain http is refused');
    t.notOk(existsSync(join(data, 'exports')) && readdirSync(join(data, 'exports')).length, 'nothing exported');
    t.equal(elsewhere.connections, 0, 'the host not allowed was never contacted');
  });

  const presigned = target(platform, '/presigned/case-881.tar');
  platform.failNext.set('/presigned/case-881.tar', 2);
  const first = await send('evidence', { ...evidence, upload_url: presigned });
  const badTls = await send('evidence', { ...evidence, upload_url: target(untrusted, '/case-881.tar') });
  const redacted = send('export', { camera: 'cam1', from_ms: t0, to_ms: t0 + 30_000, reason: 'platform copy, case 2026-881', upload_url: target(platform, '/presigned/export-881.tar') });

  await t.test('a server failing twice: retried with backoff, then delivered whole', async (t) => {
    t.equal(first.ok, true, JSON.stringify(first.error));
    const upload = first.result!.upload!;
    t.same({ state: upload.state, destination: upload.destination }, { state: 'queued', destination: platform.url('/presigned/case-881.tar') }, 'the reply names the queued upload, without the query');
    const done = await uploadEvent(upload.id);
    t.equal(done.type, 'upload_done', JSON.stringify(done.data));
    t.equal(done.data.attempts, 3, 'two 500s, then delivered');
    const tries = platform.requests.filter((r) => r.path === '/presigned/case-881.tar');
    t.same(tries.map((r) => r.status), [500, 500, 201]);
    const retrying = sub.messages.filter((m) => m.topic === `${PREFIX}/events` && (m.json as UploadEvent).type === 'upload_retrying' && (m.json as UploadEvent).data.upload === upload.id)
      .map((m) => (m.json as UploadEvent).data);
    t.same(retrying.map((d) => d.attempts), [1, 2], 'each failed attempt is an upload_retrying event as it happens');
    t.ok(retrying.every((d) => /500/.test(String(d.error)) && Number(d.retry_at_ms) > Date.now() - 60_000), `with the error and when the next attempt is due: ${JSON.stringify(retrying.map((d) => d.error))}`);
    t.ok(tries[1]!.at - tries[0]!.at >= 350 && tries[2]!.at - tries[1]!.at >= 700, `waited between attempts (${tries[1]!.at - tries[0]!.at} ms, ${tries[2]!.at - tries[1]!.at} ms)`);
    t.ok(tries.every((r) => r.authorization === `Bearer ${TOKEN}` && r.query.includes('X-Amz-Signature=')), 'the URL as given, and the host\'s bearer token');
    const object = platform.objects.get('/presigned/case-881.tar')!;
    t.equal(object.puts, 1);
    t.equal(object.sha256, done.data.sha256, 'the server holds the bytes the box sent');
    t.equal(object.body.length, done.data.bytes);
    const unpacked = join(dir, 'received');
    mkdirSync(unpacked);
    writeFileSync(join(dir, 'received.tar'), object.body);
    execFileSync('tar', ['-xf', join(dir, 'received.tar'), '-C', unpacked]);
    const [bundle] = readdirSync(unpacked);
    t.equal(bundle, first.result!.out.split('/').at(-1), 'the archive holds the bundle directory');
    writeFileSync(join(dir, 'box.pem'), boxPublicKey(data)!);
    const verified = await runCli(['verify-evidence', join(unpacked, bundle!), '--key', join(dir, 'box.pem')]);
    t.equal(verified.code, 0, `the delivered bundle verifies offline:\n${verified.stdout.slice(-1500)}`);
  });

  await t.test('a server the CA file does not vouch for gets no request; the upload is given up', async (t) => {
    t.equal(badTls.ok, true, JSON.stringify(badTls.error));
    const failed = await uploadEvent(badTls.result!.upload!.id);
    t.equal(failed.type, 'upload_failed');
    t.equal(failed.data.attempts, 4, 'uploads.max_attempts');
    t.match(failed.data.error, /certificate/);
    t.equal(untrusted.requests.length, 0, 'no HTTP request (no byte of the bundle) reached it');
    const openExports = () => readdirSync(`/proc/${daemon.pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${daemon.pid}/fd/${fd}`); } catch { return ''; } })
      .filter((p) => p.includes('/exports/'));
    await until(() => openExports().length === 0, 5000, 'the failed attempts to close the files they read').catch(() => undefined);
    t.same(openExports(), [], 'every attempt closed the files it read');
  });

  await t.test('a redacted export goes with its signed manifest, one object', async (t) => {
    const reply = await redacted;
    t.equal(reply.ok, true, JSON.stringify(reply.error));
    const done = await uploadEvent(reply.result!.upload!.id);
    t.equal(done.type, 'upload_done', JSON.stringify(done.data));
    const object = platform.objects.get('/presigned/export-881.tar')!;
    t.equal(object.sha256, done.data.sha256);
    const unpacked = join(dir, 'received-export');
    mkdirSync(unpacked);
    writeFileSync(join(dir, 'export.tar'), object.body);
    execFileSync('tar', ['-xf', join(dir, 'export.tar'), '-C', unpacked]);
    const name = reply.result!.out.split('/').at(-1)!;
    t.same(readdirSync(unpacked).sort(), [name, `${name}.manifest.json`], 'the export and its manifest, nothing else');
    // the platform holds the box's public key (registered with the box)
    writeFileSync(join(dir, 'box.pem'), boxPublicKey(data)!);
    const checked = await runCli(['audit', '--manifest', join(unpacked, `${name}.manifest.json`), '--key', join(dir, 'box.pem')]);
    t.match(checked.stdout, /^manifest OK: signature valid with the box's key/);
    t.equal(checked.code, 0, `the manifest's signature and the file's hash hold on the platform's side: ${checked.stdout}`);
  });

  await t.test('killed mid-upload, the daemon sends it again after a restart: one complete object; a host no longer allowed gets nothing', async (t) => {
    platform.stallNext.add('/slow/case-881.tar');
    const slow = await send('evidence', { ...evidence, upload_url: target(platform, '/slow/case-881.tar') });
    t.equal(slow.ok, true, JSON.stringify(slow.error));
    await until(() => platform.requests.some((r) => r.path === '/slow/case-881.tar' && r.status === 'stalled'), 30000, 'the upload under way');
    // queued behind it (one upload at a time), to a host the restarted box no longer allows
    const queuedBehind = await send('evidence', { ...evidence, upload_url: target(untrusted, '/later.tar') });
    t.equal(queuedBehind.ok, true, JSON.stringify(queuedBehind.error));
    daemon.proc!.kill('SIGKILL');
    await daemon.exit();
    earlierLogs += daemon.output;
    writeBoxConfig([platform]);
    const connectionsBefore = untrusted.connections;
    daemon = new DaemonProcess(config).start();
    const dropped = await uploadEvent(queuedBehind.result!.upload!.id);
    t.equal(dropped.type, 'upload_failed');
    t.match(dropped.data.error, /^no longer allowed: host 127\.0\.0\.1:\d+ is not in uploads\.allowed_hosts/, 'the config at the attempt decides');
    t.equal(dropped.data.attempts, 0);
    t.equal(untrusted.connections, connectionsBefore, 'and the host was not contacted');
    const done = await uploadEvent(slow.result!.upload!.id);
    t.equal(done.type, 'upload_done', JSON.stringify(done.data));
    t.equal(done.data.attempts, 2, 'the interrupted attempt counted, the next delivered');
    t.same(platform.requests.filter((r) => r.path === '/slow/case-881.tar').map((r) => r.status), ['stalled', 201]);
    const object = platform.objects.get('/slow/case-881.tar')!;
    t.equal(object.puts, 1, 'exactly one complete object');
    t.equal(object.sha256, done.data.sha256);
    t.ok(earlierLogs.includes('upload queued'), 'the first run logged the upload');
  });

  await t.test('the signature and the token are in no log, event, reply, audit entry or listing', async (t) => {
    const [audit, queue, text, stopped] = await Promise.all([
      runCli(['audit', '--data', data, '--json']), runCli(['uploads', '--data', data, '--json']), runCli(['uploads', '--data', data]), daemon.stop(),
    ]);
    t.equal(stopped.code, 0);
    t.match(text.stdout, /#2 failed .* by mqtt:platform, 4 attempt\(s\) -> https:\/\/127\.0\.0\.1:\d+\/case-881\.tar\n.*given up: .*certificate/, 'the listing, as people read it');
    secrets.forEach((s) => t.notOk(text.stdout.includes(s)));
    const uploads = (JSON.parse(queue.stdout) as { uploads: Array<Record<string, unknown>> }).uploads;
    t.same(uploads.map((u) => [u.id, u.state, u.attempts]), [[5, 'failed', 0], [4, 'done', 2], [3, 'done', 1], [2, 'failed', 4], [1, 'done', 3]], 'edge-nvr uploads lists each with its state and attempts');
    t.ok(uploads.every((u) => !('url' in u) && /^https:\/\/127\.0\.0\.1:\d+\/[^?]*$/.test(String(u.destination))), 'and its destination without the query');
    const entries = (JSON.parse(audit.stdout) as { entries: Array<{ action: string; actor: string; destination: string | null }> }).entries;
    const queued = entries.filter((e) => e.action === 'upload.queued');
    t.equal(queued.length, 5, 'every upload queued is registered');
    t.ok(queued.every((e) => e.actor === 'mqtt:platform' && /^https:\/\/127\.0\.0\.1:\d+\/(([a-z]+\/)?(export-|case-)881|later)\.tar$/.test(e.destination ?? '')), 'with who asked and the destination (host and path)');
    t.ok(entries.some((e) => e.action === 'upload.done') && entries.some((e) => e.action === 'upload.failed'));
    const published = sub.messages.filter((m) => !/\/cmd\/[a-z_-]+$/.test(m.topic)); // the box's own, not the commands sent to it
    const texts = { 'daemon logs': earlierLogs + daemon.output, 'audit': audit.stdout, 'uploads listing': queue.stdout, 'mqtt': published.map((m) => m.text).join('\n') };
    for (const [where, text] of Object.entries(texts)) {
      t.notOk(secrets.some((s) => text.includes(s)), `no secret in the ${where}`);
    }
    t.notOk(texts.mqtt.includes('X-Amz-Signature'), 'no query in any MQTT message the box published');
    t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates against its published schema');
  });
});
