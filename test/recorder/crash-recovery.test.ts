import t from 'tap';
import Database from 'better-sqlite3';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig } from '../support/daemon.js';
import { probe } from '../support/media.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.mp4'))
    .map((e) => relative(join(dir, '..'), join(e.parentPath, e.name)).replace(/^data\//, ''));
}

const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

// both backends in one daemon, killed at once: a camera per backend (one simulator), every check per camera
t.test('kill -9 mid-recording (ffmpeg and gstreamer side by side): the restart indexes everything and the partial segments play', async (t) => {
  process.umask(0o022); // a shell's, not the unit's UMask=0077
  const sim = await new CameraSim({ mounts: [...BACKENDS] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: sim.url(b), backend: b })));
  const dataDir = join(dir, 'data');
  const staging = (camera: string) => join(dataDir, 'recordings', camera, '.staging');

  const first = new DaemonProcess(config).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await until(() => BACKENDS.every((b) => first.countLog(segmentIndexed(b)) >= 1), 30000, 'a segment of each camera');
  // mid-segment, once each open segment has at least one fragment (about 1 s of media) on disk
  await until(() => BACKENDS.every((b) => readdirSync(staging(b)).some((f) => statSync(join(staging(b), f)).size > 50_000)), 15000, 'a fragment in each open segment');
  const killed = await first.stop('SIGKILL');
  t.equal(killed.signal, 'SIGKILL');
  await sleep(1500);

  for (const backend of BACKENDS) {
    const staged = readdirSync(staging(backend)).filter((f) => f.endsWith('.mp4'));
    t.ok(staged.length >= 1, `${backend}: the kill left ${staged.length} unindexed file(s) in staging`);
  }

  const second = new DaemonProcess(config).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  const recoveredLog = (camera: string) => new RegExp(`"camera":"${camera}".*recovered segments left by an interrupted run`);
  await until(() => BACKENDS.every((b) => second.countLog(recoveredLog(b)) >= 1), 30000, 'the recovery of each camera');
  t.equal((await second.stop()).code, 0);

  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'PRAGMA integrity_check is ok');
  for (const backend of BACKENDS) {
    const rows = db.prepare('SELECT path, origin FROM segments WHERE camera = ? ORDER BY id').all(backend) as Array<{ path: string; origin: string }>;
    const recovered = rows.filter((r) => r.origin === 'recovered');
    t.ok(recovered.length >= 1, `${backend}: the partial segment is indexed as recovered`);
    for (const r of recovered) t.ok(probe(join(dataDir, r.path)).frames > 0, `${backend}: recovered ${r.path} plays`);
    t.same(filesUnder(join(dataDir, 'recordings')).filter((f) => f.startsWith(`recordings/${backend}/`) && !f.includes('.staging')).sort(), rows.map((r) => r.path).sort(),
      `${backend}: every segment on disk is in the catalog, and nothing else`);
  }
  // started from a shell with umask 022 (this test's): the box's files are its own all the same
  const open = [join(dataDir, 'catalog.db'), ...BACKENDS.map((b) => join(dataDir, 'recordings', b)),
    ...filesUnder(join(dataDir, 'recordings')).map((f) => join(dataDir, f))].filter((p) => (statSync(p).mode & 0o077) !== 0);
  t.same(open, [], 'the catalog, the recordings and their folders: no access for group or others');
  const verified = await runCli(['verify', '--config', config]);
  t.equal(verified.code, 0, `verify passes after the crash:\n${verified.stdout}`);
});

t.test('kill -9, then the camera renamed in the config: what it left in staging is still recovered, under its old id', async (t) => {
  // only the configured cameras' staging was looked at: the file stayed there unindexed, with no
  // row, gap or ledger entry, and retention never deleted it (an outside probe)
  const sim = await new CameraSim({ mounts: ['door'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const staging = join(dataDir, 'recordings', 'door', '.staging');
  const first = new DaemonProcess(writeConfig(dir, [{ id: 'door', url: sim.url('door') }])).start();
  t.teardown(() => { first.proc?.kill('SIGKILL'); });
  await until(() => first.countLog(segmentIndexed('door')) >= 1, 30000, 'a segment');
  await until(() => readdirSync(staging).some((f) => statSync(join(staging, f)).size > 50_000), 15000, 'a fragment in the open segment');
  await first.stop('SIGKILL');
  await sleep(1500);
  const staged = readdirSync(staging).filter((f) => f.endsWith('.mp4'));
  t.ok(staged.length >= 1, `the kill left ${staged.length} file(s) in staging`);

  const second = new DaemonProcess(writeConfig(dir, [{ id: 'door2', url: sim.url('door') }])).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  await second.waitForLog(/"camera":"door".*recovered segments left by an interrupted run/, 30000);
  t.equal((await second.stop()).code, 0);
  t.same(readdirSync(staging).filter((f) => f.endsWith('.mp4')), [], 'nothing left in the old camera\'s staging');
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const recovered = db.prepare("SELECT path FROM segments WHERE camera = 'door' AND origin = 'recovered'").all() as Array<{ path: string }>;
  t.ok(recovered.length >= 1, 'indexed as the old camera\'s, recovered');
  for (const r of recovered) t.ok(probe(join(dataDir, r.path)).frames > 0, `${r.path} plays`);
  const verify = await runCli(['verify', '--data', dataDir]);
  t.equal(verify.code, 0, verify.stdout);
});
