import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scrubCredentials, withCredentials } from '../../common/credentials.js';
import type { BackendExit } from '../../recorder/backends/backend.js';
import { FfmpegBackend } from '../../recorder/backends/ffmpeg.js';
import { ownerCheckStats, relayUrl } from '../../recorder/sources/rtsp-relay.js';
import { classifyExit } from '../../watchdog/gap-cause.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed } from '../support/daemon.js';

/**
 * /proc/<pid>/cmdline is readable by every local user. While the box records authenticated
 * cameras (ffmpeg with Digest and with credentials in the URL, GStreamer with Basic) and an
 * installer probes one, every process on the machine is read over and over: the password must
 * never show up in a command line, nor in the environment of anything the daemon started.
 */

interface Seen { pid: number; cmdline: string }

function readProc(pid: string, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** pid -> parent pid, for every process now */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const stat = readProc(pid, 'stat');
    if (stat) out.set(Number(pid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  return out;
}

function descendantsOf(root: number): number[] {
  const parent = parents();
  const out: number[] = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) { out.push(pid); break; }
  }
  return out;
}

t.test('recording and probing authenticated cameras: no password in any command line, any child environment or the log', async (t) => {
  const PASSWORD = `Cmd-${randomBytes(6).toString('hex')}`;
  const digest = await new CameraSim({ mounts: ['d'], user: 'viewer', password: PASSWORD, auth: 'digest' }).start();
  t.teardown(() => digest.kill());
  const basic = await new CameraSim({ mounts: ['b', 'g'], user: 'viewer', password: PASSWORD }).start();
  t.teardown(() => basic.kill());
  const dir = t.testdir();
  const pwFile = join(dir, 'camera.secret');
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'box:', '  id: test-box', 'storage:', `  path: ${join(dir, 'data')}`, '  free_space_floor_mb: 0',
    '  retention:', '    min_days: 0.001', '    below_legal_minimum_reason: test bench',
    'log:', '  level: debug', 'watchdog:', '  backoff_s: [0.5, 1]',
    'cameras:',
    '  - id: ff-digest', '    source:', '      type: rtsp', `      url: ${digest.url('d', false)}`, '      username: viewer', `      password_file: ${pwFile}`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 3',
    // credentials written into the URL itself, as many installers do
    '  - id: ff-inline', '    source:', '      type: rtsp', `      url: "${basic.url('b')}"`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 3',
    '  - id: gst-basic', '    source:', '      type: rtsp', `      url: ${basic.url('g', false)}`, '      username: viewer', `      password_file: ${pwFile}`,
    '    record:', '      backend: gstreamer', '      segment_seconds: 2', '      timeout_seconds: 3', '',
  ].join('\n'));

  const leaks: Seen[] = [];
  const envLeaks: Seen[] = [];
  const recorders = new Map<number, string>();
  const probes = new Map<number, string>();
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const ours = new Set(descendantsOf(daemon.pid));
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        const cmdline = readProc(pid, 'cmdline')?.replace(/\0/g, ' ');
        if (!cmdline) continue;
        if (cmdline.includes(PASSWORD)) leaks.push({ pid: Number(pid), cmdline });
        if (/^ffmpeg /.test(cmdline) && cmdline.includes(dir)) recorders.set(Number(pid), cmdline);
        // the installer's probe of the Digest camera (other ffprobes on this machine are not ours)
        if (/^ffprobe .*rtsp:\/\//.test(cmdline) && (cmdline.includes(`:${digest.port}/`) || /\/[0-9a-f]{32}\/d /.test(cmdline))) probes.set(Number(pid), cmdline);
        if (ours.has(Number(pid)) && readProc(pid, 'environ')?.includes(PASSWORD)) envLeaks.push({ pid: Number(pid), cmdline });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  for (const camera of ['ff-digest', 'ff-inline', 'gst-basic']) await daemon.waitForLog(segmentIndexed(camera), 45000);
  // an installer probing a camera at the same time: ffprobe is a child of the CLI, not the daemon
  const probe = await runCli(['probe', digest.url('d', false), '--user', 'viewer', '--password-file', pwFile, '--seconds', '2', '--json']);
  watching = false;
  await watcher;

  t.equal(probe.code, 0, `probe reads the Digest camera: ${probe.stderr}`);
  t.equal(JSON.parse(probe.stdout).video.codec, 'h264');
  t.same(leaks, [], 'no command line on the machine held the password');
  t.same(envLeaks, [], 'no process the daemon started held it in its environment');
  t.ok(recorders.size >= 2, `both ffmpeg recorders were seen (${recorders.size})`);
  for (const cmdline of recorders.values()) {
    t.match(cmdline, /-i rtsp:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\//, `ffmpeg reads the loopback relay: ${cmdline.replace(/ -f segment.*/, '')}`);
    t.notMatch(cmdline, new RegExp(`:${digest.port}/|:${basic.port}/`), 'never the camera itself');
  }
  t.ok(probes.size >= 1, 'the probe\'s ffprobe was seen');
  for (const cmdline of probes.values()) t.match(cmdline, /rtsp:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/d /, 'ffprobe reads the relay, without userinfo');
  t.notMatch(daemon.output + probe.stdout + probe.stderr, PASSWORD, 'nor did the log or the CLI output');
  const { code } = await daemon.stop();
  t.equal(code, 0);
});

t.test('the relay serves its own user only, and only for the URLs it handed out', async (t) => {
  const PASSWORD = `Relay-${randomBytes(6).toString('hex')}`;
  const cam = await new CameraSim({ mounts: ['r'], user: 'viewer', password: PASSWORD, auth: 'digest' }).start();
  t.teardown(() => cam.kill());
  const relayed = await relayUrl(cam.url('r'), { connectTimeoutMs: 3000 });
  t.teardown(() => relayed.close());
  t.match(relayed.url, /^rtsp:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/r$/, 'a loopback URL without credentials');
  // asynchronous: the relay runs in this very process
  const ffprobe = (url: string, asUser?: number) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const args = ['-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '3000000', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', url];
    execFile(asUser === undefined ? 'ffprobe' : 'setpriv',
      asUser === undefined ? args : ['--reuid', String(asUser), '--regid', String(asUser), '--clear-groups', 'ffprobe', ...args],
      { timeout: 20000 }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });

  const own = await ffprobe(relayed.url);
  t.equal(own.status, 0, `this user reads the camera through it: ${own.stderr}`);
  t.match(own.stdout, /h264/);
  const other = await ffprobe(relayed.url, 65534);
  t.not(other.status, 0, 'another local user (nobody) who read the URL is refused');
  t.notMatch(other.stdout, /h264/, 'and gets no video');
  // Another user borrowing the ports of this user's connection to the relay (an outside probe got
  // the camera so: the relay matched the socket table on ports alone): from 127.0.0.2, with the
  // same source port, a DESCRIBE with the real token; for 16 connections of this user, since the
  // table's order decided which entry the old lookup found first
  const [, relayPort, token] = /:(\d+)\/([0-9a-f]{32})\//.exec(relayed.url)!;
  const mine = await Promise.all(Array.from({ length: 16 }, async () => {
    const s = connect(Number(relayPort), '127.0.0.1');
    await once(s, 'connect');
    return s;
  }));
  t.teardown(() => { for (const s of mine) s.destroy(); });
  const borrowed = await new Promise<string>((resolve) => execFile('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '/usr/bin/python3', '-c', `
import socket, sys
for port in [${mine.map((s) => s.localPort).join(', ')}]:
    s = socket.socket()
    s.settimeout(5)
    try:
        s.bind(('127.0.0.2', port))
        s.connect(('127.0.0.1', ${relayPort}))
        s.sendall(b'DESCRIBE rtsp://127.0.0.1:${relayPort}/${token}/r RTSP/1.0\\r\\nCSeq: 1\\r\\nAccept: application/sdp\\r\\n\\r\\n')
        print(port, repr(s.recv(4096).decode('latin-1')) or 'closed')
    except Exception as e:
        print(port, 'error', e)
    s.close()
`], { timeout: 60000 }, (err, stdout, stderr) => resolve(`${stdout}${stderr}${err && !stdout ? err.message : ''}`)));
  t.equal(borrowed.trim().split('\n').length, 16, `16 tries from 127.0.0.2 with this user's source ports: ${borrowed.trim().split('\n')[0]}`);
  t.notMatch(borrowed, /RTSP\/1\.0 200/, 'another user connecting from this user\'s source port is refused, every time');
  t.notMatch(borrowed, /m=video/, 'and gets no description of the camera');
  const guessed = await ffprobe(relayed.url.replace(/\/[0-9a-f]{32}\//, `/${'0'.repeat(32)}/`));
  t.not(guessed.status, 0, 'a token it did not hand out is refused');
  t.match(guessed.stderr, /404/, 'with 404 Not Found');

  // Reading the socket table costs the kernel about 1.6 ms per thousand sockets, and any local
  // user can open thousands and connect in a loop: a connection without a token it was handed
  // never has the table read, and the reads run one at a time, off the event loop
  const readsBefore = ownerCheckStats.reads;
  const ask = (path: string) => new Promise<string>((resolve) => {
    const s = connect(Number(relayPort), '127.0.0.1', () => s.write(`DESCRIBE rtsp://127.0.0.1:${relayPort}/${path} RTSP/1.0\r\nCSeq: 1\r\n\r\n`));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); if (/\r\n\r\n/.test(got)) s.destroy(); });
    s.on('error', () => undefined);
    s.on('close', () => resolve(got.split('\r\n')[0] || 'closed'));
  });
  const strangers = await Promise.all(Array.from({ length: 100 }, (_, i) => ask(i % 2 ? `${randomBytes(16).toString('hex')}/r` : 'r')));
  t.same([...new Set(strangers)], ['RTSP/1.0 404 Not Found'], '100 connections without a token handed out: 404 each');
  t.equal(ownerCheckStats.reads, readsBefore, 'and the socket table was never read for them');
  const rush = await Promise.all(Array.from({ length: 30 }, () => ask(`${token}/r`)));
  t.equal(ownerCheckStats.mostAtOnce, 1, 'owner checks run one at a time');
  t.ok(ownerCheckStats.reads - readsBefore <= 30, `${ownerCheckStats.reads - readsBefore} reads for 30 connections`);
  // each admitted: relayed to the camera, which answers (the simulator refuses some of 30 at once: 503)
  t.ok(rush.every((l) => /^RTSP\/1\.0 (200|503) /.test(l)), `30 connections at once, each relayed to the camera: ${[...new Set(rush)].join(', ')}`);

  relayed.close();
  const closed = await ffprobe(relayed.url);
  t.not(closed.status, 0, 'a closed lease serves nobody');
});

t.test('through the relay, a recorder still says why the camera failed (and the gap cause follows)', async (t) => {
  const PASSWORD = `Why-${randomBytes(6).toString('hex')}`;
  const cam = await new CameraSim({ mounts: ['w'], user: 'viewer', password: PASSWORD, auth: 'digest' }).start();
  t.teardown(() => cam.kill());
  const staging = mkdtempSync(join(tmpdir(), 'edge-nvr-relay-'));
  t.teardown(() => rmSync(staging, { recursive: true, force: true }));
  const exitOf = async (url: string): Promise<BackendExit> => {
    const backend = new FfmpegBackend({ camera: 'w', url, safeUrl: scrubCredentials(url), stagingDir: staging, segmentSeconds: 2, timeoutSeconds: 3 });
    const exited = once(backend, 'exit') as Promise<[BackendExit]>;
    backend.start();
    const [exit] = await exited;
    await backend.stop();
    return exit;
  };
  const wrong = await exitOf(withCredentials(cam.url('w', false), 'viewer', 'not-the-password'));
  t.match(wrong.reason, /refused the credentials \(401/, `a wrong password: ${wrong.reason}`);
  t.equal(classifyExit(wrong, { hadMedia: false, msSinceMedia: 0, stallMs: 3000 }), 'camera_unreachable');
  const closedPort = await exitOf(withCredentials('rtsp://127.0.0.1:9/w', 'viewer', PASSWORD));
  t.match(closedPort.reason, /connection refused/, `nothing listening: ${closedPort.reason}`);
  t.equal(classifyExit(closedPort, { hadMedia: false, msSinceMedia: 0, stallMs: 3000 }), 'camera_unreachable');
  t.notMatch(wrong.reason + closedPort.reason, PASSWORD);
});
