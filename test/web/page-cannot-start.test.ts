import t from 'tap';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';
import { freePort, makeCerts } from '../support/mosquitto.js';

t.test('a status page that cannot start is logged, and the box records on', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const cam = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => cam.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: cam.url('cam1') }], { extraYaml: `http:\n  listen: 127.0.0.1:${port}\n` });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/status page and metrics not started: http\.listen: cannot listen on 127\.0\.0\.1:\d+ \(.*EADDRINUSE/, 60000);
  await daemon.waitForLog(segmentIndexed('cam1'), 60000);
  t.pass('recording goes on without the page');
  t.equal((await daemon.stop()).code, 0, 'and the daemon stops cleanly');
});

t.test('the page\'s key gone or readable by all: only the page is off, the box starts, records and reloads (it refused to start)', async (t) => {
  const cam = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => cam.kill());
  const dir = t.testdir();
  const certs = makeCerts(join(dir, 'certs'));
  chmodSync(certs.serverKey, 0o600);
  const port = await freePort();
  const http = `http:\n  listen: 127.0.0.1:${port}\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\n`;
  const config = writeConfig(dir, [{ id: 'cam1', url: cam.url('cam1') }], { extraYaml: http });
  // a certificate renewal that removed the key for a moment, then a restart
  renameSync(certs.serverKey, `${certs.serverKey}.renewing`);
  const gone = new DaemonProcess(config).start();
  t.teardown(() => { gone.proc?.kill('SIGKILL'); });
  await gone.waitForLog(/status page and metrics not started: http\.key_file: cannot read \S+server\.key \(ENOENT/, 60000);
  await gone.waitForLog(segmentIndexed('cam1'), 60000);
  t.pass('the key missing: the box records');
  // an unrelated change is still taken by a reload
  writeFileSync(config, readFileSync(config, 'utf8').replace('stall_timeout_s: 10', 'stall_timeout_s: 12'));
  gone.proc!.kill('SIGHUP');
  await gone.waitForLog(/config reloaded/, 30000);
  t.equal(gone.countLog(/config reload refused/), 0, 'a reload is not refused for the page\'s key');
  t.equal((await gone.stop()).code, 0);

  // back, but readable by every local user: a leak, so the page does not use it; the box records on
  renameSync(`${certs.serverKey}.renewing`, certs.serverKey);
  chmodSync(certs.serverKey, 0o644);
  const loose = new DaemonProcess(config).start();
  t.teardown(() => { loose.proc?.kill('SIGKILL'); });
  await loose.waitForLog(/status page and metrics not started: http\.key_file: \S+server\.key is readable by every local user \(mode 0644\)/, 60000);
  await loose.waitForLog(segmentIndexed('cam1'), 60000);
  t.pass('the key readable by all: the box records, without the page');
  await t.rejects(fetch(`https://127.0.0.1:${port}/`), 'and no page is served with that key');
  t.equal((await loose.stop()).code, 0);
});
