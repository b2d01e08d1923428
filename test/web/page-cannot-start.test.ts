import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';

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
