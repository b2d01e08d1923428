/**
 * README, evidence: "Over MQTT, `evidence`, `export` and `snapshot` can also deliver the result by
 * HTTPS PUT". delivery.test.ts sends cmd/evidence and cmd/export with an upload_url; this sends
 * cmd/snapshot with one, to a real HTTPS server trusted through uploads.ca_file, from a real
 * daemon and broker, and checks:
 * - the reply carries the snapshot and names the upload queued, its destination without the query;
 * - upload_done follows; the server got one PUT, at the pre-signed URL as given, whose body is a
 *   tar holding exactly the snapshot (the very bytes the box wrote, a JPEG of the camera's picture)
 *   and its signed manifest, which verifies with the box's key on the platform's side;
 * - the upload record (`edge-nvr uploads`) says the snapshot was delivered.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxPublicKey } from '../../common/box-key.js';
import { commandHmac } from '../../daemon/mqtt/commands.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { backdate, makeClip } from '../support/backdate.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, writeConfig } from '../support/daemon.js';
import { makeCerts, Mosquitto } from '../support/mosquitto.js';
import { UploadServer } from '../support/upload-server.js';
import { Subscriber } from '../mqtt/subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const HMAC = `hmac-${randomBytes(16).toString('hex')}`;
const SIG = `SIG${randomBytes(16).toString('hex')}`;

type Reply = {
  ok: boolean; error?: { code: string; message: string };
  result?: { out: string; sha256?: string; upload?: { id: number; state: string; destination: string } };
};
type UploadEvent = { type: string; data: { upload: number; kind: string; attempts: number; destination: string; sha256?: string; bytes?: number; files?: number; error?: string } };
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('cmd/snapshot with upload_url: the redacted snapshot and its manifest reach the HTTPS server; the upload is recorded as delivered', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  {
    const catalog = Catalog.open(data);
    catalog.setMeta('box.id', 'test-box');
    await backdate(data, catalog, makeClip(join(dir, 'clip.mp4'), 2), 'cam1', [Date.now() - 120_000], 2000);
    catalog.close();
  }
  const pki = makeCerts(join(dir, 'pki'));
  const platform = await new UploadServer(pki.serverCert, pki.serverKey).start();
  t.teardown(() => platform.stop());
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  t.teardown(() => broker.stop());
  const secretFile = join(dir, 'hmac.secret');
  writeFileSync(secretFile, `${HMAC}\n`, { mode: 0o600 });
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/cam1', enabled: false }], {
    extraYaml: [
      'mqtt:', `  url: ${broker.url}`, '  commands:', `    hmac_secret_file: ${secretFile}`, '    allowed_clients: [platform]',
      'integrity:', '  verify_read_mb_s: 0',
      'uploads:', `  allowed_hosts: ["${platform.host}"]`, `  ca_file: ${pki.ca}`, '  retry_s: [0.5, 1]', '  max_attempts: 3', '  timeout_s: 30',
    ].join('\n'),
  });
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/mqtt reporter started/, 60000);
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 30000, 'online');

  const path = '/presigned/still-cam1.tar';
  const url = `${platform.url(path)}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=${SIG}`;
  const req: Record<string, unknown> = { id: 'snap-1', client: 'platform', nonce: randomBytes(12).toString('hex'), ts: Date.now(),
    args: { camera: 'cam1', reason: 'platform still, case 2026-990', upload_url: url } };
  req.hmac = commandHmac(HMAC, 'test-box', `${PREFIX}/cmd/snapshot`, req);
  await sub.client.publishAsync(`${PREFIX}/cmd/snapshot`, JSON.stringify(req), { qos: 1 });
  const reply = (await sub.waitFor((m) => m.topic === `${PREFIX}/cmd/snapshot/reply` && (m.json as { id: string }).id === 'snap-1', 90000, 'the snapshot reply')).json as Reply;

  t.equal(reply.ok, true, `the snapshot is taken${reply.error ? `: ${JSON.stringify(reply.error)}` : ''}`);
  const upload = reply.result?.upload;
  t.ok(upload, 'the reply names an upload of the snapshot');
  if (!upload) return;
  t.same({ state: upload.state, destination: upload.destination }, { state: 'queued', destination: platform.url(path) }, 'the reply names the queued upload, without the query');
  const done = (await sub.waitFor((m) => m.topic === `${PREFIX}/events` && /^upload_(done|failed)$/.test((m.json as UploadEvent).type)
    && (m.json as UploadEvent).data.upload === upload.id, 60000, 'the outcome of the upload')).json as UploadEvent;
  t.equal(done.type, 'upload_done', `delivered: ${JSON.stringify(done.data)}`);
  t.equal(done.data.kind, 'snapshot', 'the event says a snapshot was delivered');
  t.equal(done.data.files, 2, 'two files: the snapshot and its manifest');

  const puts = platform.requests.filter((r) => r.path === path);
  t.same(puts.map((r) => r.status), [201], 'one PUT, accepted');
  t.ok(puts[0]!.query.includes(`X-Amz-Signature=${SIG}`), 'at the pre-signed URL as given');
  const object = platform.objects.get(path)!;
  t.ok(object, 'the server holds an object at that path');
  t.equal(object.sha256, done.data.sha256, 'the bytes the box says it sent');
  t.equal(object.body.length, done.data.bytes, 'as many bytes as the box says it sent');

  const unpacked = join(dir, 'received');
  mkdirSync(unpacked);
  writeFileSync(join(dir, 'received.tar'), object.body);
  execFileSync('tar', ['-xf', join(dir, 'received.tar'), '-C', unpacked]);
  const out = reply.result!.out;
  const name = out.split('/').at(-1)!;
  t.match(name, /\.jpg$/, 'the snapshot is a .jpg');
  t.same(readdirSync(unpacked).sort(), [name, `${name}.manifest.json`], 'the tar holds the snapshot and its manifest, nothing else');
  const received = readFileSync(join(unpacked, name));
  const onBox = readFileSync(out.startsWith('/') ? out : join(data, out));
  t.equal(sha256(received), sha256(onBox), 'the body is the snapshot the box wrote, byte for byte');
  t.same([...received.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
  t.equal(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', join(unpacked, name)], { encoding: 'utf8' }).trim(),
    'mjpeg,320,180', 'a picture the size of the camera\'s recording');
  const manifest = JSON.parse(readFileSync(join(unpacked, `${name}.manifest.json`), 'utf8')) as { kind: string; box_id: string; output: { sha256: string } };
  t.same({ kind: manifest.kind, box_id: manifest.box_id, sha256: manifest.output.sha256 }, { kind: 'snapshot', box_id: 'test-box', sha256: sha256(received) },
    'its manifest is a snapshot\'s, of this box, naming the delivered picture\'s hash');
  writeFileSync(join(dir, 'box.pem'), boxPublicKey(data)!);
  const checked = await runCli(['audit', '--manifest', join(unpacked, `${name}.manifest.json`), '--key', join(dir, 'box.pem')]);
  t.equal(checked.code, 0, `the manifest's signature and the picture's hash hold on the platform's side: ${checked.stdout}`);

  t.equal((await daemon.stop()).code, 0, 'a clean stop');
  const listing = await runCli(['uploads', '--data', data, '--json']);
  const rows = (JSON.parse(listing.stdout) as { uploads: Array<Record<string, unknown>> }).uploads;
  t.same(rows.map((u) => ({ id: u.id, kind: u.kind, state: u.state, attempts: u.attempts, destination: u.destination, requested_by: u.requested_by })),
    [{ id: upload.id, kind: 'snapshot', state: 'done', attempts: 1, destination: platform.url(path), requested_by: 'mqtt:platform' }],
    'the upload record: the snapshot, delivered at the first attempt');
  t.notOk(listing.stdout.includes(SIG) || daemon.output.includes(SIG), 'the URL\'s signature is in neither the record nor the log');
});
