import t from 'tap';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, until } from '../support/daemon.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';

t.test('an ONVIF camera whose RTSP address changes is recorded again after the change', async (t) => {
  const USER = 'viewer', PASSWORD = 'pw-onvif-change';
  const first = await new CameraSim({ mounts: ['old'], user: USER, password: PASSWORD }).start();
  t.teardown(() => first.kill());
  const onvif = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: first.url('old', false) });
  const dir = t.testdir();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + [
    'cameras:', '  - id: yard', '    source:', '      type: onvif', `      host: "${onvif.address}"`, `      username: ${USER}`, `      password: ${PASSWORD}`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 2', '',
  ].join('\n'));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/segment indexed/, 30000);
  t.match(daemon.output, `127.0.0.1:${first.port}/old`, 'recording the first address');

  // the camera is replaced: a new one on another port and path, the old one gone
  await first.kill();
  const second = await new CameraSim({ mounts: ['new'], user: USER, password: PASSWORD }).start();
  t.teardown(() => second.kill());
  t.not(second.port, first.port, 'the new camera is at another address');
  onvif.streamUri = second.url('new', false);
  const changedAt = Date.now();

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const after = () => (db.prepare('SELECT count(*) AS n FROM segments WHERE camera = ? AND start_ms > ?').get('yard', changedAt) as { n: number }).n;
  await until(() => after() >= 2, 40000, 'segments from the new address');
  t.ok(after() >= 2, 'segments are recorded again after the address changed');
  t.match(daemon.output, `127.0.0.1:${second.port}/new`, 'the stream URI was resolved again');
  const gap = db.prepare('SELECT * FROM gaps WHERE camera = ? ORDER BY id DESC LIMIT 1').get('yard') as { end_ms: number | null } | undefined;
  t.ok(gap && gap.end_ms !== null, 'the gap of the change is closed');
  t.notMatch(daemon.output, PASSWORD, 'the password never reaches the log');
  const { code } = await daemon.stop();
  t.equal(code, 0);
});
