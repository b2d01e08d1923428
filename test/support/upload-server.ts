/**
 * A platform's upload endpoint for tests: a real Node HTTPS server on loopback taking PUTs. It
 * keeps an object only when its whole body arrived (as S3 does: a PUT cut short leaves nothing),
 * and records every request. It can be told to answer 500 a number of times, to stall on a path
 * (read the first bytes, then nothing: the box is mid-upload), and to require a bearer token.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  path: string;
  query: string;
  authorization: string | undefined;
  contentLength: number;
  received: number;
  status: number | 'stalled' | 'aborted';
  at: number;
}

export interface StoredObject {
  body: Buffer;
  sha256: string;
  /** complete PUTs of this path */
  puts: number;
}

export class UploadServer {
  private server?: Server;
  port = 0;
  readonly requests: SeenRequest[] = [];
  readonly objects = new Map<string, StoredObject>();
  /** TLS connections made (whether or not a request followed) */
  connections = 0;
  /** path -> how many more requests get a 500 */
  readonly failNext = new Map<string, number>();
  /** paths whose next request stalls after its first bytes */
  readonly stallNext = new Set<string>();
  bearer?: string;

  constructor(private readonly cert: string, private readonly key: string) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  url(path: string): string {
    return `https://${this.host}${path}`;
  }

  async start(): Promise<this> {
    const server = createServer({ cert: readFileSync(this.cert), key: readFileSync(this.key) }, (req, res) => {
      const u = new URL(req.url ?? '/', 'https://x');
      const seen: SeenRequest = {
        path: u.pathname, query: u.search, authorization: req.headers.authorization, contentLength: Number(req.headers['content-length'] ?? -1),
        received: 0, status: 'aborted', at: Date.now(),
      };
      this.requests.push(seen);
      const chunks: Buffer[] = [];
      const stall = this.stallNext.delete(u.pathname);
      req.on('data', (c: Buffer) => {
        seen.received += c.length;
        chunks.push(c);
        if (stall) { seen.status = 'stalled'; req.pause(); }
      });
      req.on('end', () => {
        const answer = (status: number) => { seen.status = status; res.writeHead(status).end(); };
        if (req.method !== 'PUT') return answer(405);
        if (this.bearer && req.headers.authorization !== `Bearer ${this.bearer}`) return answer(401);
        const fails = this.failNext.get(u.pathname) ?? 0;
        if (fails > 0) { this.failNext.set(u.pathname, fails - 1); return answer(500); }
        const body = Buffer.concat(chunks);
        if (body.length !== seen.contentLength) return answer(400);
        const before = this.objects.get(u.pathname);
        this.objects.set(u.pathname, { body, sha256: createHash('sha256').update(body).digest('hex'), puts: (before?.puts ?? 0) + 1 });
        answer(201);
      });
    });
    server.on('secureConnection', () => { this.connections++; });
    server.on('tlsClientError', () => { this.connections++; });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
