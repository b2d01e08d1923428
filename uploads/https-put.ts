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

export interface PutRequest {
  url: string;
  length: number;
  body: AsyncIterable<Buffer>;
  contentType: string;
  /** PEM of an extra CA, trusted besides the system's */
  ca?: string;
  bearer?: string;
  /** a connection silent this long fails */
  timeoutMs: number;
  signal: AbortSignal;
}

export interface PutResult {
  status: number;
  bytes: number;
  sha256: string;
}

/** `permanent`: trying again cannot help (the server refused the request itself). */
export class PutError extends Error {
  constructor(message: string, readonly permanent: boolean) {
    super(message);
  }
}

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
    const settle = (err?: PutError, result?: PutResult) => {
      if (settled) return;
      settled = true;
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
      res.resume();
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        if (sent) settle(undefined, { status, ...sent });
        else settle(new PutError(`the server answered ${status} before the whole object was sent`, false));
      } else if (status >= 300 && status < 400) {
        settle(new PutError(`the server answered ${status}: redirects are not followed (the platform must give the final URL)`, true));
      } else {
        settle(new PutError(`the server answered ${status} ${hide(res.statusMessage ?? '')}`.trim(), status >= 400 && status < 500 && !RETRYABLE_4XX.has(status)));
      }
    });
    void (async () => {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of o.body) {
        if (settled) return;
        hash.update(chunk);
        bytes += chunk.length;
        if (!req.write(chunk)) await once(req, 'drain', { signal: done.signal });
      }
      if (bytes !== o.length) throw new Error(`the body was ${bytes} bytes, not the ${o.length} announced`);
      sent = { bytes, sha256: hash.digest('hex') };
      req.end();
    })().catch((err: unknown) => settle(err instanceof PutError ? err : new PutError(hide((err as Error).message), false)));
  });
}
