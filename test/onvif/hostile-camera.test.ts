/**
 * A device on the camera network that poses as an ONVIF camera and means harm: it answers
 * WS-Discovery thousands of times or with garbage, names itself with terminal escape sequences
 * and newlines, trickles its answers a byte at a time or never stops sending. The box stays
 * bounded in time and memory, says what happened, and prints nothing the device can steer.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isControl } from '../../common/human.js';
import { describeDevice, resolveOnvifStream } from '../../recorder/sources/onvif.js';
import { soapRequest } from '../../recorder/sources/onvif-soap.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until, within } from '../support/daemon.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';

const USER = 'installer';
const PASSWORD = 'onvif-Hostile-never-printed';
/** clears the screen, paints red, sets the window title, sends a one-byte CSI (C1), then starts a line that reads like ours */
const EVIL = '\x1b[2J\x1b[31mPWNED\x1b]0;title\x07\u009b2J\n  - id: injected\n    source: {type: rtsp, url: "rtsp://10.6.6.6/x"}';

/** An HTTP "camera" whose every answer is `answer(res)`; counts the requests. */
async function hostileHttp(t: { teardown(fn: () => unknown): void }, answer: (res: ServerResponse) => void) {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, get requests() { return requests; } };
}

/** A WS-Discovery responder that answers each probe with `answers(messageId)`. */
async function hostileDiscovery(t: { teardown(fn: () => unknown): void }, answers: (messageId: string) => string[]) {
  const udp = createSocket('udp4');
  udp.on('message', (msg, from) => {
    const id = /MessageID>([^<]*)</.exec(String(msg))?.[1] ?? '';
    for (const a of answers(id)) udp.send(a, from.port, from.address);
  });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.teardown(() => udp.close());
  return `127.0.0.1:${udp.address().port}`;
}

/** Control characters in `text` besides the line ends a command writes itself. */
const controls = (text: string) => [...text].filter((c) => c !== '\n' && isControl(c));

const probeMatch = (id: string, urn: string, xaddr: string) => '<?xml version="1.0"?><s:Envelope><s:Header>'
  + `<a:RelatesTo>${id}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>${urn}</a:Address>`
  + `</a:EndpointReference><d:XAddrs>${xaddr}</d:XAddrs></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`;

t.test('a camera naming itself with escape sequences and newlines: discover prints them escaped, and its snippet holds one camera', async (t) => {
  const cam = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'rtsp://127.0.0.1:8554/main', manufacturer: EVIL, model: EVIL, serial: EVIL });
  const dir = t.testdir();
  const passwordFile = join(dir, 'onvif.secret');
  writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
  const args = ['discover', '--target', `127.0.0.1:${cam.discoveryPort}`, '--host', cam.address, '--user', USER, '--password-file', passwordFile, '--timeout', '1'];
  for (const mode of [[], ['--yaml'], ['--json']]) {
    const out = await runCli([...args, ...mode]);
    t.equal(out.code, 0, `discover ${mode.join(' ')} exits 0: ${out.stderr}`);
    t.match(out.stdout, /PWNED/, 'the camera is listed');
    t.same(controls(out.stdout + out.stderr), [], 'no control character of the camera\'s reaches the terminal');
    if (mode[0] === '--json') {
      // JSON keeps the device's text exact for a program, escaped (\u001b, \u009b) for a terminal
      const found = JSON.parse(out.stdout) as Array<{ info?: { model?: string } }>;
      t.equal(found[0]?.info?.model, EVIL, 'the model name parses back exactly as the camera sent it');
      t.notMatch(out.stdout, PASSWORD, 'the password is never printed');
      continue;
    }
    t.match(out.stdout, '\\x1b[2J\\x1b[31mPWNED', 'its escape sequences are shown, harmless');
    t.notMatch(out.stdout, /^\s*- id: injected/m, 'its newline starts no line of its own');
    t.notMatch(out.stdout + out.stderr, PASSWORD, 'the password is never printed');
    if (mode.length) {
      const cameras = (parse(out.stdout) as { cameras: Array<{ id: string; source: { type: string } }> }).cameras;
      t.same(cameras.map((c) => c.source.type), ['onvif'], 'the pasted snippet holds the one ONVIF camera, nothing the camera wrote');
    }
  }
});

t.test('a camera whose serial is megabytes: the box keeps 128 characters of what it says of itself', async (t) => {
  // a fake camera flipping a 1.5 MB serial grew the audit log (tamper.replaced entries) by 20 MB a minute
  const cam = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'rtsp://127.0.0.1:9/x', serial: 'S'.repeat(1_500_000) });
  const { device } = await describeDevice({ host: cam.address, username: USER, password: PASSWORD, timeoutMs: 5000 });
  t.equal(device.serial, 'S'.repeat(128), 'the serial, cut to 128 characters');
});

t.test('one device answering with a garbage XAddr does not hide the real camera', async (t) => {
  const cam = await startOnvifCamera(t, { streamUri: 'rtsp://127.0.0.1:8554/main', model: 'Real One' });
  const rogue = await hostileDiscovery(t, (id) => [probeMatch(id, 'urn:uuid:rogue', 'http://[::zz/onvif'), probeMatch(id, 'urn:uuid:rogue2', 'javascript:alert(1)')]);
  const out = await runCli(['discover', '--target', rogue, '--target', `127.0.0.1:${cam.discoveryPort}`, '--timeout', '1']);
  t.equal(out.code, 0, `discover exits 0: ${out.stderr}`);
  t.match(out.stdout, cam.address, 'the real camera is listed');
  t.notMatch(out.stdout + out.stderr, /Invalid URL|javascript/, 'the garbage answers are dropped, not fatal');
});

t.test('an answer larger than 16 kB is not read (a real one is 1-2 kB)', async (t) => {
  const cam = await startOnvifCamera(t, { streamUri: 'rtsp://127.0.0.1:8554/main', model: 'Real One' });
  const big = await hostileDiscovery(t, (id) => [probeMatch(id, 'urn:uuid:big', 'http://127.0.0.1:9/onvif') + ' '.repeat(17 * 1024)]);
  const out = await runCli(['discover', '--target', big, '--target', `127.0.0.1:${cam.discoveryPort}`, '--timeout', '1']);
  t.equal(out.code, 0, `discover exits 0: ${out.stderr}`);
  t.match(out.stdout, cam.address, 'the real camera is listed');
  t.notMatch(out.stdout + out.stderr, '127.0.0.1:9 ', 'the oversized answer is not');
});

t.test('a flood of WS-Discovery answers: at most 64 devices are asked, and discover says why the rest were not', async (t) => {
  // 300 endpoint names, each at its own (closed) port: each kept one would be a device to ask
  const flood = await hostileDiscovery(t, (id) => Array.from({ length: 300 }, (_, i) => probeMatch(id, `urn:uuid:flood-${i}`, `http://127.0.0.1:${1 + i}/onvif`)));
  const out = await runCli(['discover', '--target', flood, '--timeout', '2'], { timeoutMs: 30000 });
  t.equal(out.code, 1, 'it still lists what it kept, and exits 1: none of them could be read');
  t.match(out.stderr, /more than 64 devices answered; \d+ further answers ignored/, 'the flood is named');
  const asked = out.stdout.split('\n').filter((l) => /^127\.0\.0\.1:\d+ /.test(l)).length;
  t.equal(asked, 64, 'exactly 64 devices listed (and asked), not 300');
});

t.test('one address is asked once, however many endpoint names answer for it', async (t) => {
  const names = await hostileDiscovery(t, (id) => Array.from({ length: 5 }, (_, i) => probeMatch(id, `urn:uuid:alias-${i}`, 'http://127.0.0.1:1/onvif')));
  const out = await runCli(['discover', '--target', names, '--timeout', '2'], { timeoutMs: 30000 });
  t.equal(out.stdout.split('\n').filter((l) => /^127\.0\.0\.1:1 /.test(l)).length, 1, `one row for the address: ${out.stdout}`);
});

t.test('a camera that trickles its answer a byte at a time is given up on within the timeout', async (t) => {
  const slow = await hostileHttp(t, (res) => {
    res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
    const drip = setInterval(() => res.write(' '), 500);
    res.on('close', () => clearInterval(drip));
  });
  const started = Date.now();
  const settled = await within(resolveOnvifStream({ host: slow.address, username: USER, password: PASSWORD, timeoutMs: 2000 }).then(() => 'resolved', (err: Error) => err.message), 15000);
  t.match(settled, /ONVIF camera 127\.0\.0\.1:\d+: no complete answer within 2 s \(too slow\)/, 'the resolve fails, naming why');
  t.ok(Date.now() - started < 6000, `within about the timeout (${Date.now() - started} ms), not for ever`);
});

t.test('a camera whose answer never ends is cut off at 2 MB', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const endless = await hostileHttp(t, (res) => {
    res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
    // up to 200 MB, as fast as it is read
    const pump = () => {
      while (sent < 3200) if (sent++, !res.write(chunk)) return void res.once('drain', pump);
      res.end();
    };
    res.on('error', () => undefined);
    pump();
  });
  await t.rejects(resolveOnvifStream({ host: endless.address, timeoutMs: 10000 }), /ONVIF camera 127\.0\.0\.1:\d+: an answer larger than 2 MB; refusing it/, 'the onvif package\'s requests');
  t.ok(sent * chunk.length < 16 * 1024 * 1024, `the rest was never read (${Math.round((sent * chunk.length) / 1024 / 1024)} MB sent of 200)`);
  sent = 0;
  await t.rejects(soapRequest({ host: endless.address }, { url: `http://${endless.address}/onvif/events`, action: 'x', body: '', timeoutMs: 10000 }),
    /ONVIF camera 127\.0\.0\.1:\d+: an answer larger than 2 MB; refusing it/, 'our own SOAP requests (events, masks)');
});

t.test('a device whose answers are not ONVIF\'s (another namespace): a message an installer can read, and discover exits 1', async (t) => {
  // the package's TypeError ("Cannot read properties of undefined (reading 'year')") was printed
  // as it was, and discover exited 0 with no camera read (an outside probe)
  const odd = await hostileHttp(t, (res) => {
    res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
    res.end('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:e="urn:evil"><s:Body>'
      + '<e:GetSystemDateAndTimeResponse><e:SystemDateAndTime><e:UTCDateTime><e:Time><e:Hour>99</e:Hour></e:Time></e:UTCDateTime></e:SystemDateAndTime>'
      + '</e:GetSystemDateAndTimeResponse></s:Body></s:Envelope>');
  });
  const message = await resolveOnvifStream({ host: odd.address, timeoutMs: 3000 }).then(() => 'resolved', (err: Error) => err.message);
  t.match(message, new RegExp(`^ONVIF camera ${odd.address}: its answer is not the ONVIF one expected \\(.*\\); is this an ONVIF device service\\?`), 'said so');
  const discovery = await hostileDiscovery(t, (id) => [probeMatch(id, 'urn:uuid:odd', `http://${odd.address}/onvif/device_service`)]);
  const out = await runCli(['discover', '--target', discovery, '--timeout', '1']);
  t.equal(out.code, 1, `discover exits 1: nothing could be read (${out.stderr.trim()})`);
  t.match(out.stderr, 'its answer is not the ONVIF one expected');
});

t.test('a SOAP fault whose reason carries escape sequences and newlines reads as one escaped line', async (t) => {
  const faulty = await hostileHttp(t, (res) => {
    res.writeHead(400, { 'Content-Type': 'application/soap+xml' });
    res.end('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code>'
      + `<s:Reason><s:Text xml:lang="en">${EVIL}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`);
  });
  for (const [what, call] of [
    ['onvif package', () => resolveOnvifStream({ host: faulty.address, timeoutMs: 3000 })],
    ['our own SOAP', () => soapRequest({ host: faulty.address }, { url: `http://${faulty.address}/onvif/events`, action: 'x', body: '', timeoutMs: 3000 })],
  ] as const) {
    const message = await call().then(() => 'resolved', (err: Error) => err.message);
    t.match(message, /PWNED/, `${what}: the reason is reported`);
    t.same([...message].filter(isControl), [], `${what}: without a control character (no newline, no escape)`);
  }
});

t.test('the daemon marks a trickling ONVIF camera down with the reason, again and again, instead of waiting for ever', async (t) => {
  const slow = await hostileHttp(t, (res) => {
    res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
    const drip = setInterval(() => res.write(' '), 500);
    res.on('close', () => clearInterval(drip));
  });
  const dir = t.testdir();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + [
    'cameras:', '  - id: gate', '    source:', '      type: onvif', `      host: "${slow.address}"`, `      username: ${USER}`, `      password: ${PASSWORD}`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 2', '',
  ].join('\n'));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  // one line per resolve given up: the watchdog's restart, which backs off like any failure
  const gaveUp = /"cause":"camera_unreachable","reason":"cannot resolve the stream URI: ONVIF camera [^"]*: no complete answer within 5 s \(too slow\)","restartInMs"/;
  await until(() => daemon.countLog(gaveUp) >= 2, 40000, 'two resolves given up');
  t.match(daemon.output, /"event":"camera_offline","camera":"gate","cause":"camera_unreachable","reason":"cannot resolve[^"]*too slow/, 'the camera is reported offline with the reason');
  t.notMatch(daemon.output, PASSWORD, 'the password is never logged');
  t.equal((await daemon.stop()).code, 0);
});
