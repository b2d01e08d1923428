/**
 * A daemon that starts with its clock behind the last recording (a board without a clock booting
 * offline after a power cut, its time restored from the last save): the step back happened while
 * nothing ran to see it. This run's footage is dated before the last run's, and verify called
 * every such segment "inserted afterwards" on an honest box; the downtime's gap, opened at the
 * last run's end, never closed (an outside probe). The start records the step as a running step
 * back is: a `clock_jump` gap on every camera, which verify reads as the clock's doing.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

function libfaketime(): string | undefined {
  for (const dir of readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime'))) {
    if (existsSync(join(dir, 'libfaketimeMT.so.1'))) return join(dir, 'libfaketimeMT.so.1');
  }
  return undefined;
}

// in the same boot the monotonic clock says by how much the wall clock moved; after a reboot only
// that it is behind the last recording (the boot of the last sign of life is rewritten here)
for (const boot of ['the same boot', 'another boot'] as const) t.test(`killed, then started 30 min behind, in ${boot}: verify passes, the step back is on record, the downtime's gap closes`, async (t) => {
  const lib = libfaketime();
  if (!lib) return t.fail('libfaketime is not installed (scripts/setup installs it)');
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await until(() => first.countLog(segmentIndexed('cam1')) >= 2, 60000, 'two segments of the first run');
  await first.stop('SIGKILL'); // a power cut
  if (boot === 'another boot') {
    const meta = new Database(join(dir, 'data', 'catalog.db'));
    meta.prepare("UPDATE meta SET value = json_set(value, '$.boot', 'an-earlier-boot') WHERE key = 'alive_clock'").run();
    meta.close();
  }

  const offset = join(dir, 'clock-offset');
  writeFileSync(offset, '-1800\n');
  const second = new DaemonProcess(config, ['run'], { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' }).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  await until(() => second.countLog(segmentIndexed('cam1')) >= 3, 60000, 'three segments of the second run');
  t.equal((await second.stop()).code, 0);

  const verified = await runCli(['verify', '--config', config]);
  t.equal(verified.code, 0, `verify passes on the honest box:\n${verified.stdout.slice(-1500)}`);
  t.notMatch(verified.stdout, /INSERTED/, 'no segment called inserted');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const gaps = db.prepare("SELECT start_ms, end_ms, cause, detail FROM gaps WHERE camera = 'cam1' ORDER BY id").all() as Array<{ start_ms: number; end_ms: number | null; cause: string; detail: string }>;
  const step = gaps.find((g) => g.cause === 'clock_jump');
  t.match(step?.detail, boot === 'the same boot' ? /^the clock stepped back by \d+ ms while the daemon was not running$/
    : /^the clock stepped back by \d+ ms while the daemon was not running: it started at .*, before the box's last recording or sign of life/, 'the step back is a clock_jump gap');
  t.ok(step && Math.abs(step.end_ms! - step.start_ms - 1_800_000) < 20_000, `of about 30 min (${step ? step.end_ms! - step.start_ms : '-'} ms)`);
  const down = gaps.find((g) => g.cause === 'daemon_down');
  t.ok(down?.end_ms !== null && down?.end_ms !== undefined, `the downtime's gap closed at this run's first segment: ${JSON.stringify(down)}`);
  t.match(down?.detail, /how long is not known: the clock stepped back meanwhile/, 'saying its length is not known');
  t.ok(db.prepare("SELECT 1 FROM events WHERE type = 'clock_jump'").get(), 'and an event');
});
