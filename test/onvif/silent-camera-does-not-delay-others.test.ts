import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed } from '../support/daemon.js';
import { configHead } from '../support/onvif.js';

/**
 * A camera whose capture masks are asked of the camera itself (ONVIF) waits for its answer
 * before it records; one that accepts the connection and never answers costs seconds. The
 * cameras listed after it start at once, not after it.
 */
t.test('an ONVIF camera that never answers does not hold up the cameras after it', async (t) => {
  const dir = t.testdir();
  const held: Socket[] = [];
  const silent = createServer((s) => { held.push(s); }); // accepts, reads, never answers
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { held.forEach((s) => s.destroy()); silent.close(); });
  const port = (silent.address() as { port: number }).port;
  const sim = await new CameraSim({ mounts: ['door'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configHead(join(dir, 'data')) + [
    'cameras:',
    '  - id: vault', '    source:', '      type: onvif', `      host: "127.0.0.1:${port}"`, '      username: installer', '      password: pw-silent',
    '    capture_masks:', '      - { x: 0.5, y: 0.1, w: 0.4, h: 0.5 }',
    '  - id: door', '    source:', '      type: rtsp', `      url: ${sim.url('door')}`, '    record:', '      segment_seconds: 1',
    '',
  ].join('\n'));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });

  const decided = /capture masks: the camera does not hold them; enforced on the box|camera not recorded: its capture masks cannot be enforced/;
  await daemon.waitForLog(decided, 60_000);
  await daemon.waitForLog(segmentIndexed('door'), 30_000);
  const at = (re: RegExp) => daemon.output.search(re);
  t.ok(at(segmentIndexed('door')) < at(decided), 'door recorded before the silent camera\'s masks were decided');
  t.ok(held.length > 0, 'the silent camera was asked');
  t.equal((await daemon.stop()).code, 0);
});
