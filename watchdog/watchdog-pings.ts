import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SdNotify } from './sd-notify.js';

export interface Health {
  ok: boolean;
  why?: string;
}

export interface WatchdogPingsOptions {
  notify: SdNotify;
  /** the daemon's own check, e.g. "every camera supervisor ticked in the last 10 s" */
  isHealthy: () => Health;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** how often the loop is sampled; default min(500 ms, ping interval / 4) */
  tickMs?: number;
  /** a tick this late means the event loop is not responsive; default 5000 ms */
  maxLagMs?: number;
  /** how long the loop must stay responsive after a lag before pings resume; default maxLagMs */
  recoverMs?: number;
}

export interface WatchdogPings {
  stop(): void;
  /** the last verdict: why pings are withheld, or null while they are sent */
  readonly unhealthy: string | null;
  /** the largest tick lag seen so far, in ms */
  readonly maxLagSeenMs: number;
}

/**
 * Sends WATCHDOG=1 every `notify.watchdogIntervalMs`, but only while
 * (a) the event loop is responsive: a timer expected every `tickMs` fired at most `maxLagMs`
 *     late, and no tick has been later than that for the last `recoverMs`; and
 * (b) `isHealthy()` says ok.
 * Otherwise it withholds pings, so systemd (WatchdogSec=) kills and restarts the service once the
 * condition has lasted the watchdog timeout. A short lag (a GC pause, a slow fsync on an SD card)
 * only delays a ping: pings resume as soon as the loop has been responsive for `recoverMs`, with
 * the overdue ping sent at once, so one incident well under the timeout never costs a restart.
 *
 * Every change of verdict is logged once and sent as STATUS= (a healthy start is not a change).
 * Timers are unref()-ed.
 * Without a watchdog (no NOTIFY_SOCKET or WATCHDOG_USEC) it does nothing.
 */
export function startWatchdogPings(opts: WatchdogPingsOptions): WatchdogPings {
  const { notify, isHealthy, log } = opts;
  const intervalMs = notify.watchdogIntervalMs;
  if (intervalMs === null) return { stop() {}, unhealthy: null, maxLagSeenMs: 0 };

  const tickMs = opts.tickMs ?? Math.max(1, Math.min(500, intervalMs / 4));
  const maxLagMs = opts.maxLagMs ?? 5000;
  const recoverMs = opts.recoverMs ?? maxLagMs;
  let expectedAt = performance.now() + tickMs;
  let lastLagAt = -Infinity;
  let lastLagMs = 0;
  let maxLagSeenMs = 0;
  let lastPingAt = -Infinity;
  let stopped = false;
  let verdict: { kind: string; why: string | null } | undefined; // undefined: nothing checked yet

  type Verdict = { kind: 'ok' | 'loop' | 'check'; why: string | null };
  const check = (now: number): Verdict => {
    if (now - lastLagAt < recoverMs) return { kind: 'loop', why: `event loop blocked for ${(lastLagMs / 1000).toFixed(1)} s` };
    let health: Health;
    try {
      health = isHealthy();
    } catch (err) {
      health = { ok: false, why: `health check threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    return health.ok ? { kind: 'ok', why: null } : { kind: 'check', why: health.why ?? 'unhealthy' };
  };

  // Reported when the kind changes, not the text: a reason that carries a growing number
  // ("silent for 12 s", "13 s", ...) is one incident, logged once.
  const report = (next: Verdict) => {
    const previous = verdict;
    verdict = next;
    if (previous?.kind === next.kind) return;
    if (next.why === null) {
      // A healthy start says nothing: READY=1 carries the daemon's own status line.
      if (previous === undefined) return;
      log.info('watchdog: healthy again, pinging systemd');
      void notify.status('healthy: watchdog pings resumed');
    } else {
      log.error({ why: next.why }, 'watchdog: unhealthy, withholding pings (systemd restarts the service if this lasts)');
      void notify.status(`unhealthy: ${next.why}`);
    }
  };

  const tick = () => {
    if (stopped) return;
    const now = performance.now();
    const lag = Math.max(0, now - expectedAt);
    maxLagSeenMs = Math.max(maxLagSeenMs, lag);
    if (lag > maxLagMs) {
      lastLagAt = now;
      lastLagMs = lag;
    }
    expectedAt = now + tickMs;
    const next = check(now);
    report(next);
    // Half a tick early rather than up to a tick late: the interval is already half the timeout.
    if (next.why === null && now - lastPingAt >= intervalMs - tickMs / 2) {
      lastPingAt = now;
      void notify.watchdog();
    }
    timer = setTimeout(tick, tickMs);
    timer.unref();
  };

  let timer = setTimeout(tick, 0);
  expectedAt = performance.now();
  timer.unref();

  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    get unhealthy() {
      return verdict?.why ?? null;
    },
    get maxLagSeenMs() {
      return maxLagSeenMs;
    },
  };
}
