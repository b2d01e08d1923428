import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RESPONDER = fileURLToPath(new URL('../../dist/test/support/onvif-responder.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/daemon/cli.js', import.meta.url));

/**
 * The real multicast path (239.255.255.250:3702) of `discover`, inside a fresh network namespace
 * whose only interface is its own loopback: nothing can reach a real network.
 */
const child = `
import { execFile } from 'node:child_process';
const { OnvifResponder } = await import(${JSON.stringify(RESPONDER)});
const r = await new OnvifResponder({ host: '127.0.0.1', discoveryPort: 3702, multicast: true, streamUri: 'rtsp://127.0.0.1:1/x', model: 'Multicast Cam' }).start();
const out = await new Promise((res) => execFile(process.execPath, [${JSON.stringify(CLI)}, 'discover', '--interface', 'lo', '--timeout', '1'],
  (err, stdout, stderr) => res({ code: err ? err.code : 0, stdout, stderr })));
await r.stop();
process.stdout.write(JSON.stringify(out));
`;

t.test('discover finds a camera by WS-Discovery multicast (in a private network namespace)', async (t) => {
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" --input-type=module -e "$1"';
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn('unshare', ['-n', 'sh', '-c', setup, process.execPath, child], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += String(d); });
    p.stderr.on('data', (d) => { stderr += String(d); });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  t.equal(result.code, 0, `the namespace ran: ${result.stderr}`);
  const out = JSON.parse(result.stdout) as { code: number; stdout: string; stderr: string };
  t.equal(out.code, 0, `discover exits 0: ${out.stderr}`);
  t.match(out.stdout, /^127\.0\.0\.1:\d+ +edge-nvr Multicast Cam .* main +H264 640x360/m, 'the camera answered the multicast probe');
});
