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
import { isControl } from '../../common/human.js';
import { describeDevice, inspectCamera, MAX_INSPECTED_PROFILES, resolveOnvifStream } from '../../recorder/sources/onvif.js';
import { soapRequest } from '../../recorder/sources/onvif-soap.js';
import { xmlTag } from '../../recorder/sources/onvif-xml.js';
import { parseMasks } from '../../recorder/sources/onvif-masks.js';
import { OnvifWatch, parseNotifications } from '../../recorder/sources/onvif-events.js';
import { xmlElements } from '../../recorder/sources/onvif-xml.js';
import { MAX_ANSWER_BYTES } from '../../recorder/sources/onvif-bounds.js';
import { FOREIGN_TEXT_MAX } from '../../common/human.js';
import { usernameToken } from '../../recorder/sources/ws-security.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';
import { until } from '../support/daemon.js';
import type { Logger } from 'pino';

const USER = 'installer';
const PASSWORD = 'onvif-Hostile-never-sent-elsewhere';
/** just under the 2 MB answer cap, as the tester sent */
const NEAR_CAP = MAX_ANSWER_BYTES - 100 * 1024;

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
const faultWith = (text: string) => soap(`<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>${text}</s:Reason></s:Fault>`);

/**
 * Runs `work` while a 20 ms interval ticks; the longest wait between ticks. A pattern that costs
 * seconds of CPU on the device's text holds the event loop, and that wait with it.
 */
async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T | Error; stallMs: number }> {
  let last = Date.now(), stallMs = 0;
  const tick = setInterval(() => { const now = Date.now(); stallMs = Math.max(stallMs, now - last); last = now; }, 20);
  try {
    const result = await work().catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 30));
    stallMs = Math.max(stallMs, Date.now() - last);
    return { result, stallMs };
  } finally {
    clearInterval(tick);
  }
}

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

t.test('F1: megabytes of xmlns in GetSystemDateAndTime are refused at once, the event loop free', async (t) => {
  const bomb = soap(`<tds:GetSystemDateAndTimeResponse ${'xmlns'.repeat(NEAR_CAP / 5)}/>`);
  const camera = await httpServer(t, (_req, _body, res) => { res.writeHead(200, { 'Content-Type': 'application/soap+xml' }); res.end(bomb); });
  const { result, stallMs } = await longestStall(() => describeDevice({ host: camera.address, timeoutMs: 10000 }));
  t.match((result as Error).message, /^ONVIF camera 127\.0\.0\.1:\d+: an answer with an xmlns that declares no namespace; refusing it$/, 'refused, naming why');
  t.ok(stallMs < 1000, `the event loop kept ticking (longest wait ${stallMs} ms; the package's strip held it for minutes)`);
});

t.test('F1: a camera declaring many namespaces (quoted either way) still works', async (t) => {
  const cam = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'rtsp://127.0.0.1:8554/main', model: 'Namespaced' });
  const respond = (cam as unknown as { respond(path: string, body: string): Promise<{ status: number; xml: string }> }).respond.bind(cam);
  (cam as unknown as { respond: typeof respond }).respond = async (path, body) => {
    const r = await respond(path, body);
    const extra = Array.from({ length: 40 }, (_, i) => ` xmlns:n${i}='urn:example:${i}' xmlns:m${i} = "urn:example:m${i}"`).join('');
    return { ...r, xml: r.xml.replace('<s:Envelope ', `<s:Envelope${extra} `) };
  };
  const info = await describeDevice({ host: cam.address, username: USER, password: PASSWORD, timeoutMs: 5000 });
  t.equal(info.device.model, 'Namespaced', 'its answers parse as before');
});

t.test('F2: unclosed tags and faults of megabytes are parsed in linear time', async (t) => {
  const cases: Array<[string, () => unknown, unknown]> = [
    ['xmlTag on <s:Text repeated', () => xmlTag('<s:Fault>' + '<s:Text '.repeat(NEAR_CAP / 8), 'Text'), undefined],
    ['xmlTag on quoted values never closed', () => xmlTag('<s:Fault>' + '<s:Text a="'.repeat(NEAR_CAP / 11), 'Text'), undefined],
    ['parseMasks on <Masks repeated', () => parseMasks('<Masks '.repeat(NEAR_CAP / 7)), []],
    ['parseMasks on <Masks> never closed', () => parseMasks('<tr2:Masks>'.repeat(NEAR_CAP / 11)), []],
    ['parseMasks on points never closed', () => parseMasks('<Masks token="m">' + '<tt:Point x="0" '.repeat(NEAR_CAP / 16) + '</Masks>').map((m) => m.points.length), [0]],
    ['parseNotifications on <NotificationMessage repeated', () => parseNotifications('<NotificationMessage '.repeat(NEAR_CAP / 21)), []],
    ['parseNotifications on SimpleItem never closed', () => parseNotifications('<NotificationMessage><Topic>tns1:Tamper</Topic><Data>' + '<SimpleItem Value="true '.repeat(NEAR_CAP / 24) + '</Data></NotificationMessage>'),
      [{ topic: 'tns1:Tamper', active: null, operation: null }]],
    ['SubscriptionReference never closed', () => xmlElements('<wsnt:SubscriptionReference>'.repeat(NEAR_CAP / 29), 'SubscriptionReference', 1), []],
  ];
  for (const [what, parse, expected] of cases) {
    const { result, stallMs } = await longestStall(async () => parse());
    t.same(result, expected, `${what}: nothing taken from it`);
    t.ok(stallMs < 1000, `${what}: the event loop kept ticking (longest wait ${stallMs} ms)`);
  }
  // real answers read as before
  t.equal(xmlTag('<s:Reason><s:Text xml:lang="en">Sender not Authorized</s:Text></s:Reason>', 'Text'), 'Sender not Authorized');
  t.equal(xmlTag('<a:Text attr="x>y">v</a:Text>', 'Text'), 'v', 'a quoted > inside a tag');
  t.equal(xmlTag('<s:TextLong>no</s:TextLong><s:Text>yes</s:Text>', 'Text'), 'yes', 'a longer name is another element');
  t.same(parseMasks('<tr2:Masks token="m1"><tr2:ConfigurationToken>vsc</tr2:ConfigurationToken><tr2:Polygon><tt:Point x="-1" y="1"/><tt:Point x="1" y="-1" /></tr2:Polygon>'
    + '<tr2:Type>Color</tr2:Type><tr2:Enabled>true</tr2:Enabled></tr2:Masks>'),
  [{ token: 'm1', configurationToken: 'vsc', points: [[0, 0], [1, 1]], type: 'Color', enabled: true }]);
});

t.test('F2: a fault whose reason is megabytes of unclosed tags fails at once, the event loop free', async (t) => {
  const camera = await httpServer(t, (_req, _body, res) => { res.writeHead(400); res.end(faultWith('<s:Text '.repeat(NEAR_CAP / 8))); });
  const { result, stallMs } = await longestStall(() => soapRequest({ host: camera.address }, { url: `http://${camera.address}/onvif/events`, action: 'x', body: '', timeoutMs: 10000 }));
  t.match((result as Error).message, /^ONVIF camera 127\.0\.0\.1:\d+: HTTP 400$/, 'the fault has no readable reason: its status is said');
  t.ok(stallMs < 1000, `the event loop kept ticking (longest wait ${stallMs} ms)`);
});

t.test('F4: a fault reason of 1.5 MB goes into an error cut to 200 characters, escaped', async (t) => {
  const reason = '\x1b[31m' + 'R'.repeat(1_500_000);
  const camera = await httpServer(t, (_req, _body, res) => { res.writeHead(400); res.end(faultWith(`<s:Text xml:lang="en">${reason}</s:Text>`)); });
  for (const [what, call] of [
    ['our own SOAP', () => soapRequest({ host: camera.address }, { url: `http://${camera.address}/onvif/events`, action: 'x', body: '', timeoutMs: 5000 })],
    ['the onvif package', () => resolveOnvifStream({ host: camera.address, timeoutMs: 5000 })],
  ] as const) {
    const message = await call().then(() => 'resolved', (err: Error) => err.message);
    t.match(message, /\\x1b\[31mRRRR/, `${what}: the reason is reported, escaped`);
    t.match(message, /\(\d+ characters, cut\)$/, `${what}: and said to be cut`);
    t.ok(message.length < FOREIGN_TEXT_MAX + 100, `${what}: ${message.length} characters in all`);
    t.same([...message].filter(isControl), [], `${what}: no control character`);
  }
});

t.test('F5: discover lists at most 16 profiles of a device and stops asking at its deadline, saying both', async (t) => {
  const cam = await startOnvifCamera(t, { streamUri: 'rtsp://127.0.0.1:8554/main' });
  const r = cam as unknown as { respond(path: string, body: string): Promise<{ status: number; xml: string }> };
  const respond = r.respond.bind(cam);
  let asked = 0;
  r.respond = async (path, body) => {
    const answer = await respond(path, body.replace(/ProfileToken>[^<]*</, 'ProfileToken>main<'));
    if (/GetProfiles\b/.test(body)) {
      const one = /<trt:Profiles[\s\S]*<\/trt:Profiles>/.exec(answer.xml)![0];
      const all = Array.from({ length: 40 }, (_, i) => one.replace('token="main"', `token="p${i}"`)).join('');
      return { ...answer, xml: answer.xml.replace(one, all) };
    }
    if (/GetStreamUri\b/.test(body)) {
      asked++;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return answer;
  };
  const started = Date.now();
  const info = await inspectCamera({ host: cam.address, timeoutMs: 5000 }, 1000);
  t.equal(info.profiles.length, MAX_INSPECTED_PROFILES, '16 profiles listed, not 40');
  t.ok(asked < MAX_INSPECTED_PROFILES, `stream URIs asked until the deadline: ${asked}`);
  t.equal(info.profiles.filter((p) => p.stream_uri).length, asked, 'the profiles asked carry their URI');
  t.match(info.warnings, [/it offers 40 profiles; only the first 16 are listed/, /stream URI not asked for \d+ profiles: the 1 s given to one camera ran out/]);
  t.ok(Date.now() - started < 10000, 'done about the deadline');
});

t.test('F9: a camera clock of year 300000 is taken as unknown and said so; the login still works', async (t) => {
  const cam = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: 'rtsp://127.0.0.1:8554/main', media2: true });
  const r = cam as unknown as { dateTime(): string };
  const dateTime = r.dateTime.bind(cam);
  r.dateTime = () => dateTime().replace(/<tt:Year>\d+</, '<tt:Year>300000<');
  const target = { host: cam.address, username: USER, password: PASSWORD, timeoutMs: 5000 };
  const info = await describeDevice(target);
  t.equal(info.clock_drift_ms, null, 'no drift: the clock is unknown');
  t.match(info.clock_problem, /its clock reads no valid date; taken as unknown/, 'and said so');
  const inspected = await inspectCamera(target);
  t.match(inspected.warnings, [/its clock reads no valid date/], 'discover says so');
  t.equal(inspected.profiles[0]?.stream_uri, 'rtsp://127.0.0.1:8554/main', 'the package\'s authenticated requests pass (stamped with the box\'s clock, not 1970)');
  const resolved = await resolveOnvifStream(target);
  t.match(resolved.clock_problem, /no valid date/, 'the daemon\'s resolve carries it to its log');
  // our own SOAP (events): stamped with the box's clock
  await t.resolves(soapRequest(target, { url: info.events_url!, action: 'x', timeoutMs: 5000, driftMs: info.clock_drift_ms ?? 0,
    body: '<CreatePullPointSubscription xmlns="http://www.onvif.org/ver10/events/wsdl"><InitialTerminationTime>PT10S</InitialTerminationTime></CreatePullPointSubscription>' }));
  t.match(usernameToken(USER, PASSWORD, Number.NaN), /<Created [^>]*>20\d\d-/, 'a NaN drift stamps the box\'s time, not 1970 or a throw');
  // the daemon's event watch says it once, and subscribes
  const warned: string[] = [];
  let subscribed = false;
  const log = { warn: (o: { clockProblem?: string }) => { if (o.clockProblem) warned.push(o.clockProblem); }, info: (_o: unknown, msg: string) => { if (/subscribed/.test(msg)) subscribed = true; }, debug: () => undefined };
  const watch = new OnvifWatch(target, { onDevice: () => undefined, onSignal: () => undefined, log: log as unknown as Logger, pullTimeoutS: 1 }).start();
  await until(() => subscribed, 10000, 'the watch subscribed');
  await watch.stop();
  t.match(warned, [/no valid date/], 'the event watch logs the clock it does not believe, once');
  // and check says it of the camera, whether its stream reads or not (nothing listens on that URI here)
  const dir = t.testdir();
  writeFileSync(join(dir, 'onvif.secret'), PASSWORD + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'config.yaml'), configHead(join(dir, 'data')) + [
    'cameras:', '  - id: gate', '    source:', '      type: onvif', `      host: "${cam.address}"`, `      username: ${USER}`, `      password_file: ${join(dir, 'onvif.secret')}`, '',
  ].join('\n'));
  const check = await runCli(['check', '--config', join(dir, 'config.yaml')]);
  t.match(check.stdout, /cameras +gate.* via ONVIF [\d.:]+ \(camera clock not believed: its clock reads no valid date; taken as unknown/, `check names the clock it does not believe:\n${check.stdout}`);
});
