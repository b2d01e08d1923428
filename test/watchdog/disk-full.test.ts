import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { backdate, makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';
import { NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';

t.test('on a 200 MB tmpfs, recording runs past full: oldest go, held stay, no crash loop, retention_at_risk', { skip: NEEDS_ROOT }, async (t) => {
  const { dir, data } = tmpfsDataDir(t, 200, 'disk-full');

  // ten days of history: one held day, four unheld, 2 MB each
  const clip = makeClip(join(dir, 'clip.mp4'), 10, 1600);
  const catalog = Catalog.open(data);
  const now = Date.now();
  const [held, ...old] = await backdate(data, catalog, clip, 'cam1', [10, 9, 8, 7, 6].map((d) => now - d * DAY_MS));
  catalog.close();
  const hold = await runCli(['hold', 'add', '--data', data, '--camera', 'cam1', '--from', String(held.start_ms), '--to', String(held.end_ms), '--reason', 'case 17']);
  t.equal(hold.code, 0, hold.stderr);

  const sim = await new CameraSim({ mounts: ['cam1'], pattern: 'snow', bitrate: 6000 }).start();
  t.teardown(() => sim.kill());
  // 200 MB with a 185 MB floor: 15 MB over it, 10 of them the history above, so the floor is
  // reached after about 5 MB of recording at ~0.75 MB/s, the unheld days go and then this run's
  // own segments (a 180 MB floor made the same story take about 4 s longer: nothing more checked)
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], { floorMb: 185 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/retention deleted segments/, 90000);
  await daemon.waitForLog(/"event":"retention_at_risk"/, 60000);
  // keep recording under pressure until segments of this very run have had to go (read beside the daemon)
  const freshDeleted = () => {
    const db = new Database(join(data, 'catalog.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM segments WHERE state = 'deleted' AND start_ms > ?").get(now - 60_000) as { n: number }).n;
    } finally { db.close(); }
  };
  await until(() => freshDeleted() > 0, 90_000, 'a segment recorded in this run deleted to keep recording');
  t.equal(daemon.proc!.exitCode, null, 'the daemon is still running');
  t.equal(daemon.countLog(/edge-nvr running/), 1, 'it never restarted');
  t.equal((await daemon.stop()).code, 0);

  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const state = (id: number) => (db.prepare('SELECT state, state_note FROM segments WHERE id = ?').get(id) as { state: string; state_note: string | null });
  t.equal(state(held.id).state, 'ok', 'the held segment is kept');
  t.ok(existsSync(join(data, held.path)), 'and its file');
  for (const o of old) {
    t.equal(state(o.id).state, 'deleted', `unheld ${o.path} went first`);
    t.match(state(o.id).state_note, /free space under the floor/);
  }
  const fresh = db.prepare("SELECT count(*) AS n FROM segments WHERE state = 'deleted' AND start_ms > ?").get(now - 60_000) as { n: number };
  t.ok(fresh.n > 0, `${fresh.n} segments recorded in this run were deleted to keep recording`);
  const live = db.prepare("SELECT count(*) AS n FROM segments WHERE state = 'ok' AND start_ms > ?").get(now - 60_000) as { n: number };
  t.ok(live.n > 0, 'the newest recordings are kept');
  const events = db.prepare("SELECT type, data FROM events WHERE type = 'retention_at_risk'").all() as Array<{ data: string }>;
  t.ok(events.length >= 1, 'retention_at_risk was raised');
  t.ok(JSON.parse(events[0].data).days_held < 30, 'with the days actually held, under the 30 required');
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify accounts for every deletion:\n${verified.stdout.slice(-1500)}`);
});
