import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { CLI } from '../support/cli.js';
import { segmentIndexed, until } from '../support/daemon.js';
import { readUnit } from '../support/unit-file.js';
import { sandboxed } from '../support/unit-sandbox.js';

/**
 * The daemon under edge-nvr.service's own hardening: where systemd does not run as PID 1 (this
 * machine: a container without it), test/support/unit-sandbox.ts applies what the unit says,
 * read from the unit file, with unshare, setpriv and libseccomp. Under it the daemon must
 * record (ffmpeg through setpriv and the RTSP relay, GStreamer in process), reload, and redact
 * (ONNX Runtime), as the service user.
 */
const UID = 64_123; // a service user of its own, with no name on this machine
const VIDEO_GID = 44;
const USER = 'viewer';
const PASSWORD = `Sandbox-${process.pid}`;

interface Run { code: number | null; output: string }

/** `edge-nvr ARGS` in the sandbox (or, with `raw`, any command) */
function inSandbox(dir: string, data: string, command: string[], onOutput?: (s: string) => void, raw = false) {
  const { command: cmd, args } = sandboxed(readUnit(), { uid: UID, gid: UID, groups: [UID, VIDEO_GID], paths: { '/var/lib/edge-nvr': data }, workDir: dir },
    raw ? command : [process.execPath, CLI, ...command]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const add = (d: Buffer) => { output += String(d); onOutput?.(output); };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, output })));
  return { child, done, get output() { return output; } };
}

t.test('under the unit\'s hardening the daemon records (ffmpeg and GStreamer), reloads and redacts', async (t) => {
  const digest = await new CameraSim({ mounts: ['ff'], user: USER, password: PASSWORD, auth: 'digest' }).start();
  t.teardown(() => digest.kill());
  const basic = await new CameraSim({ mounts: ['gst'], user: USER, password: PASSWORD }).start();
  t.teardown(() => basic.kill());
  const dir = t.testdir();
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o750 });
  chownSync(data, UID, UID);
  const secret = join(dir, 'camera.secret');
  writeFileSync(secret, `${PASSWORD}\n`);
  chownSync(secret, 0, UID);
  chmodSync(secret, 0o640);
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'box:', '  id: sandboxed', 'storage:', `  path: ${data}`, '  free_space_floor_mb: 0',
    '  retention:', '    min_days: 0.001', '    below_legal_minimum_reason: test bench',
    'log:', '  level: debug', 'watchdog:', '  backoff_s: [0.5, 1]',
    'cameras:',
    '  - id: ff', '    source:', '      type: rtsp', `      url: ${digest.url('ff', false)}`, `      username: ${USER}`, `      password_file: ${secret}`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 3',
    '  - id: gst', '    source:', '      type: rtsp', `      url: ${basic.url('gst', false)}`, `      username: ${USER}`, `      password_file: ${secret}`,
    '    record:', '      backend: gstreamer', '      segment_seconds: 2', '      timeout_seconds: 3', '',
  ].join('\n'));
  chownSync(config, 0, UID);
  chmodSync(config, 0o640);

  const daemon = inSandbox(dir, data, ['run', '--config', config]);
  t.teardown(() => { daemon.child.kill('SIGKILL'); });
  await until(() => (segmentIndexed('ff').test(daemon.output) && segmentIndexed('gst').test(daemon.output)) || daemon.child.exitCode !== null, 60000,
    'segments of both cameras').catch((err: Error) => { throw new Error(`${err.message}; the daemon said:\n${daemon.output.slice(-3000)}`); });
  t.match(daemon.output, segmentIndexed('ff'), 'ffmpeg (started through setpriv, reading the relay) records');
  t.match(daemon.output, segmentIndexed('gst'), 'GStreamer records in process');
  t.notMatch(daemon.output, /Operation not permitted|EPERM|Address family not supported|Bad system call/, 'no call of the daemon was refused by the sandbox');

  const reload = await inSandbox(dir, data, ['reload', '--config', config]).done;
  t.equal(reload.code, 0, `reload (as ExecReload= runs it) reaches the daemon: ${reload.output}`);

  const input = join(dir, 'messi.jpg');
  copyFileSync('/usr/share/doc/opencv-doc/examples/data/messi5.jpg', input);
  chmodSync(input, 0o644);
  const redact = await inSandbox(dir, data, ['redact', input, join(data, 'exports', 'messi.jpg'), '--reason', 'sandbox', '--config', config, '--json']).done;
  t.equal(redact.code, 0, `redact (ONNX Runtime) works: ${redact.output.slice(-500)}`);
  t.ok(existsSync(join(data, 'exports', 'messi.jpg')), 'and writes into the data dir');
  t.notMatch(redact.output, /cannot set niceness/, 'its decoder and encoder started through nice(1) without a refusal');
  // egress (exports, stills) runs through nice(1) so the recorders keep the CPU: the filter must allow setpriority
  const niceness = async (command: string[]) => Number(/^niceness (-?\d+)$/m.exec((await inSandbox(dir, data, [...command, '/usr/bin/python3', '-c', 'import os; print("niceness", os.nice(0))'], undefined, true).done).output)?.[1]);
  const [base, niced] = [await niceness([]), await niceness(['/usr/bin/nice', '-n', '10'])];
  t.equal(niced - base, 10, `egress processes run niced under the unit's system call filter (${base} -> ${niced})`);

  // the sandbox is real: what the unit forbids fails
  const touch = await inSandbox(dir, data, ['/usr/bin/touch', join(dir, 'outside')], undefined, true).done;
  t.match(touch.output, /Read-only file system/, 'ProtectSystem=strict: the rest of the tree is read-only');
  t.equal((statSync(join(data, 'catalog.db')).mode & 0o777).toString(8), '600', 'UMask=0077: the catalog is the service user\'s alone');
  for (const camera of ['ff', 'gst']) {
    const dirOf = join(data, 'recordings', camera);
    const files = readdirSync(dirOf, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mp4'));
    t.ok(files.length > 0 && files.every((f) => (statSync(join(dirOf, f)).mode & 0o777) === 0o600), `and so are ${camera}'s recordings (${files.length} files, 0600)`);
  }
  const packet = await inSandbox(dir, data, ['/usr/bin/python3', '-c', 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'], undefined, true).done;
  t.match(packet.output, /Address family not supported/, 'RestrictAddressFamilies=: a packet socket is refused by the filter (EAFNOSUPPORT, not the EPERM of a missing capability)');

  daemon.child.kill('SIGTERM');
  const stopped = await daemon.done;
  t.equal(stopped.code, 0, 'SIGTERM stops it cleanly');
});
