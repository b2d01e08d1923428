/**
 * README, health: "systemd Type=notify with a watchdog fed only while the event loop and every
 * supervisor are alive". The other watchdog tests stub the health check (sd-notify.test.ts) or
 * stop the whole process (daemon-notifies-systemd.test.ts); this one runs the daemon's own check
 * (daemon/lifecycle.ts: a supervisor that has not ticked for 10 s) in a real daemon, with a real
 * NOTIFY_SOCKET, and makes ONE camera's supervisor wedge while the event loop and the other
 * camera carry on:
 * - before: WATCHDOG=1 flows;
 * - cam2's supervisor silent (its stall check, the tick, no longer runs): cam1 still records (the
 *   loop is alive), yet WATCHDOG=1 stops within about 10 s, and STATUS= names cam2, not cam1;
 * - cam2 ticking again: the pings resume, with a STATUS= saying so.
 *
 * How one supervisor is made silent, without a product change: a module loaded ahead of the
 * daemon (node --import, as unhandled-rejection.test.ts does) wraps CameraSupervisor's tick
 * (`checkStall`, run every second, which is what sets `lastTickMono`) in the very module instance
 * the daemon then loads; while a file the test creates exists, cam2's tick does nothing: a wedged
 * supervisor, seen from the watchdog.
 */
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CameraSim } from '../support/camera-sim.js';
import { CLI } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';
import { listener } from '../support/notify-listener.js';

const SUPERVISOR = pathToFileURL(join(dirname(CLI), '..', 'watchdog', 'camera-supervisor.js')).href;

t.test('one camera supervisor silent while the event loop runs: WATCHDOG=1 stops, STATUS= names that camera; it ticks again: pings resume', async (t) => {
  const notify = await listener(t);
  const sim = await new CameraSim({ mounts: ['cam1', 'cam2'], width: 320, height: 180, fps: 10, gop: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const freeze = join(dir, 'freeze-cam2');
  const preload = join(dir, 'wedge-supervisor.mjs');
  writeFileSync(preload, `import { existsSync } from 'node:fs';
const { CameraSupervisor } = await import(${JSON.stringify(SUPERVISOR)});
const tick = CameraSupervisor.prototype.checkStall;
if (typeof tick !== 'function') throw new Error('CameraSupervisor has no checkStall tick to wedge: this test needs updating');
CameraSupervisor.prototype.checkStall = function () {
  if (this.camera === 'cam2' && existsSync(${JSON.stringify(freeze)})) return;
  return tick.call(this);
};
`);
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }, { id: 'cam2', url: sim.url('cam2') }]);
  const daemon = new DaemonProcess(config, ['run'], {
    NOTIFY_SOCKET: notify.socket, WATCHDOG_USEC: '1000000', NODE_OPTIONS: `--import=${pathToFileURL(preload).href}`,
  }).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });

  await until(() => notify.with('READY').length > 0, 30000, 'READY=1');
  await daemon.waitForLog(segmentIndexed('cam2'), 30000);
  await until(() => notify.with('WATCHDOG').length >= 3, 10000, 'three WATCHDOG=1 pings');
  t.same(notify.with('STATUS').filter((m) => /unhealthy/.test(m.fields.STATUS!)).map((m) => m.fields.STATUS), [], 'healthy before: no unhealthy STATUS');

  writeFileSync(freeze, '');
  const frozenAt = Date.now();
  const segmentsBefore = daemon.countLog(segmentIndexed('cam1'));
  await until(() => notify.with('STATUS').some((m) => m.t > frozenAt && /unhealthy/.test(m.fields.STATUS!)), 20000, 'an unhealthy STATUS= line');
  const unhealthy = notify.with('STATUS').find((m) => m.t > frozenAt && /unhealthy/.test(m.fields.STATUS!))!;
  const silentFor = unhealthy.t - frozenAt;
  t.equal(unhealthy.fields.STATUS, 'unhealthy: camera cam2: supervisor silent', 'STATUS= names the silent supervisor\'s camera (cam2), and no other');
  t.ok(silentFor >= 9000 && silentFor < 13000, `withheld after the supervisor was silent for its 10 s (${Math.round(silentFor)} ms)`);
  // a datagram in flight as the verdict changed may land just after it
  const verdictAt = unhealthy.t;
  await sleep(4000);
  const checkedUntil = Date.now();
  t.same(notify.with('WATCHDOG').filter((m) => m.t > verdictAt + 300 && m.t < checkedUntil).map((m) => m.t), [], 'no WATCHDOG=1 while cam2\'s supervisor is silent');
  t.ok(notify.with('WATCHDOG').some((m) => m.t > frozenAt && m.t < verdictAt), 'pings went on while cam2 had been silent for less than 10 s');
  t.ok(daemon.countLog(segmentIndexed('cam1')) > segmentsBefore, 'the event loop was alive meanwhile: cam1 went on recording and indexing segments');
  t.equal(daemon.proc!.exitCode, null, 'the daemon itself runs on (systemd, not the daemon, restarts it once WatchdogSec= passes)');

  rmSync(freeze);
  const thawedAt = Date.now();
  await until(() => notify.with('WATCHDOG').some((m) => m.t > thawedAt), 10000, 'pings once cam2 ticks again');
  t.ok(notify.with('STATUS').some((m) => m.t > checkedUntil && m.fields.STATUS === 'healthy: watchdog pings resumed'), 'STATUS= says the pings resumed');

  t.equal((await daemon.stop()).code, 0, 'a clean stop');
});
