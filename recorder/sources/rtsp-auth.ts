/**
 * RTSP authentication as cameras ask for it (RFC 2617 / 7616 carried over to RTSP): Digest with
 * MD5, MD5-sess or SHA-256, with or without qop=auth, and Basic. The relay answers a challenge
 * only: credentials go to a camera after it asked for them, never before.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface Challenge {
  scheme: 'digest' | 'basic';
  realm: string;
  nonce?: string;
  opaque?: string;
  algorithm?: string;
  /** the qop options offered, lower case */
  qop: string[];
  stale: boolean;
}

/** `Digest realm="x", nonce="y", qop="auth,auth-int"` -> its parameters (quoted or token values). */
function params(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/gi;
  for (let m = re.exec(text); m; m = re.exec(text)) out[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return out;
}

const DIGEST_ALGORITHMS = new Set(['md5', 'md5-sess', 'sha-256', 'sha-256-sess']);

/** Each WWW-Authenticate header holds one challenge (what cameras send); unusable ones are dropped. */
export function parseChallenges(values: string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of values) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
    if (!m) continue;
    const scheme = m[1]!.toLowerCase();
    const p = params(m[2]!);
    if (scheme === 'basic') out.push({ scheme, realm: p.realm ?? '', qop: [], stale: false });
    if (scheme === 'digest' && p.nonce && DIGEST_ALGORITHMS.has((p.algorithm ?? 'md5').toLowerCase())) {
      out.push({
        scheme, realm: p.realm ?? '', nonce: p.nonce, opaque: p.opaque, algorithm: p.algorithm,
        qop: (p.qop ?? '').split(',').map((q) => q.trim().toLowerCase()).filter(Boolean), stale: (p.stale ?? '').toLowerCase() === 'true',
      });
    }
  }
  return out;
}

/** Digest where the camera offers it (the password never crosses the network), Basic otherwise. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'digest' && /sha-256/i.test(c.algorithm ?? ''))
    ?? challenges.find((c) => c.scheme === 'digest')
    ?? challenges.find((c) => c.scheme === 'basic');
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * The Authorization header for one request. `nc` counts the requests answered with this nonce
 * (qop=auth needs it to grow); the caller keeps it per challenge.
 */
export function authorization(c: Challenge, creds: { username: string; password: string }, method: string, uri: string, nc: number): string {
  if (c.scheme === 'basic') return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
  const algorithm = (c.algorithm ?? 'MD5').toLowerCase();
  const h = (s: string) => createHash(algorithm.startsWith('sha-256') ? 'sha256' : 'md5').update(s, 'utf8').digest('hex');
  const nonce = c.nonce!;
  const cnonce = randomBytes(8).toString('hex');
  let ha1 = h(`${creds.username}:${c.realm}:${creds.password}`);
  if (algorithm.endsWith('-sess')) ha1 = h(`${ha1}:${nonce}:${cnonce}`);
  const ha2 = h(`${method}:${uri}`);
  const qop = c.qop.includes('auth') ? 'auth' : undefined;
  const ncHex = nc.toString(16).padStart(8, '0');
  const response = qop ? h(`${ha1}:${nonce}:${ncHex}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
  const parts = [
    `username=${quote(creds.username)}`, `realm=${quote(c.realm)}`, `nonce=${quote(nonce)}`, `uri=${quote(uri)}`, `response=${quote(response)}`,
    ...(c.algorithm ? [`algorithm=${c.algorithm}`] : []),
    ...(c.opaque !== undefined ? [`opaque=${quote(c.opaque)}`] : []),
    ...(qop ? [`qop=${qop}`, `nc=${ncHex}`] : []),
    ...(qop || algorithm.endsWith('-sess') ? [`cnonce=${quote(cnonce)}`] : []),
  ];
  return `Digest ${parts.join(', ')}`;
}
