/**
 * Password guessing is slowed per client address and per user name: after `maxFailures` failed
 * logins within `windowMs`, further attempts are refused unchecked until the oldest failure
 * leaves the window. A refused attempt costs no scrypt, so a flood cannot load the CPU; the
 * maps are bounded, so it cannot fill memory either. An attempt counts as a failure from the
 * moment its password check starts (`fail`) and is forgiven only once it succeeded (`forgive`):
 * guesses sent all at once, each checked before any had failed, were otherwise all let through.
 */
import { isIP } from 'node:net';
import { isLoopback } from '../config/listen.js';

export interface LimiterOptions {
  maxFailures: number;
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
  if (address === undefined) return 'address unknown';
  const v4 = address.replace(/^::ffff:(?=\d+\.)/i, '');
  if (loopbackAsOne && isLoopback(v4)) return 'address loopback';
  if (!loopbackAsOne && isLoopback(v4)) return `address ${v4}`;
  if (!isIP(v4) || v4.includes('.')) return `address ${v4}`;
  return `address ${ipv6Prefix64(v4)}::/64`;
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

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly opts: LimiterOptions, private readonly now: () => number = Date.now) {}

  private recent(key: string): number[] {
    const since = this.now() - this.opts.windowMs;
    const list = (this.failures.get(key) ?? []).filter((t) => t > since);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** ms until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const list = this.recent(key);
    if (list.length < this.opts.maxFailures) return 0;
    return Math.max(1, list[list.length - this.opts.maxFailures]! + this.opts.windowMs - this.now());
  }

  /** A failure (or an attempt not yet known to be right) now; returns its time, for `forgive`. */
  fail(key: string): number {
    const list = this.recent(key);
    const at = this.now();
    list.push(at);
    if (!this.failures.has(key) && this.failures.size >= MAX_KEYS) {
      const first = this.failures.keys().next().value;
      if (first !== undefined) this.failures.delete(first);
    }
    this.failures.set(key, list.slice(-this.opts.maxFailures));
    return at;
  }

  /** Takes back one failure `fail` returned `at` for: the attempt turned out right. */
  forgive(key: string, at: number): void {
    const list = this.failures.get(key);
    const i = list?.indexOf(at) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (!list.length) this.failures.delete(key);
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}
