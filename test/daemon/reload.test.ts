import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

/**
 * recorder processes (descendants of the daemon: children of its spawner,
 * recorder/backends/spawner.ts) by the camera mount in their command line
 */
function recorderPids(daemonPid: number, mounts: string[]): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  const parent = new Map<number, number>();
  const cmdline = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmdline.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8'));
    } catch {
      // gone meanwhile
    }
  }
  const descends = (pid: number) => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === daemonPid) return true;
    return false;
  };
  for (const [pid, cmd] of cmdline) {
    if (!descends(pid)) continue;
    for (const m of mounts) if (cmd.includes(`/${m}\0`) || cmd.endsWith(`/${m}`)) out[m] = pid;
  }
  return out;
}

t.test('reload restarts only the changed camera; an invalid config is refused and recording goes on', async (t) => {
  const sim = await new CameraSim({ mounts: ['a', 'b', 'b2'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'a', url: sim.url('a') }, { id: 'b', url: sim.url('b') }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('b'));
  await daemon.waitForLog(segmentIndexed('a'));
  const pidFile = join(dir, 'data', 'edge-nvr.pid');
  t.equal(readFileSync(pidFile, 'utf8').trim(), String(daemon.pid), 'the daemon writes its pid file');

  const before = recorderPids(daemon.pid, ['a', 'b', 'b2']);
  t.ok(before.a && before.b, `recorders found: ${JSON.stringify(before)}`);

  // camera b moves to another stream; a is untouched
  writeConfig(dir, [{ id: 'a', url: sim.url('a') }, { id: 'b', url: sim.url('b2') }]);
  const ok = await runCli(['reload', '--config', config]);
  t.equal(ok.code, 0, `reload accepted: ${ok.stdout}${ok.stderr}`);
  t.match(ok.stdout, /restarted: b;.* unchanged: a/, 'says what it restarted and what it left alone');
  await until(() => recorderPids(daemon.pid, ['b2']).b2 !== undefined, 15000, 'the new recorder of b');
  const after = recorderPids(daemon.pid, ['a', 'b', 'b2']);
  t.equal(after.a, before.a, 'camera a kept its recorder process');
  t.equal(after.b, undefined, 'the old recorder of b is gone');
  t.not(after.b2, before.b, 'camera b has a new recorder process');

  // an invalid config is refused; nothing restarts, recording goes on
  writeFileSync(config, readFileSync(config, 'utf8').replaceAll('segment_seconds: 2', 'segment_seconds: -5'));
  const bad = await runCli(['reload', '--config', config]);
  t.equal(bad.code, 2, 'an invalid reload fails as a bad config does (exit 2)');
  t.match(bad.stderr, /^reload refused, the running config stays: the config is invalid:\n {2}\S+: cameras\[0\]\.record\.segment_seconds.*\n {2}\S+: cameras\[1\]\.record\.segment_seconds/, 'naming each bad setting on a line of its own');
  t.match(daemon.output, /config reload refused: .*cameras\[0\]\.record\.segment_seconds/, 'the daemon logs the one-line error');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const count = (cam: string) => (db.prepare('SELECT count(*) AS n FROM segments WHERE camera = ?').get(cam) as { n: number }).n;
  const [a0, b0] = [count('a'), count('b')];
  const recording = await until(() => count('a') > a0 && count('b') > b0, 20_000, 'a new segment of each camera').then(() => true, () => false);
  t.ok(recording, 'both cameras still record after the refused reload');
  t.same(recorderPids(daemon.pid, ['a', 'b2']), { a: after.a, b2: after.b2 }, 'and no recorder was restarted');

  // view watching's share is read live by the samplers: a new one restarts no recorder
  writeConfig(dir, [{ id: 'a', url: sim.url('a') }, { id: 'b', url: sim.url('b2') }]);
  writeFileSync(config, readFileSync(config, 'utf8').replace('watchdog:\n', 'watchdog:\n  view_cpu_percent: 3.2\n'));
  const share = await runCli(['reload', '--config', config]);
  t.equal(share.code, 0, `reload accepted: ${share.stdout}${share.stderr}`);
  t.match(share.stdout, /unchanged: a, b;.*changed: watchdog\.view_cpu_percent;.*applied: view watching at most 3\.2 % of a core/, 'applied, both cameras unchanged');
  t.same(recorderPids(daemon.pid, ['a', 'b2']), { a: after.a, b2: after.b2 }, 'no recorder was restarted for it');

  const { code } = await daemon.stop();
  t.equal(code, 0);
  t.notOk(existsSync(pidFile), 'the pid file is removed at stop');
  const gone = await runCli(['reload', '--config', config]);
  t.equal(gone.code, 1, 'reload without a running daemon fails');
  t.match(gone.stderr, /no edge-nvr daemon is running/, 'and says so');
});

// found beside an outside probe's /dev/zero findings: the loader refused /dev/zero as a config,
// and reload's second, unbounded read of it (for storage.path alone) ran until memory gave out
t.test('reload --config naming a device is refused as the loader refuses it, not read without end', async (t) => {
  const r = await runCli(['reload', '--config', '/dev/zero'], { timeoutMs: 20000 });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, '/dev/zero: the config file is larger than 4 MiB');
});
