import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';

// Code loaded into the daemon's process ahead of it (node --import): on SIGUSR2 it fails in the
// way asked for, from outside any of the daemon's own try/catch, the way a forgotten `await` would.
const FAULTS = {
  'a promise rejection nobody handles': `Promise.reject(new Error(MESSAGE));`,
  'an exception nobody catches': `setImmediate(() => { throw new Error(MESSAGE); });`,
};
const SECRET = 'hunter22-secret';
const MESSAGE = `nobody handles this (rtsp://admin:${SECRET}@10.0.0.5/stream)`;

for (const [fault, code] of Object.entries(FAULTS)) {
  t.test(`${fault} ends the daemon with a fatal log line and exit 1, for systemd to restart it`, async (t) => {
    const sim = await new CameraSim({ mounts: ['cam1'] }).start();
    t.teardown(() => sim.kill());
    const dir = t.testdir();
    const preload = join(dir, 'fault.mjs');
    writeFileSync(preload, `const MESSAGE = ${JSON.stringify(MESSAGE)};\nprocess.on('SIGUSR2', () => { ${code} });\n`);
    const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
    const daemon = new DaemonProcess(config, ['run'], { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` }).start();
    t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
    await daemon.waitForLog(segmentIndexed('cam1'));

    const proc = daemon.proc!;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
    const timeout = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    proc.kill('SIGUSR2');
    const end = await exited;
    clearTimeout(timeout);

    t.same(end, { code: 1, signal: null }, 'the daemon exits 1 by itself (not killed, not hanging)');
    const fatal = daemon.output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message?: string } })
      .filter((l) => l.level === 60);
    t.equal(fatal.length, 1, `one fatal log line:\n${daemon.output.slice(-2000)}`);
    t.match(fatal[0]?.msg, /exiting for systemd to restart the daemon/, 'saying why the daemon stops');
    t.match(fatal[0]?.err?.message, /nobody handles this/, 'with the error itself');
    t.notOk(daemon.output.includes(SECRET), 'the credential in the error is scrubbed, as in every log line');
  });
}
