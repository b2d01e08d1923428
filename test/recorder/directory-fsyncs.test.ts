import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

/**
 * The daemon under strace, every thread (the segment store renames and fsyncs through libuv's
 * pool): per committed segment, which directories were fsynced between its rename and the next
 * one. One camera: its commits run one after the other.
 */
t.test('a commit fsyncs the two directories its rename changed, and a parent only for a directory new to the process (the first hour\'s as the recorder starts)', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }]);
  const dataDir = join(dir, 'data');
  const trace = join(dir, 'daemon.strace');
  const daemon = new DaemonProcess(config, ['run'], {}, { wrap: ['strace', '-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', trace] }).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= 6, 60000, '6 segments');
  process.kill(Number(readFileSync(join(dataDir, 'edge-nvr.pid'), 'utf8')), 'SIGTERM');
  t.equal((await daemon.exit()).code, 0);

  const commits: Array<{ to: string; dirs: string[] }> = [];
  // the directories fsynced before the first rename: the camera's hour dir readied as its recorder starts
  const readied: string[] = [];
  for (const raw of readFileSync(trace, 'utf8').split('\n')) {
    // -f: each line starts with its thread's id; a call another thread interrupted is split into
    // "<unfinished ...>" and "<... resumed>" (the first part holds the path)
    const line = raw.replace(/^\d+\s+/, '');
    const rename = /^rename(?:at2?)?\(.*"([^"]+\/recordings\/cam1\/[^"]+\.mp4)"/.exec(line);
    if (rename && !rename[1]!.includes('/.staging/')) { commits.push({ to: rename[1]!, dirs: [] }); continue; }
    const fsync = /^f(?:data)?sync\(\d+<([^>]+)>/.exec(line);
    if (fsync && statSync(fsync[1]!, { throwIfNoEntry: false })?.isDirectory()) (commits.at(-1)?.dirs ?? readied).push(relative(dataDir, fsync[1]!) || '.');
  }
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const rows = (db.prepare("SELECT path FROM segments WHERE camera = 'cam1' ORDER BY id").all() as Array<{ path: string }>).map((r) => r.path);
  t.same(commits.map((c) => relative(dataDir, c.to)), rows, 'one rename per catalogued segment, in order');
  t.ok(commits.length >= 6, `${commits.length} commits traced`);

  const hourOf = (c: { to: string }) => relative(dataDir, dirname(c.to));
  const [first, ...rest] = commits;
  const hour = hourOf(first!);
  t.same(first!.dirs.sort(), [hour, 'recordings/cam1/.staging'].sort(), 'the first commit: the hour and staging directories');
  // (the data dir itself is fsynced at start-up for the daemon's own files too)
  // and the staging dir, once the run's provenance.json is in it (written durably as the recorder starts)
  t.same(readied.filter((d) => d.startsWith('recordings')).sort(), [dirname(hour), dirname(dirname(hour)), 'recordings', 'recordings/cam1/.staging'].sort(),
    'each directory on the way to the data dir once, before the first rename (readied as the recorder started): before its row too');
  t.ok(readied.includes('.'), 'the data dir too (the recordings dir\'s entry)');
  for (const c of rest) {
    const h = hourOf(c);
    const expected = h === hourOf(commits[commits.indexOf(c) - 1]!) ? [h, 'recordings/cam1/.staging'] : [h, 'recordings/cam1/.staging', dirname(h)];
    t.same(c.dirs.sort(), expected.sort(), `${relative(dataDir, c.to)}: ${c.dirs.join(', ')}`);
  }
  const saved = commits.length * 5 - commits.reduce((n, c) => n + c.dirs.length, 0);
  t.ok(saved >= (commits.length - 1) * 3 - 2, `${saved} directory fsyncs fewer than 5 per commit (${commits.length} commits)`);
});
