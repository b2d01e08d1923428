/**
 * A malicious RTSP server behind the relay (recorder/sources/rtsp-relay.ts): a camera URL with
 * credentials goes through the relay, so the "camera" controls every byte the relay reads. Each
 * case asks for credentials first (as cameras do), then misbehaves. The relay stays bounded,
 * the tool fails with a clear reason and no password, and no credentials go to another host.
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { isControl } from '../../common/human.js';
import { probeStream } from '../../daemon/commands/probe.js';
import { rtspParserStats } from '../../recorder/sources/rtsp-messages.js';
import { countConcat } from '../support/count-concat.js';
import { within } from '../support/daemon.js';

const PASSWORD = 'rtsp-Hostile-never-sent-elsewhere';

/** A TCP server on `host` that logs what it reads; `reply` answers each chunk. */
async function rtspServer(t: { teardown(fn: () => unknown): void }, host: string, reply: (s: Socket, text: string, cseq: string, authorized: boolean) => void) {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', (d) => {
      const text = String(d);
      received.push(text);
      reply(s, text, /CSeq: *(\d+)/i.exec(text)?.[1] ?? '1', /Authorization:/i.test(text));
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { port: (server.address() as { port: number }).port, received };
}

const challenge = (cseq: string, reason = 'Unauthorized') =>
  `RTSP/1.0 401 ${reason}\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Digest realm="cam", nonce="${Math.random().toString(16).slice(2)}"\r\nContent-Length: 0\r\n\r\n`;

/** Sends `chunk()` until the connection closes. */
function endless(s: Socket, chunk: () => Buffer | string): void {
  const timer = setInterval(() => { if (!s.destroyed) s.write(chunk()); }, 2);
  s.once('close', () => clearInterval(timer));
}

/** probeStream through the relay; its error message, or 'read' if it read the "camera". */
async function probeMessage(port: number): Promise<string | null> {
  return within(probeStream(`rtsp://admin:${PASSWORD}@127.0.0.1:${port}/stream`, 1, 3).then(() => 'read', (err: Error) => err.message), 20000);
}

const cases: Array<[string, (s: Socket, cseq: string) => void, RegExp]> = [
  ['header lines without end', (s, cseq) => { s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n`); endless(s, () => `X-Pad: ${'a'.repeat(1000)}\r\n`); },
    /garbled RTSP: an RTSP message head longer than 65536 bytes/],
  ['a Content-Length of a terabyte', (s, cseq) => s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 999999999999\r\n\r\n`),
    /garbled RTSP: Content-Length 999999999999 out of range/],
  ['binary garbage', (s) => endless(s, () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37 + 11) % 256 || 1))),
    /garbled RTSP: (not an RTSP message|an RTSP message head longer)/],
  ['a close in the middle of a message', (s, cseq) => { s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 500\r\n\r\nv=0\r\n`); setTimeout(() => s.destroy(), 100); },
    /rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/stream: /],
];

for (const [what, misbehave, reason] of cases) {
  t.test(`a camera sending ${what}: the probe fails with a reason, quickly`, async (t) => {
    const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq, authorized) => (authorized ? misbehave(s, cseq) : s.write(challenge(cseq))));
    const started = Date.now();
    const message = await probeMessage(cam.port);
    t.match(message, reason, 'the reason');
    t.ok(Date.now() - started < 15000, `settled in ${Date.now() - started} ms`);
    t.notMatch(message ?? '', PASSWORD, 'no password in it');
  });
}

t.test('a camera that answers every request with a fresh 401: one retry with credentials, then "refused the credentials"', async (t) => {
  const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq) => s.write(challenge(cseq)));
  t.match(await probeMessage(cam.port), /refused the credentials \(401 Unauthorized\): wrong username or password/);
  t.equal(cam.received.filter((r) => /Authorization:/i.test(r)).length, 1, 'the relay answered one challenge, not a loop');
});

t.test('a 401 whose reason phrase carries escape sequences is reported escaped', async (t) => {
  const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq) => s.write(challenge(cseq, '\x1b[2J\x1b[31mEVIL\x9b1m')));
  const message = await probeMessage(cam.port) ?? '';
  t.match(message, 'refused the credentials (401 \\x1b[2J\\x1b[31mEVIL', 'the reason, visible');
  t.same([...message].filter(isControl), [], 'no control character reaches the terminal or the log');
});

t.test('a redirect to another host: the tool may follow it, the credentials never go there', async (t) => {
  // "another host" on loopback: 127.0.0.2, asking every client for credentials
  const other = await rtspServer(t, '127.0.0.2', (s, _text, cseq) => s.write(challenge(cseq)));
  const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq, authorized) =>
    s.write(authorized ? `RTSP/1.0 302 Moved\r\nCSeq: ${cseq}\r\nLocation: rtsp://127.0.0.2:${other.port}/stream\r\nContent-Length: 0\r\n\r\n` : challenge(cseq)));
  const message = await probeMessage(cam.port);
  t.not(message, 'read', 'nothing read');
  t.ok(other.received.length > 0, 'ffprobe did follow the redirect (else this test proves nothing)');
  t.notMatch(other.received.join(''), /Authorization:/i, 'the other host got no Authorization header');
  t.notMatch(other.received.join(''), PASSWORD, 'nor the password');
  t.notMatch(message ?? '', PASSWORD, 'no password in the error');
});

t.test('a camera trickling a 1 MB body in small TCP segments: the relay copies a small multiple of it, not the pending megabyte per segment', async (t) => {
  const BODY = 1000 * 1024;
  let sent = 0;
  const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq, authorized) => {
    if (!authorized) return s.write(challenge(cseq));
    s.setNoDelay(true);
    s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${BODY}\r\n\r\n`);
    // 256 bytes a write, each in its own turn of the event loop: a segment of its own
    let left = BODY;
    const next = () => {
      if (s.destroyed || left === 0) return;
      const n = Math.min(256, left);
      s.write(Buffer.alloc(n, 0x61));
      sent += n;
      left -= n;
      setImmediate(next);
    };
    next();
  });
  const concatenated = countConcat(t);
  const before = rtspParserStats.copiedBytes;
  const message = await probeMessage(cam.port);
  t.not(message, null, 'the probe settled');
  t.ok(sent >= BODY, `the camera sent a whole body (${sent} bytes; else this proves nothing)`);
  const copied = rtspParserStats.copiedBytes - before;
  // the parser's own copies (about 3 per byte: appended, regrown, the body out) and every
  // Buffer.concat (the relay's one per message it passes on); the quadratic parser copied
  // about 2 GB here
  t.ok(copied + concatenated.bytes <= 6 * sent, `${copied} bytes copied by the parsers and ${concatenated.bytes} by Buffer.concat, for ${sent} sent`);
  t.notMatch(message ?? '', PASSWORD, 'no password in the message');
});

const basicChallenge = (cseq: string) => `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n`;
const ok = (cseq: string) => `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\nContent-Length: 0\r\n\r\n`;
const inClear = Buffer.from(`admin:${PASSWORD}`).toString('base64');

t.test('a camera that offered Digest and then asks for Basic: refused, the password never sent in clear', async (t) => {
  // Digest accepted for OPTIONS, then a Basic challenge for DESCRIBE (an outside probe's camera)
  const cam = await rtspServer(t, '127.0.0.1', (s, text, cseq, authorized) =>
    s.write(!authorized ? challenge(cseq) : text.startsWith('OPTIONS') && /Authorization: Digest/i.test(text) ? ok(cseq) : basicChallenge(cseq)));
  const message = await probeMessage(cam.port) ?? '';
  t.ok(cam.received.some((r) => /^OPTIONS[^]*Authorization: Digest/.test(r)), 'Digest answered for OPTIONS');
  t.ok(cam.received.some((r) => r.startsWith('DESCRIBE')), 'DESCRIBE asked (else this proves nothing)');
  t.notMatch(cam.received.join(''), /Authorization: Basic/i, 'no Basic Authorization header');
  t.notMatch(cam.received.join(''), inClear, 'the password never in clear');
  t.match(message, /asked for Basic authentication, which would send the password in clear, after offering Digest: refused/, 'the reason');
  t.notMatch(message, PASSWORD, 'no password in it');
});

t.test('a camera that offered Digest, then Basic only on a new connection: refused', async (t) => {
  // the first connection: a Digest challenge, dropped once answered; every later one: Basic only
  // (whoever poses as the camera drops the connection and starts again with Basic)
  const connections: Socket[] = [];
  const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq, authorized) => {
    if (!connections.includes(s)) connections.push(s);
    if (s !== connections[0]) s.write(basicChallenge(cseq));
    else if (authorized) s.destroy();
    else s.write(challenge(cseq));
  });
  await probeMessage(cam.port);
  const message = await probeMessage(cam.port) ?? '';
  t.ok(connections.length >= 2, `${connections.length} connections`);
  t.notMatch(cam.received.join(''), /Authorization: Basic/i, 'no Basic Authorization header');
  t.notMatch(cam.received.join(''), inClear, 'the password never in clear');
  t.match(message, /asked for Basic authentication, which would send the password in clear, after offering Digest: refused/, 'the reason');
});

t.test('a camera that only ever offers Basic still gets it (as documented: the camera network is not protected)', async (t) => {
  const cam = await rtspServer(t, '127.0.0.1', (s, _text, cseq, authorized) => s.write(authorized ? `RTSP/1.0 404 Not Found\r\nCSeq: ${cseq}\r\nContent-Length: 0\r\n\r\n` : basicChallenge(cseq)));
  await probeMessage(cam.port);
  t.match(cam.received.join(''), `Authorization: Basic ${inClear}`, 'Basic answered');
});
