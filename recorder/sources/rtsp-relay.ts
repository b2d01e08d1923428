/**
 * A loopback RTSP relay that keeps camera passwords off command lines.
 *
 * ffmpeg and ffprobe take RTSP credentials only in the URL's userinfo (their RTSP demuxer has no
 * user or password option, and ffmpeg 5.1 on Debian 12 cannot read an argument from a file), and
 * every local user can read every process's command line in /proc/<pid>/cmdline. So a tool that
 * records or probes an authenticated camera is given `rtsp://127.0.0.1:<port>/<token>/<path>`
 * instead: this relay, inside the daemon's (or the CLI's) own process, connects to the camera,
 * answers its authentication challenge (Digest, or Basic when that is all it offers and it never
 * offered Digest since this process started) and passes
 * everything else through, RTP included (TCP-interleaved, as the recorder asks for).
 *
 * Who may use it: only connections carrying a token handed out for one URL, from a process of the
 * relay's own user (the kernel's socket table, /proc/net/tcp, names the owner of the connecting
 * socket). Another local user who reads the token from a command line is refused; the service
 * user can read the config and its password files anyway. The token is checked first: reading
 * the socket table costs the kernel about 1.6 ms per thousand sockets, and any local user can
 * open thousands of sockets and connect to the relay in a loop (a read per connection, on the
 * event loop, had stalled the daemon for 125 ms at each of them). Owner checks run one at a time,
 * off the event loop, and a connection finding too many waiting is refused.
 *
 * Where credentials go: only to the host and port of the URL they were given with, and only
 * after that host asked for them (a 401 challenge). Requests that name another host in their
 * URI still go to the camera's own connection.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { createServer, isIPv4, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { scrubCredentials, splitCredentials } from '../../common/credentials.js';
import { foreignText } from '../../common/human.js';
import { authorization, parseChallenges, pickChallenge, type Challenge } from './rtsp-auth.js';
import {
  header, headers, requestLine, response, RtspStreamParser, serialize, statusOf, withHeader, type RtspChunk, type RtspMessage,
} from './rtsp-messages.js';

export interface RelayedUrl {
  /** what the tool is given: no credentials, usable by this user only, until `close()` */
  readonly url: string;
  /** why the camera could not be used through the relay (unreachable, refused the credentials),
   * without credentials; undefined while nothing failed. Tools only see "503" or "401". */
  readonly upstreamError?: string;
  close(): void;
}

interface Target {
  /** scheme://host[:port] exactly as configured, without userinfo: what requests are sent with */
  origin: string;
  /** the same with the scheme's default port spelt out (cameras echo either) */
  originWithPort: string;
  host: string;
  port: number;
  tls: boolean;
  username: string;
  password: string;
  connectTimeoutMs: number;
  /** for error messages */
  safeUrl: string;
}

const DEFAULT_PORT: Record<string, number> = { 'rtsp:': 554, 'rtsps:': 322 };

/** A URL that needs the relay: RTSP(S) with credentials. */
export function needsRelay(url: string): boolean {
  return /^rtsps?:\/\//i.test(url) && splitCredentials(url).username !== undefined;
}

/**
 * The URL a child process may be given for `url`: `url` itself when it carries no credentials
 * (or is not RTSP), else a relay URL valid until `close()`.
 */
export async function relayUrl(url: string, opts: { connectTimeoutMs: number }): Promise<RelayedUrl> {
  if (!needsRelay(url)) return { url, close: () => undefined };
  return relay.lease(url, opts.connectTimeoutMs);
}

class Lease implements RelayedUrl {
  url = '';
  upstreamError?: string;
  readonly connections = new Set<Socket>();
  constructor(readonly token: string, readonly target: Target, private readonly onClose: (l: Lease) => void) {}

  close(): void {
    for (const s of this.connections) s.destroy();
    this.connections.clear();
    this.onClose(this);
  }
}

class RtspRelay {
  private server?: Server;
  private listening?: Promise<number>;
  private readonly leases = new Map<string, Lease>();

  async lease(url: string, connectTimeoutMs: number): Promise<Lease> {
    const port = await this.listen();
    const { url: bare, username, password } = splitCredentials(url);
    const u = new URL(bare);
    const tls = u.protocol.toLowerCase() === 'rtsps:';
    const defaultPort = DEFAULT_PORT[u.protocol.toLowerCase()]!;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const origin = /^[a-z]+:\/\/[^/?#]*/i.exec(bare)![0];
    const target: Target = {
      origin, originWithPort: u.port ? origin : `${origin}:${defaultPort}`, host, port: Number(u.port) || defaultPort, tls,
      username: username ?? '', password: password ?? '', connectTimeoutMs, safeUrl: scrubCredentials(url),
    };
    const token = randomBytes(16).toString('hex');
    const lease = new Lease(token, target, (l) => this.release(l));
    lease.url = `rtsp://127.0.0.1:${port}/${token}${bare.slice(origin.length)}`;
    this.leases.set(token, lease);
    return lease;
  }

  private release(lease: Lease): void {
    if (!this.leases.delete(lease.token) || this.leases.size > 0) return;
    // the last lease gone: the port closes, and a CLI process can exit
    this.server?.close();
    this.server = undefined;
    this.listening = undefined;
  }

  private listen(): Promise<number> {
    this.listening ??= new Promise<number>((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket, server));
      server.unref();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
      this.server = server;
    });
    return this.listening;
  }

  private accept(client: Socket, server: Server): void {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    new RelayConnection(client, (token) => this.leases.get(token), port);
  }
}

const relay = new RtspRelay();

/** TCP_ESTABLISHED in the kernel's socket table */
const ESTABLISHED = '01';

/** owner checks waiting or running at most: a connection finding this many is refused (a bound on
 * what a flood can queue; twice the 64 cameras a box records, all connecting at once at start) */
const MAX_OWNER_CHECKS = 128;
let ownerChecks = 0;
let ownerCheckQueue: Promise<unknown> = Promise.resolve();
/** how many times the socket table was read, and the most reads ever in progress at once (the tests watch both) */
export const ownerCheckStats = { reads: 0, mostAtOnce: 0 };
let readsNow = 0;

/**
 * The user owning the other end of a loopback TCP connection, from the kernel's socket table
 * (/proc/net/tcp: the relay listens on 127.0.0.1 only): the connected entry whose local address
 * and port are the peer's and whose remote ones are ours, all four. Ports alone named the wrong
 * socket: another user connecting from 127.0.0.2 with the recorder's source port found the
 * recorder's entry (first in the table) and was served the camera; a TIME_WAIT entry of the same
 * ports is owned by root. Undefined when unknown, or when too many checks are already waiting.
 */
export function peerUid(socket: Socket): Promise<number | undefined> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort || !isIPv4(remoteAddress) || !isIPv4(localAddress)) return Promise.resolve(undefined);
  if (ownerChecks >= MAX_OWNER_CHECKS) return Promise.resolve(undefined);
  ownerChecks++;
  const entry = `${procAddress(remoteAddress, remotePort)} ${procAddress(localAddress, localPort)} ${ESTABLISHED} `;
  const check = ownerCheckQueue.then(() => ownerInTable(entry)).finally(() => { ownerChecks--; });
  ownerCheckQueue = check.catch(() => undefined);
  return check;
}

/** The uid of the socket table's line holding `entry` (local, remote, state). */
async function ownerInTable(entry: string): Promise<number | undefined> {
  ownerCheckStats.reads++;
  ownerCheckStats.mostAtOnce = Math.max(ownerCheckStats.mostAtOnce, ++readsNow);
  let text: string;
  try {
    text = await readFile('/proc/net/tcp', 'latin1');
  } catch {
    return undefined;
  } finally {
    readsNow--;
  }
  // a line: "sl local remote st tx_queue:rx_queue tr:tm->when retrnsmt uid ..."
  const at = text.indexOf(` ${entry}`);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at);
  const f = text.slice(at, end < 0 ? undefined : end).trim().split(/\s+/);
  return Number(f[6]);
}

/** An IPv4 address and port as /proc/net/tcp prints them: the address's 4 bytes read as the host's integer, in hex */
function procAddress(ip: string, port: number): string {
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
  const bytes = ip.split('.');
  return `${(endianness() === 'LE' ? bytes.reverse() : bytes).map((b) => hex(Number(b), 2)).join('')}:${hex(port, 4)}`;
}

/**
 * Cameras (scheme, host and port) that offered Digest since this process started: a Basic
 * challenge from one of them is refused, never answered with the password in clear. Kept for the
 * process, not the connection: a connection dropped by whoever poses as the camera comes back
 * as a new one.
 */
const digestOffered = new Set<string>();

/** A request on its way to the camera, kept until answered: a 401 sends it again with credentials. */
interface InFlight {
  clientCSeq: string | undefined;
  message: RtspMessage;
  method: string;
  uri: string;
  authorized: boolean;
  retried: boolean;
}

/** One tool's connection through the relay, and the relay's own connection to the camera. */
class RelayConnection {
  private lease?: Lease;
  private upstream?: Socket;
  private upstreamReady = false;
  private readonly queued: Buffer[] = [];
  private readonly fromClient = new RtspStreamParser();
  private readonly fromCamera = new RtspStreamParser();
  private readonly inFlight = new Map<string, InFlight>();
  private nextCSeq = 1;
  /** what the tool sent while its owner was being checked, handled once it passed */
  private admitting?: RtspChunk[];
  private challenge?: Challenge;
  private nonceCount = 0;
  private answered = false;
  private closed = false;

  constructor(private readonly client: Socket, private readonly leaseOf: (token: string) => Lease | undefined, private readonly port: number) {
    client.on('data', (chunk: Buffer) => this.guard(() => this.fromClient.push(chunk).forEach((c) => this.fromTool(c))));
    client.on('error', () => this.close());
    client.on('close', () => this.close());
  }

  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.fail(`garbled RTSP: ${(err as Error).message}`);
    }
  }

  private get relayPrefix(): string {
    return `rtsp://127.0.0.1:${this.port}/${this.lease!.token}`;
  }

  /**
   * The tool's first request names a lease (a token it was handed), and the tool must be a process
   * of this user: until both hold, nothing goes to the camera. The token first: an unknown one is
   * answered 404 without reading the socket table.
   */
  private fromTool(c: RtspChunk): void {
    if (this.lease) return this.onClientChunk(c);
    if (this.admitting) {
      this.admitting.push(c);
      return;
    }
    const req = c.kind === 'message' ? requestLine(c.message) : undefined;
    const token = req && /^rtsps?:\/\/[^/]+\/([0-9a-f]{32})(?=[/?]|$)/i.exec(req.uri)?.[1];
    const lease = token ? this.leaseOf(token) : undefined;
    if (!lease) {
      if (c.kind === 'message') this.client.end(serialize(response(404, 'Not Found', header(c.message, 'CSeq'))));
      else this.client.destroy();
      this.closed = true;
      return;
    }
    this.admitting = [c];
    this.client.pause();
    void peerUid(this.client).then((uid) => {
      if (this.closed) return;
      // refused: another user, too many checks waiting, or the lease closed meanwhile
      if (uid === undefined || uid !== process.getuid?.() || this.leaseOf(lease.token) !== lease) {
        this.close();
        return;
      }
      const waiting = this.admitting!;
      this.admitting = undefined;
      this.lease = lease;
      lease.connections.add(this.client);
      this.connectCamera();
      this.guard(() => waiting.forEach((w) => this.onClientChunk(w)));
      this.client.resume();
    });
  }

  private onClientChunk(c: RtspChunk): void {
    if (c.kind === 'binary') return this.toCamera(c.data);
    const req = requestLine(c.message);
    // a response: the tool answering a request the camera made (GET_PARAMETER, ANNOUNCE)
    if (!req) return this.toCamera(serialize(c.message));
    const uri = this.uriForCamera(req.uri);
    const message = withHeader(withHeader({ ...c.message, startLine: `${req.method} ${uri} ${req.version}` }, 'Authorization', undefined), 'Proxy-Authorization', undefined);
    this.send({ clientCSeq: header(c.message, 'CSeq'), message, method: req.method, uri, authorized: false, retried: false });
  }

  /** Relay URIs become the camera's; any other URI goes as it is, on the camera's connection. */
  private uriForCamera(uri: string): string {
    const prefix = this.relayPrefix;
    return uri.startsWith(prefix) && /^(?:[/?]|$)/.test(uri.slice(prefix.length)) ? this.lease!.target.origin + uri.slice(prefix.length) : uri;
  }

  /** The camera's own URIs in what the tool reads, so its base URL, controls and RTP-Info agree. */
  private textForClient(text: string): string {
    const { origin, originWithPort } = this.lease!.target;
    let out = text;
    for (const o of new Set([originWithPort, origin])) {
      out = out.replace(new RegExp(`${o.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[/?;,\\s]|$)`, 'gi'), this.relayPrefix);
    }
    return out;
  }

  private send(f: InFlight): void {
    const cseq = String(this.nextCSeq++);
    let m = withHeader(f.message, 'CSeq', cseq);
    // a Basic challenge kept from before the camera offered Digest (on another connection) is not used again
    if (this.challenge && !(this.challenge.scheme === 'basic' && digestOffered.has(this.lease!.target.originWithPort.toLowerCase()))) {
      m = withHeader(m, 'Authorization', authorization(this.challenge, this.lease!.target, f.method, f.uri, ++this.nonceCount));
      f.authorized = true;
    }
    this.inFlight.set(cseq, f);
    this.toCamera(serialize(m));
  }

  private onCameraChunk(c: RtspChunk): void {
    if (c.kind === 'binary') return this.toClient(c.data);
    const status = statusOf(c.message);
    // a request from the camera: the tool answers it
    if (!status) return this.toClient(serialize(c.message));
    this.answered = true;
    const cseq = header(c.message, 'CSeq');
    const f = cseq === undefined ? undefined : this.inFlight.get(cseq);
    if (cseq !== undefined) this.inFlight.delete(cseq);
    let refusal: string | undefined;
    if (f && status.code === 401 && !f.retried) {
      const offered = parseChallenges(headers(c.message, 'WWW-Authenticate'));
      const target = this.lease!.target;
      if (offered.some((o) => o.scheme === 'digest')) digestOffered.add(target.originWithPort.toLowerCase());
      const next = pickChallenge(offered);
      const fresh = next && (!f.authorized || next.stale || next.nonce !== this.challenge?.nonce);
      // Basic sends the password in clear, so it is answered only for a camera that never offered
      // Digest: one that did and now asks for Basic (on a later request, or a new connection
      // after the old one dropped) is more likely something posing as it than a camera changing
      // its mind. An outside probe's "camera" accepted Digest for OPTIONS, then had the password
      // in clear on DESCRIBE, PLAY and TEARDOWN.
      if (next?.scheme === 'basic' && digestOffered.has(target.originWithPort.toLowerCase()) && target.username) {
        refusal = `camera ${target.safeUrl} asked for Basic authentication, which would send the password in clear, after offering Digest: refused, the password was not sent (something on the network may be posing as the camera; if the camera was really switched to Basic only, restart edge-nvr)`;
      } else if (next && fresh && target.username) {
        this.challenge = next;
        this.nonceCount = 0;
        this.send({ ...f, retried: true });
        return;
      }
    }
    // the reason phrase is the camera's: it reaches the terminal (probe, check) and the log
    if (refusal) this.lease!.upstreamError = refusal;
    else if (status.code === 401) this.lease!.upstreamError = `camera ${this.lease!.target.safeUrl} refused the credentials (401 ${foreignText(status.reason) || 'Unauthorized'}): wrong username or password`;
    let m = withHeader(c.message, 'CSeq', f ? f.clientCSeq : cseq);
    m = withHeader(m, 'WWW-Authenticate', undefined);
    for (const name of ['Content-Base', 'Content-Location', 'Location', 'RTP-Info']) {
      const value = header(m, name);
      if (value !== undefined) m = withHeader(m, name, this.textForClient(value));
    }
    if (m.body.length && /sdp/i.test(header(m, 'Content-Type') ?? '')) {
      const body = Buffer.from(this.textForClient(m.body.toString('latin1')), 'latin1');
      m = withHeader({ ...m, body }, 'Content-Length', String(body.length));
    }
    this.toClient(serialize(m));
  }

  private connectCamera(): void {
    const t = this.lease!.target;
    const onConnect = () => {
      socket.setTimeout(0);
      this.upstreamReady = true;
      for (const b of this.queued.splice(0)) socket.write(b);
    };
    const socket = t.tls
      ? tlsConnect({ host: t.host, port: t.port, servername: /^[\d.]+$|:/.test(t.host) ? undefined : t.host,
        // cameras carry self-signed certificates; ffmpeg does not verify them either (tls_verify=0)
        rejectUnauthorized: false }, onConnect)
      : tcpConnect({ host: t.host, port: t.port }, onConnect);
    this.upstream = socket;
    this.lease!.connections.add(socket);
    socket.setTimeout(t.connectTimeoutMs, () => this.fail(`no connection within ${Math.round(t.connectTimeoutMs / 1000)} s (camera unreachable)`));
    socket.on('data', (chunk: Buffer) => this.guard(() => this.fromCamera.push(chunk).forEach((c) => this.onCameraChunk(c))));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(`${err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' ? 'unreachable' : 'connection failed'} (${err.code ?? err.message})`));
    socket.on('close', () => this.fail(this.answered ? undefined : 'closed the connection before answering'));
    // the camera stops sending while the tool cannot keep up, and the other way round
    socket.on('drain', () => this.client.resume());
    this.client.on('drain', () => socket.resume());
  }

  private toCamera(data: Buffer): void {
    if (this.closed) return;
    if (!this.upstreamReady) {
      this.queued.push(data);
      return;
    }
    if (!this.upstream!.write(data)) this.client.pause();
  }

  private toClient(data: Buffer): void {
    if (this.closed) return;
    if (!this.client.write(data)) this.upstream?.pause();
  }

  /** The camera side failed: the tool gets an RTSP answer it reports (503), the owner the reason. */
  private fail(why: string | undefined): void {
    if (this.closed) return;
    if (why && this.lease) this.lease.upstreamError ??= `camera ${this.lease.target.safeUrl} ${foreignText(why)}`;
    const pending = [...this.inFlight.values()][0];
    this.closed = true;
    if (pending && why) this.client.end(serialize(response(503, 'Service Unavailable', pending.clientCSeq)));
    else this.client.end();
    this.upstream?.destroy();
  }

  private close(): void {
    this.closed = true;
    this.upstream?.destroy();
    this.client.destroy();
    if (this.lease) {
      this.lease.connections.delete(this.client);
      if (this.upstream) this.lease.connections.delete(this.upstream);
    }
  }
}
