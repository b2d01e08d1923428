/**
 * A camera removed from the config still has its footage expire by the box's policy (it is not
 * kept for ever because nobody names it any more), and exports have a retention of their own
 * (`storage.exports_max_days`), an active hold keeping the ones it covers. Both are deletions
 * with their rule in the ledger, which `verify` re-checks.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { backdate, makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';

t.test('a removed camera expires by the box policy; exports by exports_max_days, unless held', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const now = Date.now();
  const clip = makeClip(join(dir, 'clip.mp4'));
  const catalog = Catalog.open(data);
  const [goneOld, goneYoung] = await backdate(data, catalog, clip, 'gone', [now - 100 * DAY_MS, now - 20 * DAY_MS]);
  catalog.close();

  // exports: one old, one old but held (its camera and range), one recent; times from their signed manifests
  const exports = join(data, 'exports');
  mkdirSync(exports, { recursive: true });
  const exported = (name: string, ageDays: number, from: number) => {
    const created = new Date(now - ageDays * DAY_MS).toISOString();
    writeFileSync(join(exports, name), `clip ${name}`);
    writeFileSync(join(exports, `${name}.manifest.json`), JSON.stringify({ schema: 'edge-nvr/manifest/1', created, camera: 'gone', from: new Date(from).toISOString(), to: new Date(from + 60_000).toISOString() }));
    return name;
  };
  const oldExport = exported('old.mp4', 40, goneOld!.start_ms);
  const heldExport = exported('held.mp4', 40, goneYoung!.start_ms);
  const recentExport = exported('recent.mp4', 5, goneOld!.start_ms);
  const leftover = join(exports, '.half.mp4.123.partial'); // an egress that crashed long ago
  writeFileSync(leftover, 'x');
  utimesSync(leftover, new Date(now - 40 * DAY_MS), new Date(now - 40 * DAY_MS));
  const hold = await runCli(['hold', 'add', '--data', data, '--camera', 'gone', '--from', String(goneYoung!.start_ms), '--to', String(goneYoung!.end_ms), '--reason', 'case 5']);
  t.equal(hold.code, 0, hold.stderr);

  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], {
    storageYaml: 'retention:\n  max_days: 60\nexports_max_days: 30',
    extraYaml: 'integrity:\n  age_deletion_needs_clock_sync: false\n  verify_read_mb_s: 0',
  });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('cam1'), 40000);
  await daemon.waitForLog(/retention deleted exports/, 20000);
  await daemon.waitForLog(/"forAge":1/, 20000);
  t.match(daemon.output, /"cameras":\["gone"\].*"msg":"cameras no longer configured: their recordings follow the box retention"/, 'the daemon says which cameras follow the box policy');
  t.equal((await daemon.stop()).code, 0);

  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const state = (id: number) => (db.prepare('SELECT state, state_note FROM segments WHERE id = ?').get(id) as { state: string; state_note: string | null });
  t.equal(state(goneOld!.id).state, 'deleted', 'the removed camera\'s 100-day-old segment expired by the box\'s max_days 60');
  t.match(state(goneOld!.id).state_note, /camera removed from the config, older than the box's max_days 60/);
  t.notOk(existsSync(join(data, goneOld!.path)), 'its file is gone');
  t.equal(state(goneYoung!.id).state, 'ok', 'its 20-day-old segment stays');

  t.notOk(existsSync(join(exports, oldExport)) || existsSync(join(exports, `${oldExport}.manifest.json`)), 'an export past exports_max_days goes, with its manifest');
  t.notOk(existsSync(leftover), 'so does a partial file an old crash left');
  t.ok(existsSync(join(exports, heldExport)), 'an export an active hold covers stays');
  t.ok(existsSync(join(exports, recentExport)), 'a recent export stays');
  const rules = (db.prepare("SELECT data FROM ledger WHERE kind = 'deletion'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { rule: string; files?: Array<{ file: string }> });
  t.same(rules.map((r) => r.rule).sort(), ['exports_max_days', 'removed_camera'], 'both are ledger deletions with their rule');
  t.same(rules.find((r) => r.rule === 'exports_max_days')!.files!.map((f) => f.file).sort(), ['exports/.half.mp4.123.partial', 'exports/old.mp4', 'exports/old.mp4.manifest.json']);

  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify re-checks both against their rule:\n${verified.stdout.slice(-1500)}`);
  t.match(verified.stdout, /checked: 2 deletions against their rule/);
});
