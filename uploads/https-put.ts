/**
 * One HTTPS PUT of a streamed body with a known length: TLS verified against the system's CAs
 * and, when given, the platform's own CA (never switched off), Content-Length set, the body read
 * from its source as the socket takes it (never held whole in memory), the answer's status
 * checked. Errors name the status or the network or TLS failure, never the URL's query and never
 * the answer's body (an S3 error repeats the signature it refused).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import { foreignText } from '../common/human.js';

export interface PutRequest {
  url: string;
  length: number;
  body: AsyncIterable<Buffer>;
  contentType: string;
  /** PEM of an extra CA, trusted besides the system's */
  ca?: string;
  bearer?: string;
  /**
   * No progress this long fails the attempt: no part of the body taken by the server, or, once it
   * is all sent, no complete answer head (a server sending `102 Processing` or trickling its head
   * a byte at a time keeps the socket busy, and held every upload behind it: an outside probe).
   */
  timeoutMs: number;
  signal: AbortSignal;
}

export interface PutResult {
  status: number;
  bytes: number;
  sha256: string;
}

/**
 * `permanent`: trying again cannot help (the server refused the request itself).
 * `retryAfterMs`: how long the server asked to be left alone (`Retry-After` on a 429 or 503).
 */
export class PutError extends Error {
  constructor(message: string, readonly permanent: boolean, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Retry-After in seconds or as an HTTP date; undefined when absent, unreadable or in the past. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** 16 KiB, the socket's high-water mark: 270 bytes a second keep a 60 s timeout from firing */
const PIECE = 16 * 1024;

/** 4xx but these say "later": a timeout, too early, too many requests. */
const RETRYABLE_4XX = new Set([408, 425, 429]);

export function httpsPut(o: PutRequest): Promise<PutResult> {
  const u = new URL(o.url);
  const hide = (text: string) => (u.search ? text.split(u.search).join('?***') : text);
  return new Promise<PutResult>((resolve, reject) => {
    let settled = false;
    let sent: { bytes: number; sha256: string } | undefined;
    // ends the body's loop (and closes the file it reads) however the request ends
    const done = new AbortController();
    let stall: NodeJS.Timeout | undefined;
    const progress = (what: string) => {
      clearTimeout(stall);
      stall = setTimeout(() => settle(new PutError(`no progress for ${Math.round(o.timeoutMs / 1000)} s (${what})`, false)), o.timeoutMs);
    };
    const settle = (err?: PutError, result?: PutResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(stall);
      done.abort();
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(result!);
    };
    const req = request(u, {
      method: 'PUT',
      agent: false,
      headers: {
        'content-length': String(o.length), 'content-type': o.contentType,
        ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}),
      },
      ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}),
      rejectUnauthorized: true,
      timeout: o.timeoutMs,
      signal: o.signal,
    });
    req.on('timeout', () => req.destroy(new PutError(`no progress for ${Math.round(o.timeoutMs / 1000)} s`, false)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof PutError) return settle(err);
      const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(err.code ?? '');
      settle(new PutError(hide(`${tls ? 'TLS: the server\'s certificate is not trusted: ' : ''}${err.code ? `${err.code}: ` : ''}${err.message}`), false));
    });
    req.on('response', (res) => {
      clearTimeout(stall);
      res.resume();
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        if (sent) settle(undefined, { status, ...sent });
        else settle(new PutError(`the server answered ${status} before the whole object was sent`, false));
      } else if (status >= 300 && status < 400) {
        settle(new PutError(`the server answered ${status}: redirects are not followed (the platform must give the final URL)`, true));
      } else {
        const wait = status === 429 || status === 503 ? retryAfterMs(res.headers['retry-after']) : undefined;
        settle(new PutError(`the server answered ${status} ${foreignText(hide(res.statusMessage ?? ''))}`.trim(), status >= 400 && status < 500 && !RETRYABLE_4XX.has(status), wait));
      }
    });
    void (async () => {
      const hash = createHash('sha256');
      let bytes = 0;
      progress('the server took none of the object');
      for await (const chunk of o.body) {
        if (settled) return;
        hash.update(chunk);
        // written in small pieces, so a slow link still shows progress within the timeout
        for (let at = 0; at < chunk.length; at += PIECE) {
          const piece = chunk.subarray(at, at + PIECE);
          if (!req.write(piece)) await once(req, 'drain', { signal: done.signal });
          bytes += piece.length;
          progress(`the server stopped taking the object at ${bytes} of ${o.length} bytes`);
        }
      }
      if (bytes !== o.length) throw new Error(`the body was ${bytes} bytes, not the ${o.length} announced`);
      sent = { bytes, sha256: hash.digest('hex') };
      progress('no answer to the whole object');
      req.end();
    })().catch((err: unknown) => settle(err instanceof PutError ? err : new PutError(hide((err as Error).message), false)));
  });
}
