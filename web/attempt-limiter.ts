/**
 * Logins are limited per key (a client, a user name): after `maxAttempts` counted attempts within
 * `windowMs`, further ones are refused unchecked until the oldest leaves the window. The page
 * counts failed logins per client and per user name (password guessing), and successful ones per
 * client (a flood of right logins still costs a scrypt each). A refused attempt costs no scrypt,
 * so a flood cannot load the CPU; the maps are bounded, so it cannot fill memory either. A login
 * counts as failed from the moment its password check starts (`count`) and is taken back only
 * once it succeeded (`forgive`): guesses sent all at once, each checked before any had failed,
 * were otherwise all let through.
 */
import { isIP } from 'node:net';
import { isLoopback } from '../config/listen.js';

export interface LimiterOptions {
  maxAttempts: number;
  windowMs: number;
}

const MAX_KEYS = 10_000;

/**
 * The client a login is counted against: its address, every loopback address one client (a
 * local user, or whoever comes through an SSH tunnel, may connect from any of 127.0.0.0/8 and
 * had 20 guesses from each), an IPv6 address by its /64 (one host on a LAN takes as many
 * addresses in its /64 as it likes: 20 guesses from each). `loopbackAsOne` false: each loopback
 * address apart (the connection cap: every SSH-tunnelled user comes from 127.0.0.1, and one
 * cap for all of loopback would let one local client keep them all off the page).
 */
export function clientKey(address: string | undefined, loopbackAsOne = true): string {
  if (address === undefined) return 'unknown';
  const v4 = address.replace(/^::ffff:(?=\d+\.)/i, '');
  if (isLoopback(v4)) return loopbackAsOne ? 'loopback' : v4;
  if (!isIP(v4) || v4.includes('.')) return v4;
  return `${ipv6Prefix64(v4)}::/64`;
}

/** The first four groups of an IPv6 address, written out (`fd00:0:0:1`), whatever its shorthand. */
function ipv6Prefix64(address: string): string {
  const bare = address.replace(/%.*$/, ''); // a zone (fe80::1%eth0)
  const [head, tail] = bare.includes('::') ? bare.split('::') as [string, string] : [bare, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':');
}

export class AttemptLimiter {
  private readonly attempts = new Map<string, number[]>();

  constructor(private readonly opts: LimiterOptions, private readonly now: () => number = Date.now) {}

  private recent(key: string): number[] {
    const since = this.now() - this.opts.windowMs;
    const list = (this.attempts.get(key) ?? []).filter((t) => t > since);
    if (list.length) this.attempts.set(key, list);
    else this.attempts.delete(key);
    return list;
  }

  /** ms until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const list = this.recent(key);
    if (list.length < this.opts.maxAttempts) return 0;
    return Math.max(1, list[list.length - this.opts.maxAttempts]! + this.opts.windowMs - this.now());
  }

  /** An attempt now (a failed login, or one not yet known to be right); returns its time, for `forgive`. */
  count(key: string): number {
    const list = this.recent(key);
    const at = this.now();
    list.push(at);
    if (!this.attempts.has(key) && this.attempts.size >= MAX_KEYS) {
      const first = this.attempts.keys().next().value;
      if (first !== undefined) this.attempts.delete(first);
    }
    this.attempts.set(key, list.slice(-this.opts.maxAttempts));
    return at;
  }

  /** Takes back one attempt `count` returned `at` for: the login turned out right. */
  forgive(key: string, at: number): void {
    const list = this.attempts.get(key);
    const i = list?.indexOf(at) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (!list.length) this.attempts.delete(key);
  }

  clear(key: string): void {
    this.attempts.delete(key);
  }
}
