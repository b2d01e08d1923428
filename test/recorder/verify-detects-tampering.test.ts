import t from 'tap';
import Database from 'better-sqlite3';
import { copyFileSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, writeConfig } from '../support/daemon.js';

interface Finding { kind: string; path?: string; segment?: number }

t.test('verify names every modified, missing and inserted segment', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam1', 'cam2'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, sim.mounts.map((m) => ({ id: m, url: sim.url(m) })));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  // at least three segments per camera, so there is a middle one to tamper with
  const until = Date.now() + 40000;
  while (daemon.countLog(/segment indexed/) < 6 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  t.equal((await daemon.stop()).code, 0);

  const pristine = join(dir, 'pristine');
  cpSync(join(dir, 'data'), pristine, { recursive: true });
  const reset = () => {
    rmSync(join(dir, 'data'), { recursive: true });
    cpSync(pristine, join(dir, 'data'), { recursive: true });
  };
  const db = new Database(join(pristine, 'catalog.db'), { readonly: true });
  const rows = db.prepare("SELECT id, path FROM segments WHERE camera = 'cam1' ORDER BY id").all() as Array<{ id: number; path: string }>;
  db.close();
  t.ok(rows.length >= 3, 'enough segments recorded');
  const victim = rows[1];
  const file = (rel: string) => join(dir, 'data', rel);
  const verify = async () => {
    const r = await runCli(['verify', '--config', config, '--json']);
    return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings, text: r.stdout };
  };

  t.equal((await verify()).code, 0, 'the untouched recording verifies');

  const bytes = readFileSync(file(victim.path));
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(file(victim.path), bytes);
  let r = await verify();
  t.equal(r.code, 1, 'one flipped bit fails verify');
  t.same(r.findings.map((f) => [f.kind, f.path]), [['modified', victim.path]], 'and names the modified segment');
  const human = await runCli(['verify', '--config', config]);
  t.match(human.stdout, new RegExp(`^MODIFIED +${victim.path.replace(/\./g, '\\.')}`, 'm'), 'the plain output names it too');
  t.match(human.stdout, /^FAILED: /m);

  reset();
  rmSync(file(victim.path));
  r = await verify();
  t.equal(r.code, 1, 'a deleted segment fails verify');
  t.same(r.findings.map((f) => [f.kind, f.path]), [['missing', victim.path]], 'and names the missing segment');

  reset();
  const inserted = victim.path.replace(/(\d{13})\.mp4$/, (_, ms) => `${Number(ms) + 1}.mp4`);
  copyFileSync(file(rows[0].path), file(inserted));
  r = await verify();
  t.equal(r.code, 1, 'an added segment fails verify');
  t.same(r.findings.map((f) => [f.kind, f.path]), [['inserted', inserted]], 'and names the inserted file');

  reset();
  const rw = new Database(file('catalog.db'));
  rw.prepare('UPDATE segments SET end_ms = end_ms + 5000 WHERE id = ?').run(victim.id);
  rw.close();
  r = await verify();
  t.equal(r.code, 1, 'a catalog row edited behind the daemon\'s back fails verify');
  t.same(r.findings.filter((f) => f.kind === 'chain').map((f) => [f.kind, f.segment]), [['chain', victim.id]], 'and names the row');
  // its camera's next row now starts before the edited end: out of time order, named as well
  t.ok(r.findings.every((f) => f.kind === 'chain' || (f.kind === 'inserted' && f.segment! > victim.id)), JSON.stringify(r.findings));

  reset();
  const rw2 = new Database(file('catalog.db'));
  rw2.prepare('DELETE FROM segments WHERE id = ?').run(victim.id);
  rw2.close();
  r = await verify();
  t.equal(r.code, 1, 'a row deleted from the catalog fails verify');
  t.ok(r.findings.some((f) => f.kind === 'chain'), 'as a break in the chain');
  t.ok(r.findings.some((f) => f.kind === 'inserted' && f.path === victim.path), 'and its file is no longer accounted for');
});
