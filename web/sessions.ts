/**
 * Logged-in sessions, in memory only: a restart logs everyone out, and nothing about a session
 * is ever written to disk or to a log. The cookie holds a random token; the server keeps only its
 * SHA-256, so a memory dump or a log line with a hash in it cannot be replayed as a cookie.
 * A session ends when unused for `idleMs`, `maxMs` after its login, on logout, or as soon as its
 * user is removed, changes role or changes password.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './users.js';

export interface Session {
  user: string;
  role: Role;
  /** the user's password hash at login: a new password ends every older session */
  hash: string;
  /** sent back with every form (synchronizer token) */
  csrf: string;
  createdMs: number;
  lastSeenMs: number;
}

const MAX_SESSIONS = 1000;
/**
 * Sessions one user may hold at once (phones, laptops, tabs): a user's next login ends their own
 * least recently used one. Without it, one account logging in a thousand times (any viewer's
 * password is enough) pushed every other user's session out of the shared cap.
 */
export const MAX_SESSIONS_PER_USER = 20;

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of two tokens of any length. */
export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(digest(a));
  const y = Buffer.from(digest(b));
  return timingSafeEqual(x, y) && a === b;
}

export class Sessions {
  private readonly byDigest = new Map<string, Session>();

  constructor(private readonly idleMs: number, private readonly maxMs: number, private readonly now: () => number = Date.now) {}

  /** A new session; returns the token for the cookie. */
  create(user: string, role: Role, hash: string): { token: string; session: Session } {
    this.sweep();
    const own = [...this.byDigest.entries()].filter(([, s]) => s.user === user);
    // the least recently used goes first: the user's own while they hold their share, else anyone's
    const pool = own.length >= MAX_SESSIONS_PER_USER ? own : this.byDigest.size >= MAX_SESSIONS ? [...this.byDigest.entries()] : [];
    const oldest = pool.sort((a, b) => a[1].lastSeenMs - b[1].lastSeenMs)[0];
    if (oldest) this.byDigest.delete(oldest[0]);
    const token = randomToken();
    const now = this.now();
    const session: Session = { user, role, hash, csrf: randomToken(), createdMs: now, lastSeenMs: now };
    this.byDigest.set(digest(token), session);
    return { token, session };
  }

  /**
   * The live session of a cookie token, touched unless `touch` is false (the page's own
   * auto-refresh: an open tab kept its session alive for good); undefined when unknown or expired.
   */
  get(token: string | undefined, current: (user: string) => { role: Role; hash: string } | undefined, touch = true): Session | undefined {
    if (!token) return undefined;
    const key = digest(token);
    const s = this.byDigest.get(key);
    if (!s) return undefined;
    const now = this.now();
    const user = current(s.user);
    if (now - s.lastSeenMs > this.idleMs || now - s.createdMs > this.maxMs || !user || user.role !== s.role || user.hash !== s.hash) {
      this.byDigest.delete(key);
      return undefined;
    }
    if (touch) s.lastSeenMs = now;
    return s;
  }

  end(token: string | undefined): void {
    if (token) this.byDigest.delete(digest(token));
  }

  size(): number {
    this.sweep();
    return this.byDigest.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, s] of this.byDigest) {
      if (now - s.lastSeenMs > this.idleMs || now - s.createdMs > this.maxMs) this.byDigest.delete(k);
    }
  }
}
