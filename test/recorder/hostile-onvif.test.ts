/**
 * A device on the camera network answering in an ONVIF camera's name, with what an outside
 * tester found (2026-12-04): a redirect to another host (the WS-Security UsernameToken would
 * follow it), megabytes of `xmlns` for the `onvif` package's quadratic namespace strip, tags
 * never closed for our own patterns, a megabyte fault reason, many profiles answered slowly, and
 * a clock that is no date. Real HTTP servers in-process; the code under test is the box's own.
 * No assertion on speed: where the cost was quadratic, the event loop must keep ticking.
 */
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveOnvifStream } from '../../recorder/sources/onvif.js';
import { soapRequest } from '../../recorder/sources/onvif-soap.js';

const USER = 'installer';
const PASSWORD = 'onvif-Hostile-never-sent-elsewhere';

type Answer = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** An HTTP server answering every request with `answer`; keeps what it was sent. */
async function httpServer(t: { teardown(fn: () => unknown): void }, answer: Answer, host = '127.0.0.1') {
  const received: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += String(d); });
    req.on('end', () => { received.push(body); answer(req, body, res); });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { address: `${host}:${(server.address() as AddressInfo).port}`, received };
}

const soap = (body: string) => `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>${body}</s:Body></s:Envelope>`;


t.test('F3: a redirect is not followed: the UsernameToken never reaches the other host', async (t) => {
  const elsewhere = await httpServer(t, (_req, _body, res) => res.end(soap('<x/>')), '127.0.0.2');
  const camera = await httpServer(t, (_req, _body, res) => {
    res.writeHead(307, { Location: `http://${elsewhere.address}/collect?token=SECRET-QUERY` });
    res.end();
  });
  const err = await soapRequest({ host: camera.address, username: USER, password: PASSWORD }, {
    url: `http://${camera.address}/onvif/events`, action: 'x', body: '<x/>', timeoutMs: 3000,
  }).then(() => undefined, (e: Error) => e);
  t.match(err?.message, /^ONVIF camera 127\.0\.0\.1:\d+: answered HTTP 307 \(a redirect\); not followed/, 'our own SOAP (events, masks) fails naming the status');
  t.notMatch(err?.message ?? '', /SECRET-QUERY|collect/, 'without the Location');
  t.match(camera.received[0], /<Username>installer<\/Username>/, 'the camera itself was sent the token');
  // the onvif package's requests (resolve, discover, identity): Node's http.request follows nothing
  await t.rejects(resolveOnvifStream({ host: camera.address, username: USER, password: PASSWORD, timeoutMs: 3000 }), /ONVIF camera 127\.0\.0\.1:\d+/);
  t.same(elsewhere.received, [], 'the other host received no request at all');
});
