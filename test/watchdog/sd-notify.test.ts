import t from 'tap';
import { SdNotify, type NotifyLog } from '../../watchdog/sd-notify.js';
import { startWatchdogPings, type Health } from '../../watchdog/watchdog-pings.js';
import { listener } from '../support/notify-listener.js';
import { processesMentioning } from '../support/processes.js';
import { sleep, until } from '../support/daemon.js';

/** A logger that keeps what it was given. */
function memoryLog() {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => {
    lines.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj, msg });
  };
  const log = { warn: at('warn'), debug: at('debug'), info: at('info'), error: at('error') };
  return { lines, log: log as unknown as NotifyLog & Parameters<typeof startWatchdogPings>[0]['log'] };
}

const notifiersOfThisProcess = () => processesMentioning(`--pid=${process.pid}`).filter((p) => p.cmdline.startsWith('systemd-notify'));

t.test('reads the environment as sd_watchdog_enabled(3) does', async (t) => {
  const none = new SdNotify({ env: {} });
  t.equal(none.enabled, false);
  t.equal(none.watchdogIntervalMs, null);
  t.equal(await none.ready(), false, 'without NOTIFY_SOCKET nothing is sent, and nothing throws');

  const on = new SdNotify({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) } });
  t.equal(on.enabled, true);
  t.equal(on.watchdogIntervalMs, 15_000, 'half of WATCHDOG_USEC');
  const other = new SdNotify({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' } });
  t.equal(other.watchdogIntervalMs, null, 'a watchdog meant for another pid is not ours');
  t.equal(new SdNotify({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: 'junk' } }).watchdogIntervalMs, null);
});

t.test('READY=1, WATCHDOG=1, STATUS= and STOPPING=1 reach a real notify socket', async (t) => {
  const l = await listener(t);
  const n = new SdNotify({ env: { NOTIFY_SOCKET: l.socket } });
  t.equal(await n.ready('recording 2 cameras'), true);
  t.equal(await n.watchdog(), true);
  t.equal(await n.status('line one\nFORGED=1'), true);
  t.equal(await n.stopping(), true);
  await until(() => l.with('STOPPING').length === 1 && l.with('BARRIER').length >= 4, 5000, 'STOPPING=1 and its barrier');

  const [ready] = l.with('READY');
  t.equal(ready!.fields.READY, '1');
  t.equal(ready!.fields.STATUS, 'recording 2 cameras');
  t.equal(ready!.fields.MAINPID, String(process.pid), 'speaks for the daemon, not for systemd-notify');
  if (process.getuid?.() === 0) t.equal(ready!.pid, process.pid, 'as root the credentials carry our pid too');
  t.equal(l.with('WATCHDOG').length, 1);
  t.equal(l.with('WATCHDOG')[0]!.fields.WATCHDOG, '1');
  t.same(l.with('STATUS').map((m) => m.fields.STATUS), ['recording 2 cameras', 'line one FORGED=1'], 'a newline cannot forge a field');
  t.equal(l.with('FORGED').length, 0);
  t.ok(l.with('BARRIER').length >= 4, 'systemd-notify waited for each message to be processed');
  const order = l.messages.filter((m) => !('BARRIER' in m.fields)).map((m) => Object.keys(m.fields).filter((k) => k !== 'MAINPID').join('+'));
  t.same(order, ['READY+STATUS', 'WATCHDOG', 'STATUS', 'STOPPING'], 'in the order asked');
});

t.test('a hanging systemd-notify is killed, and pings never pile up behind it', async (t) => {
  const l = await listener(t);
  const { log, lines } = memoryLog();
  const n = new SdNotify({ env: { NOTIFY_SOCKET: l.socket }, log, timeoutMs: 1000 });
  l.signal('SIGSTOP'); // the datagram is queued, but the BARRIER round trip never completes
  t.teardown(() => l.signal('SIGCONT'));

  const started = Date.now();
  const first = n.watchdog();
  await sleep(100);
  const rest = [n.watchdog(), n.watchdog(), n.status('x'), n.watchdog()];
  let most = 0;
  let done = false;
  void Promise.all([first, ...rest]).then(() => { done = true; });
  while (!done && Date.now() - started < 5000) {
    most = Math.max(most, notifiersOfThisProcess().length);
    await sleep(50);
  }
  t.ok(done, 'every caller got an answer');
  t.equal(most, 1, 'never more than one systemd-notify at a time');
  t.equal(await first, false, 'the hung one reports failure');
  t.same(await Promise.all(rest), [false, false, false, false], 'the merged follow-up hung too and was killed');
  t.ok(Date.now() - started < 3500, 'two notifier runs of at most 1 s each, not five');
  t.equal(notifiersOfThisProcess().length, 0, 'nothing left running');
  t.ok(lines.some((x) => x.level === 'warn' && /hung/.test(x.msg ?? '')), 'the hang is logged');

  l.signal('SIGCONT');
  t.equal(await n.watchdog(), true, 'works again once the socket is served');
  await until(() => l.with('WATCHDOG').length === 3, 5000, 'queued datagrams');
  t.equal(l.with('WATCHDOG').length, 3, 'the hung ping, one merged follow-up, the last ping: no pile-up');
  t.same(l.with('STATUS').map((m) => m.fields.STATUS), ['x'], 'the follow-up carried the merged STATUS');
});

t.test('a missing systemd-notify is a warning once, never an exception', async (t) => {
  const { log, lines } = memoryLog();
  const n = new SdNotify({ env: { NOTIFY_SOCKET: '/nonexistent/sock' }, log, command: '/nonexistent/systemd-notify' });
  t.equal(await n.ready(), false);
  t.equal(await n.watchdog(), false);
  t.equal(await n.stopping(), false);
  const warns = lines.filter((x) => x.level === 'warn');
  t.equal(warns.length, 1, 'warned once');
  t.match(warns[0]!.msg, /not found/);
});

t.test('pings stop while the event loop is blocked and resume after it recovers', async (t) => {
  const l = await listener(t);
  const { log, lines } = memoryLog();
  // WATCHDOG_USEC 400 ms: a ping every 200 ms, the loop sampled every 50 ms.
  const notify = new SdNotify({ env: { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: '400000' }, log });
  t.equal(notify.watchdogIntervalMs, 200);
  const pinger = startWatchdogPings({ notify, isHealthy: () => ({ ok: true }), log, maxLagMs: 1000 });
  t.teardown(() => pinger.stop());

  await sleep(1500);
  const before = l.with('WATCHDOG').map((m) => m.t);
  t.ok(before.length >= 5 && before.length <= 9, `about one ping per 200 ms while healthy (${before.length} in 1.5 s)`);
  // Arrival times include each systemd-notify's start-up, which jitters on a loaded machine.
  const gaps = before.slice(1).map((x, i) => x - before[i]!);
  const mean = (before.at(-1)! - before[0]!) / gaps.length;
  t.ok(mean > 170 && mean < 260, `pings every ${mean.toFixed(0)} ms on average (${gaps.map((g) => g.toFixed(0)).join(', ')})`);
  t.ok(gaps.every((g) => g < 450), 'none skipped');

  // notifiers already spawned may still land while the loop is stuck: on a loaded machine a
  // systemd-notify can take several hundred ms to start (spawn returns once it has exec'd, so each is listed)
  const inFlight = notifiersOfThisProcess().length;
  const blockStart = Date.now();
  while (Date.now() - blockStart < 2000) { /* the event loop is stuck */ }
  const blockEnd = Date.now();
  t.equal(pinger.unhealthy, null, 'nothing could run while blocked');

  await sleep(2000);
  pinger.stop();
  const pings = l.with('WATCHDOG').map((m) => m.t);
  // the listener is another process: one sent just before the block may be stamped in its first ms
  const during = pings.filter((p) => p > blockStart + 300 && p < blockEnd);
  t.ok(during.length <= inFlight, `no ping while the loop was blocked but those already on their way (${during.length}, ${inFlight} notifiers running as it began)`);
  const after = pings.filter((p) => p >= blockEnd);
  t.ok(after.length >= 3, `pings resumed (${after.length})`);
  t.ok(after[0]! - blockEnd >= 900, `the first tick after the block did not ping: next ping ${(after[0]! - blockEnd).toFixed(0)} ms later`);
  t.ok(after[0]! - blockEnd < 1600, 'and pings came back once the loop had been responsive for recoverMs');
  t.ok(pinger.maxLagSeenMs >= 1900, `the lag was measured (${pinger.maxLagSeenMs.toFixed(0)} ms)`);

  const statuses = l.with('STATUS').map((m) => ({ t: m.t, s: m.fields.STATUS! }));
  t.match(statuses[0]?.s, /^unhealthy: event loop blocked for (1\.9|2\.\d) s$/, 'systemd hears why');
  t.ok(statuses[0]!.t >= blockEnd, 'reported after the block');
  t.match(statuses[1]?.s, /^healthy/, 'and that it recovered');
  t.equal(statuses.length, 2, 'one STATUS per change');
  t.equal(lines.filter((x) => x.level === 'error').length, 1, 'logged once');
});

t.test('no pings at all while the daemon says it is unhealthy', async (t) => {
  const l = await listener(t);
  const { log, lines } = memoryLog();
  const notify = new SdNotify({ env: { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: '400000' }, log });
  // The reason carries a growing number: still one incident, reported once.
  let silentFor = 12;
  let health: Health | undefined;
  const pinger = startWatchdogPings({ notify, isHealthy: () => health ?? { ok: false, why: `camera supervisor silent for ${silentFor++} s` }, log });
  t.teardown(() => pinger.stop());

  await sleep(1200);
  t.equal(l.with('WATCHDOG').length, 0, 'not a single ping');
  await until(() => l.with('STATUS').length > 0, 3000, 'STATUS');
  t.same(l.with('STATUS').map((m) => m.fields.STATUS), ['unhealthy: camera supervisor silent for 12 s'], 'the reason, once');
  t.match(pinger.unhealthy, /^camera supervisor silent for \d+ s$/, 'the latest reason');
  t.ok(silentFor > 14, 'asked on every tick');
  t.same(lines.filter((x) => x.level === 'error').map((x) => (x.obj as { why: string }).why), ['camera supervisor silent for 12 s']);

  health = { ok: true };
  await until(() => l.with('WATCHDOG').length >= 2, 3000, 'pings once healthy');
  t.equal(pinger.unhealthy, null);
  t.match(l.with('STATUS').at(-1)?.fields.STATUS, /^healthy/);
});

t.test('a throwing health check counts as unhealthy', async (t) => {
  const l = await listener(t);
  const { log } = memoryLog();
  const notify = new SdNotify({ env: { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: '400000' }, log });
  const pinger = startWatchdogPings({ notify, isHealthy: () => { throw new Error('catalog closed'); }, log });
  t.teardown(() => pinger.stop());
  await until(() => l.with('STATUS').length > 0, 3000, 'STATUS');
  await sleep(500);
  t.equal(l.with('WATCHDOG').length, 0);
  t.match(l.with('STATUS')[0]!.fields.STATUS, /catalog closed/);
});

t.test('without a watchdog there is nothing to do', async (t) => {
  const { log } = memoryLog();
  const pinger = startWatchdogPings({ notify: new SdNotify({ env: { NOTIFY_SOCKET: '/x' } }), isHealthy: () => ({ ok: true }), log });
  t.equal(pinger.unhealthy, null);
  pinger.stop();
});
