import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, within, writeConfig } from '../support/daemon.js';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

t.test('a second daemon on the same data dir refuses to start; a kill -9 does not leave the dir locked', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam', url: sim.url('cam') }]);
  const pidFile = join(dir, 'data', 'edge-nvr.pid');

  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await first.waitForLog(segmentIndexed('cam'));

  const second = new DaemonProcess(config).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  const refused = await within(second.exit(), 30000);
  t.ok(refused, 'the second daemon exits by itself');
  t.equal(refused?.code, 1, 'with status 1');
  t.match(second.output, new RegExp(`another edge-nvr daemon \\(pid ${first.pid}\\) is recording into ${join(dir, 'data').replace(/\//g, '\\/')}; refusing to start`), 'naming the one that runs');
  t.notMatch(second.output, /recorder started|recovered segments/, 'without recording or recovering anything');
  t.ok(alive(first.pid), 'the first daemon runs on');
  t.equal(readFileSync(pidFile, 'utf8').trim(), String(first.pid), 'and its pid file is untouched');

  const killed = await first.stop('SIGKILL');
  t.equal(killed.signal, 'SIGKILL');
  t.equal(readFileSync(pidFile, 'utf8').trim(), String(first.pid), 'a kill -9 leaves a stale pid file');
  const third = new DaemonProcess(config).start();
  t.teardown(() => { third.proc?.kill('SIGKILL'); });
  await third.waitForLog(segmentIndexed('cam'));
  t.pass('the kernel dropped the dead daemon\'s lock: a new daemon starts on the same dir');
  t.equal((await third.stop()).code, 0);
});

t.test('reload signals only the daemon that holds the data dir, never whatever a pid file names', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam', url: sim.url('cam') }]);
  const pidFile = join(dir, 'data', 'edge-nvr.pid');
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('cam'));
  await daemon.stop('SIGKILL');

  // after the crash, the pid in the file belongs to some other process (SIGHUP would end it)
  const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => { bystander.kill('SIGKILL'); });
  writeFileSync(pidFile, `${bystander.pid}\n`);
  const r = await runCli(['reload', '--config', config, '--timeout', '3']);
  t.equal(r.code, 1, 'reload fails');
  t.match(r.stderr, /no edge-nvr daemon is running on .*nothing holds .*daemon\.lock/, 'saying no daemon holds the data dir');
  await sleep(500);
  t.ok(alive(bystander.pid!), 'the process the stale pid file names was not signalled');

  // with a daemon running, reload reaches it even when the pid file is wrong
  const again = new DaemonProcess(config).start();
  t.teardown(() => { again.proc?.kill('SIGKILL'); });
  await again.waitForLog(segmentIndexed('cam'));
  writeFileSync(pidFile, `${bystander.pid}\n`);
  const ok = await runCli(['reload', '--config', config]);
  t.equal(ok.code, 0, `reload reaches the daemon: ${ok.stdout}${ok.stderr}`);
  t.match(again.output, /reloading the config/, 'the daemon got the SIGHUP');
  t.ok(alive(bystander.pid!), 'and the bystander did not');
  t.equal((await again.stop()).code, 0);
});
