/**
 * A camera whose RTP clock jumps (an outside probe, 2026-12-04): an hour forward made the ffmpeg
 * backend date the segment across the jump an hour before its pictures, 3600 s long; the hour
 * back again left ffmpeg giving every packet the previous time plus one tick, and a minute of
 * footage was catalogued in 30 ms of files, with nothing said. Now the segments follow the
 * pictures across the forward jump, and the backward one restarts the recorder on a new timeline,
 * a gap whose cause is the camera's stream.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';
import { killDetached } from '../support/processes.js';

const CAMERA = fileURLToPath(new URL('../support/rtp-clock-camera.py', import.meta.url)).replace(/\/dist\/test\//, '/test/');
const HOUR_TICKS = 3600 * 90_000;

interface Row { start_ms: number; end_ms: number }

t.test('an hour forward and back on the camera\'s clock: segments stay at their pictures, the backward jump restarts the recorder', async (t) => {
  const dir = t.testdir();
  const clip = join(dir, 'clip.h264');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=10', '-t', '20', '-c:v', 'libx264', '-profile:v', 'baseline',
    '-g', '10', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', clip]);
  const control = join(dir, 'control.json');
  const say = (c: object) => writeFileSync(control, JSON.stringify(c));
  say({});
  const cam = spawn('/usr/bin/python3', [CAMERA, '0', clip, control], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => killDetached(cam));
  const port = await new Promise<number>((resolve) => createInterface({ input: cam.stdout! }).on('line', (l) => { const m = /^READY (\d+)/.exec(l); if (m) resolve(Number(m[1])); }));

  const config = writeConfig(dir, [{ id: 'jumpy', url: `rtsp://127.0.0.1:${port}/x`, tamper: { enabled: false, reason: 'a test of segment times' } }], { segmentSeconds: 2 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const startedMs = Date.now();
  await daemon.waitForLog(segmentIndexed('jumpy'), 30000);
  await sleep(4000);
  say({ jump: HOUR_TICKS, jump_id: 1 });
  // recording across the forward jump, three segments after it, before the clock goes back
  const afterForward = daemon.countLog(segmentIndexed('jumpy'));
  await until(() => daemon.countLog(segmentIndexed('jumpy')) >= afterForward + 3, 40000, 'segments after the forward jump');
  // On CI's loaded 2 cores the recorder once timed out and was restarting as the clock went back,
  // and the new run began on the new timeline with nothing to see: the camera's clock goes back
  // again (at most twice more) until a running recorder sees it
  for (let jump = 2; jump <= 4 && daemon.countLog(/timestamps went back; restarting its recorder/) === 0; jump++) {
    say({ jump: -HOUR_TICKS, jump_id: jump });
    await daemon.waitForLog(/timestamps went back; restarting its recorder/, 15000).catch(() => undefined);
  }
  await daemon.waitForLog(/timestamps went back; restarting its recorder/, 1000);
  // Four segments indexed after the restart (one may be the last before it, indexed late),
  // however long the restart takes on a loaded machine: a fixed wait left too few on CI
  const before = daemon.countLog(segmentIndexed('jumpy'));
  await until(() => daemon.countLog(segmentIndexed('jumpy')) >= before + 4, 40000, 'segments after the restart');
  const stoppedMs = Date.now();
  t.equal((await daemon.stop()).code, 0);

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  const rows = db.prepare("SELECT start_ms, end_ms FROM segments WHERE camera = 'jumpy' ORDER BY start_ms").all() as Row[];
  const gaps = db.prepare("SELECT cause, start_ms, end_ms FROM gaps WHERE camera = 'jumpy'").all() as Array<{ cause: string; start_ms: number; end_ms: number }>;
  db.close();
  t.ok(rows.length >= 10, `${rows.length} segments`);
  t.same(rows.filter((r) => r.start_ms < startedMs - 1000 || r.end_ms > stoppedMs + 1000), [], 'every segment between the daemon\'s start and stop (none an hour off)');
  t.same(rows.filter((r) => r.end_ms - r.start_ms > 4000), [], 'none longer than two segments\' time (the one across the jump is not an hour long)');
  t.same(rows.filter((r, i) => i > 0 && r.start_ms < rows[i - 1]!.end_ms), [], 'none overlaps the one before');
  const squashed = rows.filter((r) => r.end_ms - r.start_ms < 50);
  t.ok(squashed.length <= 1, `at most the file open at the backward jump is dated under 50 ms (${squashed.length}), not a run of them`);
  const restart = gaps.find((g) => g.cause === 'stream_unusable');
  const after = rows.filter((r) => r.start_ms >= (restart?.end_ms ?? Infinity));
  // (the last one ends where the daemon was stopped)
  t.ok(after.length >= 3 && after.slice(0, -1).every((r) => r.end_ms - r.start_ms >= 900), `recording goes on after the restart, segments of real length: ${after.map((r) => r.end_ms - r.start_ms).join(', ')} ms`);
  t.match(gaps, [{ cause: 'stream_unusable' }], 'one gap, its cause the camera\'s stream');
  const verify = await runCli(['verify', '--config', config]);
  t.equal(verify.code, 0, verify.stdout + verify.stderr);
});
