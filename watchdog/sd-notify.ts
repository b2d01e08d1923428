import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

/** What SdNotify logs: a warning once when systemd-notify is missing or failing. */
export type NotifyLog = Pick<Logger, 'warn' | 'debug'>;

export interface SdNotifyOptions {
  /** where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read; default process.env */
  env?: NodeJS.ProcessEnv;
  log?: NotifyLog;
  /** the notifier binary; default `systemd-notify` from PATH */
  command?: string;
  /** a notifier still running after this long is killed; default 2000 ms */
  timeoutMs?: number;
  /** the pid the messages speak for; default process.pid */
  pid?: number;
}

/**
 * The systemd notification protocol (sd_notify(3)): READY=1, WATCHDOG=1, STATUS=, STOPPING=1.
 *
 * Node 20 cannot open unix datagram sockets (dgram is UDP only), so each message is sent by
 * spawning `systemd-notify --pid=<our pid> KEY=VALUE...`. Its sender pid is its own (unless it
 * runs as root, when it may pass ours), hence NotifyAccess=all in the unit. By default it also
 * waits for a BARRIER=1 round trip, i.e. until PID 1 has processed the message: without that,
 * PID 1 may look the sender up after it exited and drop the message as from an unknown unit.
 *
 * Guarantees: the caller never sees an exception (every method resolves to whether the message
 * was delivered); at most one notifier runs at a time, and one that hangs (a stuck PID 1, a full
 * socket) is killed after `timeoutMs`. Messages asked for while one is in flight are merged into
 * a single follow-up message (the last STATUS= wins), so nothing piles up.
 */
export class SdNotify {
  readonly socket: string | null;
  /** systemd's watchdog timeout for this process in ms, or null when it has none */
  readonly watchdogTimeoutMs: number | null;
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly pid: number;
  private readonly log?: NotifyLog;
  private inFlight?: Promise<boolean>;
  private pending?: { fields: Map<string, string>; done: Promise<boolean>; resolve: (ok: boolean) => void };
  private missing = false;
  private warned = false;

  constructor(opts: SdNotifyOptions = {}) {
    const env = opts.env ?? process.env;
    this.pid = opts.pid ?? process.pid;
    this.command = opts.command ?? 'systemd-notify';
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.log = opts.log;
    this.socket = env.NOTIFY_SOCKET ? env.NOTIFY_SOCKET : null;
    // As sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the process the watchdog is for
    // (a child that inherited the environment must not ping on its parent's behalf).
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === this.pid;
    this.watchdogTimeoutMs = this.socket && forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : null;
  }

  /** whether there is a service manager to tell anything */
  get enabled(): boolean {
    return this.socket !== null;
  }

  /** how often to send WATCHDOG=1: half the timeout, as sd_watchdog_enabled(3) recommends */
  get watchdogIntervalMs(): number | null {
    return this.watchdogTimeoutMs === null ? null : this.watchdogTimeoutMs / 2;
  }

  ready(status?: string): Promise<boolean> {
    return this.send(status === undefined ? { READY: '1' } : { READY: '1', STATUS: status });
  }

  watchdog(): Promise<boolean> {
    return this.send({ WATCHDOG: '1' });
  }

  status(text: string): Promise<boolean> {
    return this.send({ STATUS: text });
  }

  stopping(status?: string): Promise<boolean> {
    return this.send(status === undefined ? { STOPPING: '1' } : { STOPPING: '1', STATUS: status });
  }

  /** Sends the fields as one message; resolves true when systemd-notify delivered it. */
  send(fields: Record<string, string>): Promise<boolean> {
    if (!this.enabled || this.missing) return Promise.resolve(false);
    // One line per field: a newline inside a value would forge another field.
    const clean = Object.entries(fields).map(([k, v]) => [k, v.replace(/[\r\n]+/g, ' ')] as const);
    if (!this.inFlight) return this.start(new Map(clean));
    if (!this.pending) {
      let resolve!: (ok: boolean) => void;
      const done = new Promise<boolean>((r) => { resolve = r; });
      this.pending = { fields: new Map(), done, resolve };
    }
    for (const [k, v] of clean) this.pending.fields.set(k, v);
    return this.pending.done;
  }

  private start(fields: Map<string, string>): Promise<boolean> {
    const run = this.spawnNotifier(fields).finally(() => {
      this.inFlight = undefined;
      const next = this.pending;
      this.pending = undefined;
      // spawnNotifier resolves false on every failure; should anything still throw, the waiter hears false
      if (next) this.start(next.fields).then(next.resolve, () => next.resolve(false));
    });
    this.inFlight = run;
    return run;
  }

  private spawnNotifier(fields: Map<string, string>): Promise<boolean> {
    if (this.missing) return Promise.resolve(false);
    const args = [`--pid=${this.pid}`, ...[...fields].map(([k, v]) => `${k}=${v}`)];
    return new Promise<boolean>((resolve) => {
      let stderr = '';
      let timedOut = false;
      let settled = false;
      const finish = (ok: boolean) => {
        settled = true;
        clearTimeout(timer);
        resolve(ok);
      };
      let timer: NodeJS.Timeout | undefined;
      let child: ChildProcess;
      try {
        child = spawn(this.command, args, {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: this.socket! },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
      } catch (err) {
        this.warnOnce({ err }, 'cannot run systemd-notify');
        resolve(false);
        return;
      }
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.timeoutMs);
      child.stderr!.on('data', (d) => { if (stderr.length < 2000) stderr += String(d); });
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        if (err.code === 'ENOENT') {
          this.missing = true;
          this.warnOnce({ command: this.command }, 'systemd-notify not found: systemd will not hear READY=1 or watchdog pings (install the systemd package)');
        } else {
          this.warnOnce({ err }, 'cannot run systemd-notify');
        }
        finish(false);
      });
      child.once('close', (code, signal) => {
        if (settled) return;
        if (code === 0) return finish(true);
        if (timedOut) this.log?.warn({ fields: [...fields.keys()], timeoutMs: this.timeoutMs }, 'systemd-notify hung and was killed');
        else this.warnOnce({ code, signal, stderr: stderr.trim() }, 'systemd-notify failed');
        finish(false);
      });
    });
  }

  private warnOnce(obj: object, msg: string): void {
    if (this.warned) {
      this.log?.debug(obj, msg);
      return;
    }
    this.warned = true;
    this.log?.warn(obj, msg);
  }
}
