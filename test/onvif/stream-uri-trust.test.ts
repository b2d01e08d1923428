import t from 'tap';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { resolveOnvifStream } from '../../recorder/sources/onvif.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until } from '../support/daemon.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';

const USER = 'installer';
const PASSWORD = 'onvif-Trust-never-elsewhere';

/** "Another host" on loopback: 127.0.0.2, an RTSP server that asks every client for credentials and keeps what it gets. */
async function rogueRtsp(t: { teardown(fn: () => unknown): void }) {
  const received: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', (d) => {
      received.push(String(d));
      const cseq = /CSeq: *(\d+)/i.exec(String(d))?.[1] ?? '1';
      s.write(`RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="rogue"\r\nContent-Length: 0\r\n\r\n`);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  const port = (server.address() as { port: number }).port;
  return { url: `rtsp://127.0.0.2:${port}/stream`, received, get connections() { return connections; } };
}

t.test('a stream URI on another host is refused: the credentials never go there, and the camera backs off as unreachable', async (t) => {
  const rogue = await rogueRtsp(t);
  const onvif = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: rogue.url });
  const dir = t.testdir();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + [
    'cameras:', '  - id: gate', '    source:', '      type: onvif', `      host: "${onvif.address}"`, `      username: ${USER}`, `      password: ${PASSWORD}`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 2', '',
  ].join('\n'));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const refused = /cannot resolve the stream URI: ONVIF camera .*points at 127\.0\.0\.2, not at the camera \(127\.0\.0\.1\); refusing it/;
  await until(() => daemon.countLog(refused) >= 3, 30000, 'three refused resolves');
  t.equal(rogue.connections, 0, 'nothing ever connected to the other host');
  t.same(rogue.received, [], 'so it never saw a request, let alone credentials');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const gap = db.prepare("SELECT cause, end_ms FROM gaps WHERE camera = 'gate' ORDER BY id DESC LIMIT 1").get() as { cause: string; end_ms: number | null };
  t.same(gap, { cause: 'camera_unreachable', end_ms: null }, 'an open gap, camera_unreachable');
  t.notMatch(daemon.output, PASSWORD, 'the password is never logged');
  t.equal((await daemon.stop()).code, 0);
});

t.test('only rtsp:// and rtsps:// stream URIs are used', async (t) => {
  const onvif = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'http://127.0.0.1:1/video.mjpg' });
  await t.rejects(resolveOnvifStream({ host: onvif.address, username: USER, password: PASSWORD, timeoutMs: 3000 }),
    /its stream URI is http:\/\/\.\.\., not rtsp:\/\/ or rtsps:\/\/; refusing it/);
  onvif.streamUri = `rtsp://127.0.0.1:8554/main`;
  const ok = await resolveOnvifStream({ host: onvif.address, username: USER, password: PASSWORD, timeoutMs: 3000 });
  t.equal(ok.safeUrl, 'rtsp://***@127.0.0.1:8554/main', 'the camera\'s own host, any port: used, with the credentials folded in');
});

t.test('a host listed in allowed_stream_hosts is recorded', async (t) => {
  const sim = await new CameraSim({ mounts: ['main'], user: USER, password: PASSWORD, address: '127.0.0.2', auth: 'digest' }).start();
  t.teardown(() => sim.kill());
  const onvif = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('main', false) });
  const dir = t.testdir();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + [
    'cameras:', '  - id: gate', '    source:', '      type: onvif', `      host: "${onvif.address}"`, `      username: ${USER}`, `      password: ${PASSWORD}`,
    '      allowed_stream_hosts: [127.0.0.2]', '    record:', '      segment_seconds: 2', '      timeout_seconds: 2', '',
  ].join('\n'));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/segment indexed/, 40000);
  t.match(daemon.output, /"url":"rtsp:\/\/\*\*\*@127\.0\.0\.2:\d+\/main".*onvif stream URI resolved/, 'the streaming host the installer allowed');
  t.equal((await daemon.stop()).code, 0);
});

t.test('discover sends credentials only to the cameras the installer names with --host', async (t) => {
  const picked = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'rtsp://127.0.0.1:8554/a', model: 'Picked Cam' });
  const other = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'rtsp://127.0.0.1:8554/b', model: 'Other Cam' });
  const dir = t.testdir();
  const pw = join(dir, 'onvif.secret');
  writeFileSync(pw, `${PASSWORD}\n`);
  const targets = [picked, other].flatMap((r) => ['--target', `127.0.0.1:${r.discoveryPort}`]);

  const unnamed = await runCli(['discover', ...targets, '--user', USER, '--password-file', pw, '--timeout', '1']);
  t.equal(unnamed.code, 2, 'credentials without --host are refused as bad usage');
  t.match(unnamed.stderr, /need --host HOST/);
  t.same([picked.credentialed, other.credentialed], [[], []], 'and nobody got them');

  const r = await runCli(['discover', ...targets, '--host', picked.address, '--user', USER, '--password-file', pw, '--timeout', '1']);
  t.equal(r.code, 0, `discover exits 0: ${r.stderr}`);
  t.ok(picked.credentialed.length > 0, `the named camera was logged in to (${picked.credentialed.join(', ')})`);
  t.same(other.credentialed, [], 'the other device that answered the probe never saw the credentials');
  t.ok(other.requests.length > 0, 'though it was asked what it tells anyone (its clock)');
  t.match(r.stdout, /Picked Cam .* main +H264/, 'the named camera is listed with its profiles');
  t.match(r.stderr, new RegExp(`ONVIF camera ${other.address.replace(/\./g, '\\.')}: needs credentials; to log in, run again with --host`), 'the other is listed, asking for a --host');
  t.notMatch(r.stdout + r.stderr, PASSWORD);
});
