import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

/**
 * libfaketime (Debian) steps the wall clock of the daemon and its children only: the host's
 * clock is left alone, and the monotonic clock is not faked, as on a box whose NTP client steps
 * the time. The offset is read from a file on every call, so the test steps it while recording.
 */
function faketime(): string | undefined {
  for (const dir of readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime'))) {
    if (existsSync(join(dir, 'libfaketimeMT.so.1'))) return join(dir, 'libfaketimeMT.so.1');
  }
  return undefined;
}

const STEP_MS = 60_000;

t.test('the wall clock steps forward while recording: no stall, segment times follow, the straddling segment is marked', async (t) => {
  const lib = faketime();
  if (!lib) {
    t.fail('libfaketime is not installed (scripts/setup installs it)');
    return;
  }
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { stallTimeoutS: 10 });
  const offsetFile = join(dir, 'clock-offset');
  writeFileSync(offsetFile, '+0\n');
  const daemon = new DaemonProcess(config, ['run'], {
    LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1',
  }).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= 3, 60000, '3 segments');

  const steppedAt = Date.now();
  writeFileSync(offsetFile, `+${STEP_MS / 1000}\n`);
  const indexed = daemon.countLog(segmentIndexed('cam1'));
  // past the stall timeout (10 s) of a clock read the wall way
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= indexed + 7, 60000, '7 more segments');
  const stoppedAt = Date.now();
  t.equal((await daemon.stop()).code, 0);

  t.notMatch(daemon.output, /recorder stalled/, 'a step of the wall clock is not a stall');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare("SELECT type FROM events WHERE type IN ('stall_detected', 'watchdog_restart')").all(), [], 'no stall event, no restart');
  const segs = db.prepare("SELECT id, start_ms, end_ms, clock_step_ms FROM segments WHERE camera = 'cam1' ORDER BY id").all() as Array<{ id: number; start_ms: number; end_ms: number; clock_step_ms: number | null }>;
  const marked = segs.filter((s) => s.clock_step_ms !== null);
  t.equal(marked.length, 1, `one segment straddles the step: ${JSON.stringify(marked)}`);
  const straddler = marked[0]!;
  t.ok(Math.abs(straddler.clock_step_ms! - STEP_MS) < 1500, `marked with the step (${straddler.clock_step_ms} ms)`);
  t.ok(straddler.end_ms - straddler.start_ms < 4000, `and keeps its length (${straddler.end_ms - straddler.start_ms} ms)`);
  const before = segs.filter((s) => s.id < straddler.id);
  const after = segs.filter((s) => s.id > straddler.id);
  t.ok(before.length >= 3 && after.length >= 5, `${before.length} segments before, ${after.length} after`);
  t.ok(before.at(-1)!.end_ms <= steppedAt + 3000, 'segments before the step are in the clock of then');
  t.ok(straddler.start_ms - before.at(-1)!.end_ms > STEP_MS - 4000, `a hole of about the step before the straddling segment (${straddler.start_ms - before.at(-1)!.end_ms} ms)`);
  for (const [i, s] of after.entries()) {
    const prev = i === 0 ? straddler : after[i - 1]!;
    t.ok(Math.abs(s.start_ms - prev.end_ms) < 100, `segment #${s.id} follows the one before (${s.start_ms - prev.end_ms} ms)`);
  }
  const lag = stoppedAt + STEP_MS - after.at(-1)!.end_ms;
  t.ok(lag > -3000 && lag < 6000, `segments after the step are in the stepped clock: the last ends ${lag} ms before the (stepped) stop`);

  const gaps = db.prepare("SELECT start_ms, end_ms, cause FROM gaps WHERE camera = 'cam1'").all() as Array<{ start_ms: number; end_ms: number; cause: string }>;
  const jump = gaps.filter((g) => g.cause === 'clock_jump');
  t.equal(jump.length, 1, `a clock_jump gap: ${JSON.stringify(gaps)}`);
  t.ok(Math.abs(jump[0]!.end_ms - jump[0]!.start_ms - STEP_MS) < 1500, 'as long as the step');
  t.notOk(gaps.some((g) => g.cause === 'stalled'), 'and no stall gap');
  const verified = await runCli(['verify', '--config', config]);
  t.equal(verified.code, 0, `verify passes: ${verified.stdout}`);
});
