/**
 * What an outside probe did to the page on 2026-12-05: one client held all 100 connections of the
 * listener (a header line every 2 s, reopened as each timed out) and 17 of 20 page requests, 5 of
 * 6 scrapes from others failed. One address now gets at most MAX_CONNECTIONS_PER_ADDRESS.
 */
import t from 'tap';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { sleep } from '../support/daemon.js';
import { pageBox } from '../support/web.js';
import { MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS } from '../../web/server.js';

/** GET path from a given loopback address (the server checks Host: 127.0.0.1 is loopback). */
function getFrom(localAddress: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
  });
}

t.test('one address holding more connections than the whole listener takes keeps nobody else off the page', async (t) => {
  const { daemon, base } = await pageBox(t);
  const port = Number(new URL(base).port);
  const flood = MAX_CONNECTIONS + 20;
  const sockets: Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  let closed = 0;
  await Promise.all(Array.from({ length: flood }, () => new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write(`GET /login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`); // headers begun, never finished: a slow client
      resolve();
    });
    s.on('error', () => resolve());
    s.on('close', () => { closed++; });
    sockets.push(s);
  })));
  await sleep(500);
  t.ok(closed >= flood - MAX_CONNECTIONS_PER_ADDRESS, `the box closed those past ${MAX_CONNECTIONS_PER_ADDRESS} from one address (${closed} of ${flood})`);
  t.equal(await getFrom('127.0.0.2', port, '/login'), 200, 'another address still gets the page');
  t.match(daemon.output, new RegExp(`http\\.listen: ${MAX_CONNECTIONS_PER_ADDRESS} connections open from 127\\.0\\.0\\.1; its new ones are closed`), 'logged, with the address');
  for (const s of sockets) s.destroy();
  await sleep(300);
  t.equal(await getFrom('127.0.0.1', port, '/login'), 200, 'once its connections end, the address is served again');
  t.equal((await daemon.stop()).code, 0);
});
