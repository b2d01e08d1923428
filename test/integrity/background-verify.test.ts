/**
 * Background verification re-hashes every stored segment at the configured read rate, raises
 * `integrity_violation` (what, where) for a changed or vanished file, flags the vanished one
 * missing through the ledger, and reports its last full pass in `edge-nvr status`.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

t.test('a changed and a vanished segment are found by the rolling re-hash, read at the configured rate', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const config = (rate: number) => writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { extraYaml: `integrity:\n  verify_read_mb_s: ${rate}` });
  const first = new DaemonProcess(config(0)).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await until(() => first.countLog(segmentIndexed('cam1')) >= 4, 40000, 'four segments');
  t.equal((await first.stop()).code, 0);

  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  const rows = db.prepare("SELECT id, path, bytes FROM segments WHERE state = 'ok' ORDER BY id").all() as Array<{ id: number; path: string; bytes: number }>;
  db.close();
  const [changed, vanished, goneWhileDown] = [rows[1]!, rows.at(-1)!, rows[2]!];
  // removed while the daemon was down: start-up flags it, and that is a violation too (it had
  // been a log line, with status saying "0 violations")
  rmSync(join(data, goneWhileDown.path));
  const bytes = readFileSync(join(data, changed.path));
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(join(data, changed.path), bytes);

  const rate = 0.25; // MB/s
  const second = new DaemonProcess(config(rate)).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  // after start-up's own check (which flags a file gone while the daemon was down): the newest,
  // so the rolling pass, oldest first, reaches it last
  await second.waitForLog(/edge-nvr running/, 30000);
  rmSync(join(data, vanished.path));
  await second.waitForLog(/background verification: full pass done/, 90000);
  const done = JSON.parse(second.output.split('\n').find((l) => l.includes('full pass done'))!) as { bytes: number; seconds: number; segments: number };
  const floor = done.bytes / (rate * 1e6);
  t.ok(done.seconds >= Math.floor(floor), `the pass read ${(done.bytes / 1e6).toFixed(2)} MB in ${done.seconds} s: no faster than ${rate} MB/s (${floor.toFixed(1)} s at least)`);
  const violations = second.output.split('\n').filter((l) => l.includes('"event":"integrity_violation"')).map((l) => JSON.parse(l) as { what: string; segment: number; path: string });
  t.same(violations.map((v) => [v.what, v.segment, v.path]).sort(),
    [['missing', vanished.id, vanished.path], ['modified', changed.id, changed.path], ['missing', goneWhileDown.id, goneWhileDown.path]].sort(),
    'one integrity_violation each: what and where');
  t.match(second.output, /"event":"integrity_violation".*"detail":"the file was gone at start-up"/, 'the one gone while the daemon was down, found at start-up');

  const status = await runCli(['status', '--data', data, '--json']);
  const integrity = (JSON.parse(status.stdout) as { integrity: { last_full_pass_ms: number; last_full_pass_segments: number; violations: number; verify_read_mb_s: number; last_checkpoint_ms: number } }).integrity;
  t.ok(integrity.last_full_pass_ms > Date.now() - 120_000, 'status shows when the last full pass ended');
  t.equal(integrity.violations, 3, 'and how many violations it found');
  t.equal(integrity.verify_read_mb_s, rate);
  t.ok(integrity.last_checkpoint_ms > 0, 'and the newest checkpoint');
  const text = await runCli(['status', '--data', data]);
  t.match(text.stdout, /integrity: background re-hash at 0\.25 MB\/s; last full pass \S+ \(\d+ segments\).*; 3 violations/);
  t.equal((await second.stop()).code, 0);

  const check = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => check.close());
  t.equal((check.prepare('SELECT state FROM segments WHERE id = ?').get(vanished.id) as { state: string }).state, 'missing', 'the vanished file\'s row is flagged missing');
  t.equal(check.prepare("SELECT count(*) AS n FROM ledger WHERE kind = 'segment_missing'").pluck().get(), 2, 'through the ledger, both');
  const verified = await runCli(['verify', '--data', data, '--json']);
  const kinds = (JSON.parse(verified.stdout) as { findings: Array<{ kind: string }> }).findings.map((f) => f.kind).sort();
  t.same(kinds, ['missing', 'missing', 'modified'], 'verify agrees, with no inconsistency between the view and the ledger');
});
