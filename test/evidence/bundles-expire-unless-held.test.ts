/**
 * Evidence bundles on the box are listed by `edge-nvr exports` with the other exports, and follow
 * the same retention (`storage.exports_max_days`): a bundle whose hold was released expires, one
 * whose range is still held stays, and a bundle an interrupted export left half-written is listed
 * as incomplete (never as a finished one) and expires too. Each deletion is a ledger entry.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DAY_MS } from '../../watchdog/retention.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';
import { evidenceBox, evidenceRequest } from '../support/evidence-box.js';

t.test('bundles are listed, expire by exports_max_days unless held, and a half-written one is never taken for finished', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await evidenceBox(dir, 'test-box');
  const exports = join(data, 'exports');
  const released = join(exports, 'case-released'), held = join(exports, 'case-held');
  const a = await runCli(evidenceRequest(data, t0, t0 + 100_000, released));
  t.equal(a.code, 0, a.stderr);
  const b = await runCli(evidenceRequest(data, t0 + 240_000, t0 + 290_000, held));
  t.equal(b.code, 0, b.stderr);
  const releasedHold = (JSON.parse(a.stdout) as { hold_id: number }).hold_id;
  t.equal((await runCli(['hold', 'release', String(releasedHold), '--data', data])).code, 0);
  // 40 days old, as retention reads a bundle's age: the created_ms of its manifest
  for (const bundle of [released, held]) {
    const m = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { created_ms: number };
    m.created_ms = Date.now() - 40 * DAY_MS;
    writeFileSync(join(bundle, 'manifest.json'), JSON.stringify(m, null, 2));
  }
  const partial = join(exports, '.case-crashed.partial-4242'); // what a kill -9 mid-export leaves
  mkdirSync(join(partial, 'segments'), { recursive: true });
  writeFileSync(join(partial, 'segments', 'x.mp4'), 'half');
  utimesSync(partial, new Date(Date.now() - 40 * DAY_MS), new Date(Date.now() - 40 * DAY_MS));

  const listed = await runCli(['exports', '--data', data, '--json']);
  t.equal(listed.code, 0, listed.stderr);
  const entries = (JSON.parse(listed.stdout) as { exports: Array<{ name: string; kind: string; state: string; camera: string | null }> }).exports;
  t.same(entries.map((e) => [e.name, e.kind, e.state]), [
    ['.case-crashed.partial-4242', 'unknown', 'incomplete'], ['case-held', 'evidence', 'complete'], ['case-released', 'evidence', 'complete'],
  ], 'two finished bundles, and the interrupted one listed as incomplete');
  const text = await runCli(['exports', '--data', data]);
  t.match(text.stdout, /^incomplete .*exports\/\.case-crashed\.partial-4242/m);

  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], {
    storageYaml: 'exports_max_days: 30',
    extraYaml: 'integrity:\n  age_deletion_needs_clock_sync: false\n  verify_read_mb_s: 0',
  });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/retention deleted exports/, 40000);
  await daemon.waitForLog(segmentIndexed('cam1'), 40000);
  t.equal((await daemon.stop()).code, 0);

  t.notOk(existsSync(released), 'the bundle whose hold was released expired');
  t.ok(existsSync(join(held, 'manifest.json')), 'the bundle whose range is still held stays');
  t.notOk(existsSync(partial), 'the half-written one expired');
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const deletions = (db.prepare("SELECT data FROM ledger WHERE kind = 'deletion'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { rule: string; files?: Array<{ file: string }> });
  const files = deletions.filter((d) => d.rule === 'exports_max_days').flatMap((d) => d.files!.map((f) => f.file)).sort();
  t.same(files, ['exports/.case-crashed.partial-4242', 'exports/case-released'], 'one ledger deletion names both');
});
