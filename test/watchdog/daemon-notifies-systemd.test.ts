import t from 'tap';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, sleep, until, writeConfig } from '../support/daemon.js';
import { listener } from '../support/notify-listener.js';

t.test('under systemd the daemon says READY once recording, feeds the watchdog, falls silent when frozen, says STOPPING', async (t) => {
  const notify = await listener(t);
  const sim = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
  const daemon = new DaemonProcess(config, ['run'], { NOTIFY_SOCKET: notify.socket, WATCHDOG_USEC: '1000000' }).start();
  t.teardown(() => { daemon.proc?.kill('SIGCONT'); daemon.proc?.kill('SIGKILL'); });

  await until(() => notify.with('READY').length > 0, 30000, 'READY=1');
  const running = daemon.output.split('\n').find((l) => l.includes('"msg":"edge-nvr running"'));
  t.ok(running, 'the daemon had started its recorders');
  t.ok(notify.with('READY')[0]!.t >= JSON.parse(running!).time, 'READY=1 comes only after the recorders started');
  await until(() => notify.with('WATCHDOG').length >= 3, 10000, 'three WATCHDOG=1 pings');
  t.pass(`pings every ${Math.round((notify.with('WATCHDOG')[2]!.t - notify.with('WATCHDOG')[0]!.t) / 2)} ms for WATCHDOG_USEC 1 s`);

  daemon.proc!.kill('SIGSTOP');
  const frozenAt = Date.now();
  await sleep(3000);
  const thawedAt = Date.now();
  daemon.proc!.kill('SIGCONT');
  // a datagram already in flight when the process stopped may land just after
  t.same(notify.with('WATCHDOG').filter((m) => m.t > frozenAt + 300 && m.t < thawedAt).map((m) => m.t), [], 'no ping while the main loop is frozen');
  await until(() => notify.with('WATCHDOG').some((m) => m.t > thawedAt), 20000, 'pings after the thaw');
  t.pass('pings resume once the loop has stayed healthy');

  t.equal((await daemon.stop()).code, 0);
  t.equal(notify.with('STOPPING').length, 1, 'STOPPING=1 on SIGTERM');
});
