/**
 * The box over HTTP: the status page (`http.listen`, login required) and the Prometheus
 * endpoint (`http.metrics_listen`, no login: keep it on loopback or behind TLS and a firewall).
 * Both are off unless configured. With `cert_file` and `key_file` both speak HTTPS only; without
 * them they bind to loopback unless `plain_http_reason` says why not (config/load.ts checks that;
 * this file refuses it again, so no code path serves plain HTTP to the network by accident).
 *
 * Security of the page: sessions in memory behind an HttpOnly, SameSite=Strict cookie (Secure and
 * __Host- prefixed under TLS); every form carries a CSRF token and every POST must come from the
 * page's own origin; logins are rate-limited per address and per user; every login, failed login,
 * lock-out and snapshot is in the chained audit log; passwords and tokens are never logged.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { isLoopback, parseListen } from '../config/listen.js';
import type { Config } from '../config/schema.js';
import type { BoxState } from './box-state.js';
import { CSS, JS } from './assets.js';
import { AttemptLimiter, clientKey } from './attempt-limiter.js';
import { BoxMetrics } from './metrics.js';
import { loginPage, messagePage, overview, overviewPage, snapshotPage, type OverviewInput, type Viewer } from './pages.js';
import { randomToken, sameToken, Sessions, type Session } from './sessions.js';
import { checkName, NAME_PATTERN, UserDirectory, UsersFile, usersFilePath, verifyPassword } from './users.js';
import { loadTls } from './tls-files.js';

export type HttpConfig = NonNullable<Config['http']>;

const MAX_BODY = 8 * 1024;
const EVENTS_SHOWN = 15;
const SNAPSHOTS_KEPT = 100;
/** open connections per listener (a few site managers and a Prometheus scraper need a handful) */
export const MAX_CONNECTIONS = 100;
/**
 * open connections per listener from one remote address: one client holding all 100 (slow
 * headers, reopened as each timed out) kept every other browser and the scraper out (an outside
 * probe). Many addresses, or everyone behind one NAT or proxy address, can still fill the total.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 16;
/** failed logins before a user name must wait; an address (maybe a whole office behind NAT) gets more */
const USER_LIMIT = { maxAttempts: 5, windowMs: 15 * 60_000 };
const ADDRESS_LIMIT = { maxAttempts: 20, windowMs: 15 * 60_000 };
/**
 * Successful logins a client may make a minute. Each is a password check (32 MiB of scrypt) and a
 * hash-chained audit entry: a viewer logging in over and over from 16 connections made 131 a
 * minute, filled the audit log and took every thread of libuv's pool (an outside probe).
 */
const LOGINS_LIMIT = { maxAttempts: 30, windowMs: 60_000 };
/**
 * Password checks run one at a time, at most this many waiting (the connections one client may
 * hold), the rest answered 503: four at once took all four threads of libuv's pool, and the
 * watchdog's disk probe, queued behind them past its 10 s, raised a false "data disk is not
 * writable" alarm (an outside probe).
 */
const MAX_WAITING_CHECKS = 16;

export interface WebOptions {
  http: HttpConfig;
  /** where users.json lives by default */
  dataDir: string;
  state: BoxState;
  log: Logger;
  /**
   * A configured port another process holds is replaced by a free one on the same host, taken at
   * bind time (the demo, which may run beside another: a port found free and bound a moment later
   * was taken in between, and the page a user was sent to was another demo's)
   */
  anyPortIfTaken?: boolean;
}

export interface WebServers {
  /** e.g. https://127.0.0.1:8443, when the page is on */
  pageUrl?: string;
  metricsUrl?: string;
  close(): Promise<void>;
}

export async function startWeb(o: WebOptions): Promise<WebServers> {
  const tls = o.http.cert_file && o.http.key_file ? loadTls(o.http) : undefined;
  const servers: Array<{ server: Server; url: string }> = [];
  const open = async (key: 'listen' | 'metrics_listen', handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>) => {
    const at = parseListen(o.http[key]!);
    if (!tls && !isLoopback(at.host) && !o.http.plain_http_reason?.trim()) {
      throw new Error(`http.${key}: ${at.host} is reachable from the network and there is no TLS; set cert_file and key_file, or plain_http_reason`);
    }
    // Plain HTTP on loopback answers only requests addressed to loopback: a page of another site
    // whose name a DNS rebinding pointed at 127.0.0.1 (in a browser on the box, or on a laptop
    // with an SSH tunnel to it) sends its own name as Host, and could otherwise read the login
    // form and lock out 127.0.0.1, the address every tunnelled user shares, with failed logins.
    // Under TLS the browser refuses such a page first: the certificate does not name its host.
    const hostChecked = !tls && isLoopback(at.host);
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      if (!originForm(req)) {
        securityHeaders(res, !!tls);
        return send(res, 400, 'text/plain; charset=utf-8', 'bad request target\n', { Connection: 'close' });
      }
      if (hostChecked && !isLoopback(hostOf(req.headers.host))) {
        securityHeaders(res, false);
        return send(res, 421, 'text/plain; charset=utf-8', 'misdirected request: this server answers only as localhost, 127.0.0.1 or [::1]\n');
      }
      handler(req, res).catch((err) => {
        // a client that went away before its request was read (a dropped POST body) is not a fault of the box
        if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' && req.destroyed) {
          o.log.debug({ path: req.url?.split('?')[0], address: req.socket.remoteAddress }, 'http client closed the connection before its request was read');
          return;
        }
        o.log.error({ err, path: req.url?.split('?')[0] }, 'http request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    };
    // a TLS handshake not finished in 10 s is dropped (Node's default waits 120 s: held open, each
    // costs the daemon a descriptor before any request or login)
    // the timeouts below are enforced by a sweep, every 30 s by default: a client sending a header
    // line every 2 s was held 23 s, not 10 (an outside probe)
    const timing = { connectionsCheckingInterval: 1000 };
    const server = tls ? createHttps({ cert: tls.cert, key: tls.key, handshakeTimeout: 10_000, ...timing }, listener) : createHttp(timing, listener);
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    // Connections beyond this are closed as they arrive: descriptors are shared with the
    // recorders, and 1100 idle connections to the page made the daemon's next segment file fail
    // with EMFILE (a gap, "data disk is not writable") under a 1024 descriptor limit.
    server.maxConnections = MAX_CONNECTIONS;
    let droppedLogged = 0;
    server.on('drop', (d?: { remoteAddress?: string }) => {
      if (Date.now() - droppedLogged < 60_000) return;
      droppedLogged = Date.now();
      o.log.warn({ address: d?.remoteAddress, max: MAX_CONNECTIONS }, `http.${key}: ${MAX_CONNECTIONS} connections open; new ones are closed until some end (logged once a minute)`);
    });
    // The per-address cap, checked as each connection arrives (under TLS before its handshake):
    // one over it is closed at once, counted and logged at most once a minute.
    const perAddress = new Map<string, number>();
    let overAddress = 0;
    let overAddressLogged = 0;
    server.on('connection', (socket: Socket) => {
      if (socket.remoteAddress === undefined) return; // already gone
      // an IPv6 client by its /64: one host on the LAN takes as many addresses there as it likes,
      // and 7 of them, 16 connections each, kept everyone else off the page (an outside probe)
      const address = clientKey(socket.remoteAddress, false);
      const held = perAddress.get(address) ?? 0;
      if (held >= MAX_CONNECTIONS_PER_ADDRESS) {
        socket.destroy();
        overAddress++;
        if (Date.now() - overAddressLogged >= 60_000) {
          overAddressLogged = Date.now();
          o.log.warn({ address, max: MAX_CONNECTIONS_PER_ADDRESS, closed: overAddress },
            `http.${key}: ${MAX_CONNECTIONS_PER_ADDRESS} connections open from ${address}; its new ones are closed until some end (logged once a minute)`);
        }
        return;
      }
      perAddress.set(address, held + 1);
      socket.once('close', () => {
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left > 0) perAddress.set(address, left);
        else perAddress.delete(address);
      });
    });
    const listen = (port: number) => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, at.host, () => { server.off('error', reject); resolve(); });
    });
    await listen(at.port).catch(async (err: NodeJS.ErrnoException) => {
      if (!(o.anyPortIfTaken && err.code === 'EADDRINUSE')) throw err;
      await listen(0);
      o.log.info({ taken: o.http[key] }, `http.${key}: ${o.http[key]} is taken; a free port instead`);
    }).catch((err: Error) => { throw new Error(`http.${key}: cannot listen on ${o.http[key]} (${err.message})`); });
    // once listening, an error of the server's own is an accept that failed (libuv absorbs EMFILE
    // itself): logged, at most once a minute; with no listener Node would throw it and end the
    // daemon (the listen's own handler, left attached, had caught only the first)
    let errorLogged = 0;
    server.on('error', (err) => {
      if (Date.now() - errorLogged < 60_000) return;
      errorLogged = Date.now();
      o.log.error({ err }, `http.${key}: a connection could not be accepted (logged once a minute)`);
    });
    const port = (server.address() as AddressInfo).port;
    const host = at.host.includes(':') ? `[${at.host}]` : at.host;
    const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
    servers.push({ server, url });
    return url;
  };
  const closeAll = () => Promise.all(servers.map(({ server }) => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }))).then(() => undefined);
  try {
    const result: WebServers = { close: closeAll };
    if (o.http.listen) {
      const page = new StatusPage(o, !!tls);
      result.pageUrl = await open('listen', (req, res) => page.handle(req, res));
      o.log.info({ url: result.pageUrl, users: page.userCount() }, `status page on ${result.pageUrl}`);
    }
    if (o.http.metrics_listen) {
      const metrics = new BoxMetrics(o.state);
      result.metricsUrl = await open('metrics_listen', async (req, res) => {
        securityHeaders(res, !!tls);
        const path = (req.url ?? '/').split('?')[0];
        if (path !== '/metrics') return send(res, 404, 'text/plain; charset=utf-8', 'not found: the metrics are at /metrics\n');
        if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
        send(res, 200, metrics.registry.contentType, await metrics.scrape());
      });
      o.log.info({ url: `${result.metricsUrl}/metrics` }, `prometheus metrics on ${result.metricsUrl}/metrics`);
    }
    return result;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function securityHeaders(res: ServerResponse, tls: boolean): void {
  res.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  // same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a form, and the
  // same-origin check of every POST could not tell the page's own forms from a forged one
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  if (tls) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers, ...unreadBody(res) });
  res.end(body);
}

/**
 * An answer given before the request's body was read (a 401, 403 or 404 to a POST) closes the
 * connection: Node reads a body nobody took to its end to keep the connection for the next
 * request, and read 950 MB announced to a path with no form, 7.5 GiB from 15 clients in 25 s,
 * without a login (an outside probe).
 */
function unreadBody(res: ServerResponse): Record<string, string> {
  const req = res.req;
  const body = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return body && !req.complete ? { Connection: 'close' } : {};
}

const HTML = 'text/html; charset=utf-8';

function redirect(res: ServerResponse, to: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { Location: to, 'Content-Length': 0, ...headers, ...unreadBody(res) });
  res.end();
}

/** A manager's request for a snapshot of a camera (POST); the camera id percent-encoded. */
const TAKE_SNAPSHOT = /^\/cameras\/([^/]+)\/snapshot$/;
/** A snapshot taken, shown to the user who took it (GET): its page, or with `.jpg` the image. */
const SHOW_SNAPSHOT = /^\/snapshots\/([A-Za-z0-9-]+)(\.jpg)?$/;

/** The methods each route of the page takes; undefined for a path that is no route (a 404). */
function methodsOf(path: string): string[] | undefined {
  if (['/', '/overview', '/app.css', '/app.js', '/favicon.ico'].includes(path) || SHOW_SNAPSHOT.test(path)) return ['GET'];
  if (path === '/login') return ['GET', 'POST'];
  if (path === '/logout' || TAKE_SNAPSHOT.test(path)) return ['POST'];
  return undefined;
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), decodeOr(part.slice(i + 1).trim()));
  }
  return out;
}

/**
 * A percent-encoded text, or the text as it came when it is not well encoded. Cookies are per host,
 * not per port: another application's cookie with a stray "%" reached every request and made
 * decodeURIComponent throw, and every page, the login form included, answered 500.
 */
function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A form larger than any of the page's forms can be: answered 413, the connection then closed. */
const TOO_LARGE = Symbol('too large');

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined | typeof TOO_LARGE> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) return TOO_LARGE;
  // not `for await`: leaving that loop early destroys the request and its socket, and the answer
  // (and the address the audit entry names) went with it: a TypeError and a 500
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.off('data', onData);
        req.pause();
        resolve(TOO_LARGE);
      } else {
        chunks.push(chunk);
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.once('error', reject);
  });
}

function tooLarge(res: ServerResponse): void {
  send(res, 413, 'text/plain; charset=utf-8', `form too large: at most ${MAX_BODY} bytes\n`, { Connection: 'close' });
}

/** Whether a request counts as use of its session: the page's own auto-refresh (GET /overview) does not, so an open tab left alone reaches session_idle_minutes (it kept its session alive for good). */
export const isUse = (method: string, path: string): boolean => !(method === 'GET' && path === '/overview');

/** `account`: when the user's account was created: a user removed and added again under the same name is another account */
interface Snapshot { camera: string; user: string; account: number; out: string; export_id: string; sha256: string; blanked_frames: number; at_ms: number }

class StatusPage {
  private readonly users: UserDirectory;
  private readonly sessions: Sessions;
  private readonly byUser = new AttemptLimiter(USER_LIMIT);
  private readonly byAddress = new AttemptLimiter(ADDRESS_LIMIT);
  /** successful logins by client */
  private readonly logins = new AttemptLimiter(LOGINS_LIMIT);
  /** the password check running, and those waiting behind it */
  private checks: Promise<unknown> = Promise.resolve();
  private waitingChecks = 0;
  private busyLogged = 0;
  /** keys whose lock-out is already in the audit log (one entry per lock-out, not per refused try) */
  private readonly lockedAudited = new Map<string, number>();
  private readonly snapshots = new Map<string, Snapshot>();
  private snapshotRunning = false;
  private readonly cookieName: string;
  private readonly loginCookie: string;

  constructor(private readonly o: WebOptions, private readonly tls: boolean) {
    const file = new UsersFile(usersFilePath(o.http, o.dataDir));
    this.users = new UserDirectory(file, (message) => o.log.error({ file: file.path }, `users file unusable, nobody can log in: ${message}`));
    this.sessions = new Sessions(o.http.session_idle_minutes * 60_000, o.http.session_max_hours * 3_600_000);
    this.cookieName = tls ? '__Host-edge-nvr-session' : 'edge-nvr-session';
    this.loginCookie = tls ? '__Host-edge-nvr-login' : 'edge-nvr-login';
  }

  userCount(): number {
    return this.users.count();
  }

  private cookie(name: string, value: string, maxAgeS?: number): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict${this.tls ? '; Secure' : ''}${maxAgeS === undefined ? '' : `; Max-Age=${maxAgeS}`}`;
  }

  private session(req: IncomingMessage, touch = true): { token?: string; session?: Session } {
    const token = cookies(req).get(this.cookieName);
    const session = this.sessions.get(token, (name) => this.users.get(name), touch);
    return { token, session };
  }

  /** A POST must come from this page: its Origin (or, without one, its Referer) names this host. */
  private sameOrigin(req: IncomingMessage): boolean {
    const own = `${this.tls ? 'https' : 'http'}://${req.headers.host ?? ''}`;
    const origin = req.headers.origin;
    if (origin !== undefined) return origin === own;
    const referer = req.headers.referer;
    if (referer !== undefined) {
      try { return new URL(referer).origin === own; } catch { return false; }
    }
    return true; // neither header: the CSRF token alone decides
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    securityHeaders(res, this.tls);
    const path = (req.url ?? '/').split('?')[0]!;
    // HEAD is GET without the body (node drops it); another method on a known path is a 405
    // naming the ones it takes, not "not logged in" or "not found"
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    const allowed = methodsOf(path);
    if (allowed && !allowed.includes(method)) {
      return send(res, 405, 'text/plain; charset=utf-8', `method not allowed: ${path} takes ${allowed.join(', ')}\n`, { Allow: allowed.includes('GET') ? [...allowed, 'HEAD'].join(', ') : allowed.join(', ') });
    }
    if (method === 'GET' && path === '/app.css') return send(res, 200, 'text/css; charset=utf-8', CSS);
    if (method === 'GET' && path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', JS);
    if (method === 'GET' && path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (method === 'GET' && path === '/login') return this.loginForm(req, res);
    if (method === 'POST' && path === '/login') return this.login(req, res);

    const { token, session } = this.session(req, isUse(method, path));
    if (!session) {
      if (method === 'GET' && path === '/') return redirect(res, '/login');
      return send(res, 401, HTML, messagePage('Not logged in', 'Log in first.'));
    }
    const viewer: Viewer = { user: session.user, role: session.role, csrf: session.csrf };
    const snap = TAKE_SNAPSHOT.exec(path);
    const shown = SHOW_SNAPSHOT.exec(path);
    if (method === 'GET' && path === '/') return send(res, 200, HTML, overviewPage(await this.overviewInput(viewer)));
    if (method === 'GET' && path === '/overview') return send(res, 200, HTML, overview(await this.overviewInput(viewer)).html);
    if (method === 'GET' && shown) return this.showSnapshot(req, res, viewer, shown[1]!, !!shown[2]);
    if (method === 'POST' && (path === '/logout' || snap)) {
      const form = await readForm(req);
      if (form === TOO_LARGE) return tooLarge(res);
      if (!form || !this.sameOrigin(req) || !sameToken(form.get('csrf') ?? undefined, session.csrf)) {
        return send(res, 403, HTML, messagePage('Refused', 'This form is stale or did not come from this page. Reload the page and try again.', viewer, this.o.state.boxId));
      }
      if (path === '/logout') {
        this.sessions.end(token);
        this.audit({ actor: session.user, action: 'web.logout', details: { address: req.socket.remoteAddress ?? null } });
        return redirect(res, '/login', { 'Set-Cookie': this.cookie(this.cookieName, '', 0) });
      }
      return this.takeSnapshot(req, res, viewer, decodeOr(snap![1]!), form.get('reason') ?? '');
    }
    return send(res, 404, HTML, messagePage('Not found', 'There is nothing here. No recording can be viewed or downloaded from this page.', viewer, this.o.state.boxId));
  }

  private loginForm(req: IncomingMessage, res: ServerResponse, status = 200, message?: string, headers: Record<string, string> = {}): void {
    if (status === 200 && this.session(req).session) return redirect(res, '/');
    const csrf = randomToken();
    const problem = this.users.problem() ? 'Logins are not possible: the users file cannot be read (see the daemon log).' : undefined;
    const none = !problem && this.users.count() === 0 ? 'No user can log in yet: on the box, run edge-nvr user add NAME --role viewer.' : undefined;
    send(res, status, HTML, loginPage(csrf, message ?? problem ?? none, this.o.state.boxId), { 'Set-Cookie': this.cookie(this.loginCookie, csrf), ...headers });
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const form = await readForm(req);
    if (form === TOO_LARGE) return tooLarge(res);
    if (!form || !this.sameOrigin(req) || !sameToken(form.get('csrf') ?? undefined, cookies(req).get(this.loginCookie))) {
      return this.loginForm(req, res, 403, 'The login form was stale. Try again.');
    }
    const typed = (form.get('user') ?? '').trim().toLowerCase();
    // a name that cannot be a user name may be a password typed in the wrong field: never recorded
    const name = NAME_PATTERN.test(typed) ? typed : undefined;
    // nor is a name that is no user's: a password of lower-case letters and digits looks like one
    const actor = name === undefined ? '(not a user name)' : this.users.get(name) ? name : '(no such user)';
    const password = form.get('password') ?? '';
    const limits: Array<[AttemptLimiter, string]> = [[this.byAddress, `address ${clientKey(req.socket.remoteAddress)}`], ...(name ? [[this.byUser, `user ${name}`] as [AttemptLimiter, string]] : [])];
    const waitMs = Math.max(...limits.map(([l, k]) => l.retryAfterMs(k)));
    if (waitMs > 0) {
      // one audit entry per lock-out, not one per refused try (a flood must not fill the log)
      const fresh = limits.filter(([l, k]) => l.retryAfterMs(k) > 0 && (this.lockedAudited.get(k) ?? 0) < Date.now());
      for (const [l, k] of fresh) this.lockedAudited.set(k, Date.now() + l.retryAfterMs(k));
      if (fresh.length) {
        this.audit({ actor, action: 'web.login.locked', details: { address, locked: fresh.map(([l, k]) => (l === this.byUser ? `user ${actor}` : k)), retry_after_s: Math.ceil(waitMs / 1000) } });
        this.o.log.warn({ address, user: actor, retryAfterS: Math.ceil(waitMs / 1000) }, 'status page: too many failed logins, locked for a while');
      }
      if (this.lockedAudited.size > 10_000) this.lockedAudited.clear();
      return this.loginForm(req, res, 429, `Too many failed logins. Try again in ${Math.ceil(waitMs / 60_000)} min.`, { 'Retry-After': String(Math.ceil(waitMs / 1000)) });
    }
    const client = clientKey(req.socket.remoteAddress);
    const loginsWaitMs = this.logins.retryAfterMs(client);
    if (loginsWaitMs > 0 || this.waitingChecks >= MAX_WAITING_CHECKS) {
      if (Date.now() - this.busyLogged >= 60_000) {
        this.busyLogged = Date.now();
        this.o.log.warn({ address, loginsPerMinute: LOGINS_LIMIT.maxAttempts, waiting: this.waitingChecks }, 'status page: logins refused unchecked (too many from one client, or too many waiting; logged once a minute)');
      }
      const retryS = loginsWaitMs > 0 ? Math.ceil(loginsWaitMs / 1000) : 1;
      return this.loginForm(req, res, loginsWaitMs > 0 ? 429 : 503, loginsWaitMs > 0 ? `Too many logins from this address. Try again in ${retryS} s.` : 'The box is busy checking other logins. Try again in a moment.', { 'Retry-After': String(retryS) });
    }
    // counted as failed while the password is checked: tries sent at once all passed the check
    // above before the first of them had failed, and each got its guess (and its scrypt)
    const pending = limits.map(([l, k]) => [l, k, l.count(k)] as const);
    const user = name ? this.users.get(name) : undefined;
    const ok = await this.checkPassword(password, user?.hash);
    if (!ok || !user) {
      this.audit({ actor, action: 'web.login.failed', details: { address, why: user ? 'wrong password' : 'no such user' } });
      this.o.log.warn({ address, user: actor }, 'status page: failed login');
      return this.loginForm(req, res, 401, 'Wrong user name or password.');
    }
    for (const [l, k, at] of pending) {
      if (l === this.byUser) l.clear(k);
      else l.forgive(k, at);
    }
    // fail closed: a login the audit log cannot register opens no session
    if (!this.audit({ actor: user.name, action: 'web.login', details: { address, role: user.role } })) {
      return this.loginForm(req, res, 503, 'The box cannot register a login now (its audit log cannot be written). Try again later.');
    }
    this.logins.count(client); // a success, counted
    const { token } = this.sessions.create(user.name, user.role, user.hash);
    this.o.log.info({ address, user: user.name, role: user.role }, 'status page: login');
    redirect(res, '/', { 'Set-Cookie': [this.cookie(this.cookieName, token), this.cookie(this.loginCookie, '', 0)] });
  }

  /** verifyPassword, one at a time (MAX_WAITING_CHECKS). */
  private async checkPassword(password: string, hash: string | undefined): Promise<boolean> {
    this.waitingChecks++;
    const run = this.checks.then(() => verifyPassword(password, hash));
    this.checks = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.waitingChecks--;
    }
  }

  /** Whether the entry is in the audit log: what must be registered (a login, a picture leaving) is refused when it is not. */
  private audit(entry: Parameters<BoxState['audit']>[0]): boolean {
    try {
      this.o.state.audit(entry);
      return true;
    } catch (err) {
      this.o.log.error({ err, action: entry.action }, 'cannot write the audit log');
      return false;
    }
  }

  private async overviewInput(viewer: Viewer): Promise<OverviewInput> {
    const s = this.o.state;
    const health = await s.health();
    return {
      health, gaps: (camera, from, to) => s.gaps(camera, from, to), events: s.events(EVENTS_SHOWN), mqtt: s.mqtt(), holds: s.activeHolds(),
      verification: s.verification(), viewer, site: s.site, refreshS: this.o.http.refresh_seconds, now: health.ts,
    };
  }

  private async takeSnapshot(req: IncomingMessage, res: ServerResponse, viewer: Viewer, camera: string, reason: string): Promise<void> {
    const box = this.o.state.boxId;
    if (viewer.role !== 'manager') return send(res, 403, HTML, messagePage('Not allowed', 'Snapshots are for managers; viewers see the overview only.', viewer, box));
    const health = await this.o.state.health();
    if (!health.cameras.some((c) => c.camera === camera)) return send(res, 404, HTML, messagePage('No such camera', `There is no camera "${camera}" on this box.`, viewer, box));
    const why = reason.trim().replace(/\s+/g, ' ');
    if (why.length < 3 || why.length > 200) return send(res, 400, HTML, messagePage('A reason is needed', 'Say why you take the snapshot (3 to 200 characters): it goes into the audit log.', viewer, box));
    if (this.snapshotRunning) return send(res, 429, HTML, messagePage('Busy', 'Another snapshot is being taken. Try again in a few seconds.', viewer, box), { 'Retry-After': '5' });
    this.snapshotRunning = true;
    try {
      checkName(viewer.user);
      const r = await this.o.state.snapshot(camera, viewer.user, `status page: ${why}`);
      this.snapshots.set(r.export_id, { camera, user: viewer.user, account: this.account(viewer), out: r.out, export_id: r.export_id, sha256: r.sha256, blanked_frames: r.blanked_frames, at_ms: Date.now() });
      while (this.snapshots.size > SNAPSHOTS_KEPT) this.snapshots.delete(this.snapshots.keys().next().value!);
      this.o.log.info({ camera, user: viewer.user, export_id: r.export_id, address: req.socket.remoteAddress }, 'status page: snapshot taken');
      return redirect(res, `/snapshots/${r.export_id}`);
    } catch (err) {
      this.o.log.warn({ camera, user: viewer.user, err }, 'status page: snapshot failed');
      return send(res, 500, HTML, messagePage('No snapshot', `The snapshot could not be taken: ${(err as Error).message}`, viewer, box));
    } finally {
      this.snapshotRunning = false;
    }
  }

  /** The account behind a session (its creation time); -1 when gone since. */
  private account(viewer: Viewer): number {
    return this.users.get(viewer.user)?.created_ms ?? -1;
  }

  /** Only the account that took a snapshot sees it (not a new one given the same name), and only what the egress gate wrote. */
  private showSnapshot(req: IncomingMessage, res: ServerResponse, viewer: Viewer, id: string, image: boolean): void {
    const s = this.snapshots.get(id);
    if (!s || s.user !== viewer.user || s.account !== this.account(viewer)) return send(res, 404, HTML, messagePage('Not found', 'No such snapshot of yours.', viewer, this.o.state.boxId));
    if (!image) return send(res, 200, HTML, snapshotPage(viewer, this.o.state.boxId, s));
    let jpeg: Buffer;
    try {
      jpeg = readFileSync(s.out);
    } catch (e) {
      // removed from the exports folder since (by hand, or the disk guard): gone, not a server fault
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.snapshots.delete(id);
      return send(res, 410, HTML, messagePage('Gone', 'This snapshot\'s file has been removed from the box since it was taken.', viewer, this.o.state.boxId));
    }
    // each time the picture leaves the box, where to: taking it registered the file, not the browser that got it
    // (a HEAD sends no picture)
    const address = req.socket.remoteAddress ?? null;
    if (req.method === 'HEAD') return send(res, 200, 'image/jpeg', jpeg);
    if (!this.audit({
      actor: viewer.user, action: 'web.snapshot.viewed', camera: s.camera, reason: 'status page: snapshot shown',
      destination: `web ${address ?? 'unknown address'}`, details: { export_id: s.export_id, address, sha256: s.sha256 },
    })) {
      return send(res, 503, HTML, messagePage('Not now', 'The box cannot register this viewing now (its audit log cannot be written). Try again later.', viewer, this.o.state.boxId));
    }
    send(res, 200, 'image/jpeg', jpeg);
  }
}

/**
 * An absolute-form request target (`GET http://host/path`, as sent to a proxy) made the usual
 * origin form, its authority the Host (RFC 9112 3.2.2: the Host header is then ignored): it was
 * answered as a path no route has, and a rebinding name in it passed the loopback check. False
 * for a target that is neither (`*`, `host:port`), or an absolute one that cannot be parsed.
 */
function originForm(req: IncomingMessage): boolean {
  const target = req.url ?? '';
  if (target.startsWith('/')) return true;
  if (!/^https?:\/\//i.test(target)) return false;
  try {
    const url = new URL(target);
    req.url = `${url.pathname}${url.search}`;
    req.headers.host = url.host;
    return true;
  } catch {
    return false;
  }
}

/** The host name of a Host header (`127.0.0.1:8080`, `[::1]:8080`, `localhost`), without port or brackets; '' when absent. */
function hostOf(header: string | undefined): string {
  const h = (header ?? '').trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (bracketed) return bracketed[1]!;
  return h.replace(/:\d+$/, '').replace(/\.$/, '');
}
