/**
 * What an outside probe did to the page on 2026-12-04: 1100 idle connections under a 1024
 * descriptor limit took the descriptors the recorder needed (EMFILE on its next segment file, a
 * gap, "data disk is not writable"), and every client that dropped a POST half-sent left an
 * error with a stack trace in the log.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { segmentIndexed, sleep } from '../support/daemon.js';
import { pageBox } from '../support/web.js';
import { MAX_CONNECTIONS } from '../../web/server.js';

const FLOOD = 300;
const FD_LIMIT = 256;

t.test(`${FLOOD} idle connections to the page under a ${FD_LIMIT} descriptor limit: the camera keeps recording, the page answers once they go`, async (t) => {
  t.ok(MAX_CONNECTIONS + 100 < FD_LIMIT, 'the cap leaves the daemon room under this limit');
  const { daemon, base } = await pageBox(t, { wrap: ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--'] });
  await daemon.waitForLog(segmentIndexed('cam1'));
  const { port } = new URL(base);

  const sockets: Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  let refused = 0;
  // from 20 loopback addresses, 15 each: under the per-address cap, so the total cap is what closes them
  await Promise.all(Array.from({ length: FLOOD }, (_, i) => new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: Number(port), localAddress: `127.0.0.${10 + (i % 20)}` }, () => resolve());
    s.on('error', () => resolve());
    s.on('close', () => { refused++; });
    sockets.push(s);
  })));
  const indexedBefore = daemon.countLog(segmentIndexed('cam1'));
  await sleep(7000); // three 2 s segments
  t.ok(refused >= FLOOD - MAX_CONNECTIONS - 5, `connections past the cap are closed by the box (${refused} of ${FLOOD})`);
  t.ok(daemon.countLog(segmentIndexed('cam1')) - indexedBefore >= 2, 'segments go on being indexed while the page is flooded');
  t.notMatch(daemon.output, /EMFILE|not writable/, 'no descriptor runs out');
  t.match(daemon.output, /http\.listen: 100 connections open; new ones are closed until some end/, 'the flood is logged');
  for (const s of sockets) s.destroy();
  await sleep(500);
  t.equal((await fetch(`${base}/login`)).status, 200, 'once they are gone the page answers');

  // a POST whose client goes away before its body is sent: not an error of the box
  await new Promise<void>((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => {
      s.write(`POST /login HTTP/1.1\r\nHost: ${new URL(base).host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuse`);
      setTimeout(() => { s.destroy(); resolve(); }, 300);
    });
  });
  await sleep(500);
  t.notMatch(daemon.output, /http request failed/, 'a client that dropped its request is no "http request failed" in the log');
  t.equal((await daemon.stop()).code, 0);
});
