import t from 'tap';
import Database from 'better-sqlite3';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, sleep, until, writeConfig } from '../support/daemon.js';
import { probe } from '../support/media.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.mp4'))
    .map((e) => relative(join(dir, '..'), join(e.parentPath, e.name)).replace(/^data\//, ''));
}

for (const backend of ['ffmpeg', 'gstreamer'] as const) {
  t.test(`kill -9 mid-recording (${backend}): the restart indexes everything and the partial segment plays`, async (t) => {
    const sim = await new CameraSim({ mounts: ['cam1'] }).start();
    t.teardown(() => sim.kill());
    const dir = t.testdir();
    const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1'), backend }]);
    const dataDir = join(dir, 'data');

    const first = new DaemonProcess(config).start();
    t.teardown(() => { first.proc?.kill('SIGKILL'); });
    await first.waitForLog(/segment indexed/);
    // mid-segment, once the open segment has at least one fragment (about 1 s of media) on disk
    const staging = join(dataDir, 'recordings/cam1/.staging');
    await until(() => readdirSync(staging).some((f) => statSync(join(staging, f)).size > 50_000), 15000);
    const killed = await first.stop('SIGKILL');
    t.equal(killed.signal, 'SIGKILL');
    await sleep(1500);

    const staged = readdirSync(join(dataDir, 'recordings/cam1/.staging')).filter((f) => f.endsWith('.mp4'));
    t.ok(staged.length >= 1, `the kill left ${staged.length} unindexed file(s) in staging`);

    const second = new DaemonProcess(config).start();
    t.teardown(() => { second.proc?.kill('SIGKILL'); });
    await second.waitForLog(/recovered segments left by an interrupted run/);
    t.equal((await second.stop()).code, 0);

    const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
    t.teardown(() => db.close());
    t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'PRAGMA integrity_check is ok');
    const rows = db.prepare("SELECT path, origin FROM segments WHERE camera = 'cam1' ORDER BY id").all() as Array<{ path: string; origin: string }>;
    const recovered = rows.filter((r) => r.origin === 'recovered');
    t.ok(recovered.length >= 1, 'the partial segment is indexed as recovered');
    for (const r of recovered) t.ok(probe(join(dataDir, r.path)).frames > 0, `recovered ${r.path} plays`);
    t.same(filesUnder(join(dataDir, 'recordings')).filter((f) => !f.includes('.staging')).sort(), rows.map((r) => r.path).sort(),
      'every segment on disk is in the catalog, and nothing else');
    const verified = await runCli(['verify', '--config', config]);
    t.equal(verified.code, 0, `verify passes after the crash:\n${verified.stdout}`);
  });
}
