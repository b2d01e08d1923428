/**
 * A target that keeps the connection busy without ever answering held every upload behind it
 * (an outside probe): `102 Processing` every second, an answer head trickled a byte a second, a
 * server that stops reading the body. Each now fails the attempt after `timeoutMs` without
 * progress, as docs/evidence.md says. Real TLS servers, raw, so the answers can be malformed.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { httpsPut, PutError } from '../../uploads/https-put.js';
import { makeCerts } from '../support/mosquitto.js';

type Behaviour = (socket: TLSSocket, bodyDone: Promise<void>) => void;

async function target(t: Test, certs: { serverCert: string; serverKey: string }, behave: Behaviour): Promise<string> {
  const server = createServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, (socket) => {
    let head = Buffer.alloc(0);
    let left = -1;
    let resolveBody!: () => void;
    const bodyDone = new Promise<void>((r) => { resolveBody = r; });
    socket.on('data', (d: Buffer) => {
      if (left < 0) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        left = Number(/content-length: *(\d+)/i.exec(head.subarray(0, end).toString())?.[1] ?? 0);
        d = head.subarray(end + 4);
      }
      left -= d.length;
      if (left <= 0) resolveBody();
    });
    socket.on('error', () => undefined);
    behave(socket, bodyDone);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.close(); });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/bucket/object?X-Sig=secret`;
}

const body = (bytes: number) => (async function* () {
  for (let sent = 0; sent < bytes; sent += 65536) yield Buffer.alloc(Math.min(65536, bytes - sent), 7);
})();

t.test('targets that keep the connection busy without answering fail the attempt', async (t) => {
  const certs = makeCerts(join(t.testdir(), 'pki'));
  const ca = readFileSync(certs.ca, 'utf8');
  const put = (url: string, bytes: number, timeoutMs = 1500) => httpsPut({ url, length: bytes, body: body(bytes), contentType: 'application/x-tar', ca, timeoutMs, signal: new AbortController().signal });
  const every = (socket: TLSSocket, ms: number, write: () => string) => {
    const timer = setInterval(() => { if (!socket.destroyed) socket.write(write()); }, ms);
    socket.on('close', () => clearInterval(timer));
  };

  await t.test('102 Processing every 300 ms, forever', async (t) => {
    const url = await target(t, certs, (socket, bodyDone) => { void bodyDone.then(() => every(socket, 300, () => 'HTTP/1.1 102 Processing\r\n\r\n')); });
    await t.rejects(put(url, 100_000), { message: /no progress for 2 s \(no answer to the whole object\)/ });
  });

  await t.test('an answer head trickled a byte every 300 ms', async (t) => {
    const head = 'HTTP/1.1 200 OK\r\nx-padding: ' + 'a'.repeat(200) + '\r\n\r\n';
    let at = 0;
    const url = await target(t, certs, (socket, bodyDone) => { void bodyDone.then(() => every(socket, 300, () => head[at++] ?? '')); });
    const failed = await put(url, 100_000).then(() => undefined, (err: unknown) => err);
    t.type(failed, PutError, 'the attempt fails instead of waiting on');
    t.match((failed as Error).message, /no answer to the whole object/);
    t.ok(at < head.length, 'before the head was complete');
  });

  await t.test('a server that stops reading the body', async (t) => {
    const url = await target(t, certs, (socket) => { setTimeout(() => socket.pause(), 50); });
    const failed = await put(url, 64 * 1024 * 1024).then(() => undefined, (err: unknown) => err);
    t.type(failed, PutError);
    t.match((failed as Error).message, /the server stopped taking the object at \d+ of 67108864 bytes/);
    t.notMatch((failed as Error).message, /secret/, 'the query is not in the error');
  });

  await t.test('a reason phrase of 10 kB is cut in the error (it goes to events and the audit log)', async (t) => {
    const url = await target(t, certs, (socket, bodyDone) => { void bodyDone.then(() => socket.end(`HTTP/1.1 500 ${'x'.repeat(10_000)}\x1b[2J\r\ncontent-length: 0\r\n\r\n`)); });
    const failed = await put(url, 1000).then(() => undefined, (err: unknown) => err);
    t.match((failed as Error).message, /^the server answered 500 x{200}\.\.\. \(10004 characters, cut\)$/);
  });

  await t.test('a slow server that keeps taking the body is not cut off', async (t) => {
    // reads in bursts of 4 MB, a second's pause after each, shorter than the 3 s timeout: progress
    // all along. Bursts counted in bytes, not time: a fast machine took the 16 MB in two 30 ms
    // windows (a CI run)
    let pauses = 0;
    const url = await target(t, certs, (socket, bodyDone) => {
      let read = 0;
      let timer: NodeJS.Timeout | undefined;
      socket.on('data', (d: Buffer) => {
        read += d.length;
        if (read < 4 * 1024 * 1024 || timer) return;
        socket.pause();
        pauses++;
        timer = setTimeout(() => { read = 0; timer = undefined; socket.resume(); }, 1000);
      });
      socket.on('close', () => clearTimeout(timer));
      void bodyDone.then(() => { clearTimeout(timer); socket.resume(); socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'); });
    });
    const done = await put(url, 16 * 1024 * 1024, 3000);
    t.ok(pauses >= 3, `the server paused ${pauses} times`);
    t.equal(done.status, 200);
    t.equal(done.bytes, 16 * 1024 * 1024);
  });
});
