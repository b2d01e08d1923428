/**
 * What an outside evaluator tried against the built CLI on 2026-12-02 and got wrong answers to:
 * a repeated option run on one of its two values, times Date.parse reads out of anything, a time
 * past what a Date holds written into a hold and then the command failing, an unknown camera
 * "verified", a damaged catalog called "no edge-nvr data" (or verified OK), a read-only data dir
 * called "no edge-nvr data".
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, lchownSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Catalog, CATALOG_FILE } from '../../recorder/catalog/catalog.js';
import { EXIT } from '../../daemon/args.js';
import { CLI, runCli } from '../support/cli.js';
import { DaemonProcess, writeConfig } from '../support/daemon.js';
import { makeClip } from '../support/backdate.js';
import { segmentPath } from '../../recorder/segment-store.js';

const HOLD = ['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z'];

/** A catalog as the daemon makes it, in `<dir>/<name>`; `dir` a test's t.testdir() (called once a test: it empties the folder). */
function dataDir(dir: string, name = 'data'): string {
  const data = join(dir, name);
  const catalog = Catalog.open(data);
  catalog.addGap('gate', 0, 1000, 'camera_unreachable'); // a camera the box knows (never reached: gaps only), so it can be held
  catalog.close();
  return data;
}

async function holds(data: string): Promise<unknown[]> {
  const list = await runCli(['hold', 'list', '--all', '--json', '--data', data]);
  return (JSON.parse(list.stdout) as { holds: unknown[] }).holds;
}

t.test('an option given twice is refused, naming it, and nothing is written (the last one used to win silently)', async (t) => {
  const data = dataDir(t.testdir());
  const twice = await runCli([...HOLD, '--reason', 'case 42', '--reason', 'case 43', '--data', data]);
  t.equal(twice.code, 2, twice.stderr);
  t.match(twice.stderr, 'edge-nvr hold: --reason is given twice: give it once');
  t.same(await holds(data), [], 'no hold was placed on either reason');
  const dirs = await runCli(['status', '--data', join(data, 'x'), '--data', data]);
  t.equal(dirs.code, 2);
  t.match(dirs.stderr, '--data is given twice');
  // options meant to repeat still do
  const officers = await runCli(['evidence', '--officer', 'A B:1', '--officer', 'C D:2', '--data', data]);
  t.notMatch(officers.stderr, 'given twice', 'evidence --officer twice is not refused as repeated');
});

t.test('a time is ISO 8601 or epoch ms: anything else, or past what a Date holds, is refused before anything is written', async (t) => {
  const data = dataDir(t.testdir());
  // and a day that its month does not have, or an hour past 23: Date.parse rolled "February 30"
  // into 2 March, and a hold from it began a day late, silently
  for (const bad of ['camera 1', '5', 'Dec 3', '12/01/2026', '99999999999999999999', '2026-02-30', '2026-11-31T10:00:00Z', '2026-12-01T24:30:00Z']) {
    const r = await runCli(['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', bad, '--reason', 'case 42', '--data', data]);
    t.equal(r.code, 2, `--to "${bad}": exit 2 (${r.stderr.trim()})`);
    t.match(r.stderr, `--to: expected an ISO 8601 time (2026-11-23T08:00:00Z) or epoch milliseconds, got "${bad}"`);
    const rec = await runCli(['recordings', '--camera', 'gate', '--from', bad, '--data', data]);
    t.equal(rec.code, 2, `recordings --from "${bad}": exit 2`);
  }
  t.same(await holds(data), [], 'no hold was written (a to_ms of 1e20 was, and then the command failed printing it)');
  for (const good of [['0', '1796083200000'], ['2026-01-01', '2026-01-02 08:00'], ['2026-01-01T00:00:00.000Z', '2026-01-01T08:00:00+01:00']]) {
    const r = await runCli(['hold', 'add', '--camera', 'gate', '--from', good[0]!, '--to', good[1]!, '--reason', 'case 42', '--data', data]);
    t.equal(r.code, 0, `${good.join(' .. ')} is accepted: ${r.stderr}`);
  }
});

t.test('a date alone and a time without an offset are both local time', async (t) => {
  // Date.parse read a date alone as UTC and a time without an offset as local: with TZ in Los
  // Angeles, a hold "from 2026-10-20 to 2026-10-20T23:59" began at UTC midnight, 7 hours early
  const data = dataDir(t.testdir());
  const env = { ...process.env, TZ: 'America/Los_Angeles' };
  const r = await runCli(['hold', 'add', '--camera', 'gate', '--from', '2026-10-20', '--to', '2026-10-20T23:59', '--reason', 'case 43', '--data', data], { env });
  t.equal(r.code, 0, r.stderr);
  const [hold] = await holds(data) as Array<{ from_ms: number; to_ms: number }>;
  t.equal(hold?.from_ms, Date.parse('2026-10-20T07:00:00Z'), 'local midnight (UTC-7 in October)');
  t.equal(hold?.to_ms, Date.parse('2026-10-21T06:59:00Z'), 'and 23:59 local');
});

t.test('the audit listing shows the range of a hold on every camera, as of one on a camera', async (t) => {
  // the text listing printed a range only beside a camera: an all-cameras hold had none (the JSON did)
  const data = dataDir(t.testdir());
  for (const who of [['--camera', 'gate'], ['--all-cameras']]) {
    t.equal((await runCli(['hold', 'add', ...who, '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 44', '--data', data])).code, 0);
  }
  const text = (await runCli(['audit', '--data', data])).stdout;
  const holdLines = text.split('\n').filter((l) => l.includes('case 44'));
  t.equal(holdLines.length, 2, text);
  t.match(holdLines.find((l) => l.includes('camera=gate')), / camera=gate 2026-01-01T00:00:00(\.000)?Z\.\.2026-01-02T00:00:00(\.000)?Z$/);
  t.match(holdLines.find((l) => !l.includes('camera=')), / every camera 2026-01-01T00:00:00(\.000)?Z\.\.2026-01-02T00:00:00(\.000)?Z$/);
});

t.test('a hold a catalog holds past what a Date can (placed before times were bounded) is listed, not a crash', async (t) => {
  const data = dataDir(t.testdir());
  const r = await runCli([...HOLD, '--reason', 'case 42', '--data', data]);
  t.equal(r.code, 0, r.stderr);
  // as an MQTT hold with to_ms 1e300 left it (the command schema had no maximum)
  const db = new Database(join(data, CATALOG_FILE));
  db.prepare('UPDATE holds SET to_ms = 1e300').run();
  db.close();
  const list = await runCli(['hold', 'list', '--data', data]);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, '2026-01-01T00:00:00Z .. 1e+300 (not a time)');
});

t.test('a mistyped hold action is answered as such, even with no config at the default path', async (t) => {
  const r = await runCli(['hold', 'lsit'], { env: { ...process.env, EDGE_NVR_CONFIG: join(t.testdir(), 'no-config.yaml') } });
  t.equal(r.code, 2);
  t.equal(r.stderr, 'edge-nvr hold: unknown action "lsit"; expected add, list or release\n');
});

t.test('run reads $EDGE_NVR_CONFIG when set, else /etc/edge-nvr/config.yaml (README), and names the one it could not read', async (t) => {
  const set = join(t.testdir(), 'site.yaml');
  const fromEnv = await runCli(['run'], { env: { ...process.env, EDGE_NVR_CONFIG: set } });
  t.equal(fromEnv.code, 2);
  t.equal(fromEnv.stderr, `${set}: cannot read the config file (ENOENT: no such file); expected a readable YAML file\n`, 'the file $EDGE_NVR_CONFIG names');
  const env = { ...process.env };
  delete env.EDGE_NVR_CONFIG;
  // the default itself is shown rather than run: a machine with an installed box would start it
  t.match((await runCli(['run', '--help'], { env })).stdout, /--config\s+config file \(default \/etc\/edge-nvr\/config\.yaml\)/, 'else the installed path');
});

t.test('verify --camera with a camera the box never knew fails, rather than checking nothing and printing OK', async (t) => {
  const data = dataDir(t.testdir());
  const r = await runCli(['verify', '--camera', 'gaet', '--data', data]);
  t.equal(r.code, 1);
  t.match(r.stderr, 'edge-nvr verify: no camera "gaet" on this box (no recordings yet); nothing was verified');
  t.notMatch(r.stdout, /^OK/m);
});

t.test('a damaged catalog is a runtime failure that says so (exit 1), not "no edge-nvr data" (exit 2)', async (t) => {
  const data = dataDir(t.testdir());
  const size = statSync(join(data, CATALOG_FILE)).size;
  truncateSync(join(data, CATALOG_FILE), Math.floor(size / 2));
  for (const args of [['status'], ['verify'], ['audit'], ['hold', 'list']]) {
    const r = await runCli([...args, '--data', data]);
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
    t.match(r.stderr, `${join(data, CATALOG_FILE)} is damaged (database disk image is malformed); nothing was read or changed`);
    t.notMatch(r.stderr, 'no edge-nvr data');
  }
});

/** Overwrites the root page of the catalog object `where` picks (a sqlite_master condition) with garbage. */
function damageRootPage(file: string, where: string): void {
  const db = new Database(file, { readonly: true });
  const rootpage = db.prepare(`SELECT rootpage FROM sqlite_master WHERE ${where}`).pluck().get() as number;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0xde), 0, pageSize, (rootpage - 1) * pageSize);
  closeSync(fd);
}

t.test('verify fails on a damaged page that none of the chains covers (the events table): it printed OK', async (t) => {
  const data = dataDir(t.testdir());
  damageRootPage(join(data, CATALOG_FILE), "name = 'events'");
  const r = await runCli(['verify', '--data', data]);
  t.equal(r.code, 1, r.stdout);
  t.match(r.stdout, /^CATALOG +the catalog file is damaged: /m);
  t.match(r.stdout, /^FAILED: /m);
});

t.test('a catalog damaged deeper than its opening reads: the daemon says what to do, as for one it cannot open (it said "cannot start: database disk image is malformed")', async (t) => {
  const dir = t.testdir();
  const data = dataDir(dir);
  const file = join(data, CATALOG_FILE);
  // the index of segment paths: read first by recovery, after the catalog opened
  damageRootPage(file, "type = 'index' AND tbl_name = 'segments' AND sql IS NULL");
  // a recording at its place without a row (a full disk held it back): recovery looks it up
  const clip = join(data, segmentPath('cam1', Date.now() - 60_000));
  mkdirSync(dirname(clip), { recursive: true });
  makeClip(clip, 1);
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:1/x' }]);
  const r = await runCli(['run', '--config', config, '--duration', '5']);
  const said = r.stdout + r.stderr;
  t.equal(r.code, EXIT.catalog, 'exit 3, which systemd does not restart', r.code === EXIT.catalog ? {} : { said: said.slice(-2000) });
  t.match(said, `${file} is not a readable edge-nvr catalog (database disk image is malformed)`, 'names the file and what SQLite said');
  t.match(said, /nothing is recorded until it is dealt with: keep the file for an investigation \(edge-nvr verify names what is damaged\), then restore the catalog from a backup, or move the file aside/, 'and what to do');
  t.notMatch(said, /SqliteError|\n {4}at /, 'the message, not a stack trace');
  // the audit table is intact: the start's entry is there, and the stop wrote none into the damaged file
  const db = new Database(file, { readonly: true });
  const actions = db.prepare('SELECT action FROM audit_log ORDER BY id').pluck().all() as string[];
  db.close();
  t.ok(actions.includes('daemon.start'), 'the start\'s entry, written before it met the damage', { actions });
  t.notOk(actions.includes('daemon.stop'), 'no stop entry written into the damaged file', { actions });
});

/** root reads and writes anywhere: as root, the CLI runs as nobody (65534); otherwise as this user */
const ROOT = process.getuid?.() === 0;
function cliAsOther(...args: string[]): { code: number; stderr: string } {
  const asOther = ROOT ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath] : [process.execPath];
  try {
    execFileSync(asOther[0]!, [...asOther.slice(1), CLI, ...args], { stdio: 'pipe' });
    return { code: 0, stderr: '' };
  } catch (err) {
    return { code: (err as { status: number }).status, stderr: String((err as { stderr: Buffer }).stderr) };
  }
}

t.test('a data dir this user may not write: read-only commands say what is wrong and how to read it, and write nothing', async (t) => {
  // root reads and writes anywhere: the commands run as nobody (65534), who may read the copy only
  const dir = t.testdir();
  const data = join(dir, 'copy');
  mkdirSync(data);
  const source = dataDir(dir, 'source');
  copyFileSync(join(source, CATALOG_FILE), join(data, CATALOG_FILE));
  chmodSync(join(data, CATALOG_FILE), 0o444);
  chmodSync(data, 0o555);
  const before = readFileSync(join(data, CATALOG_FILE));
  for (const args of [['status'], ['verify'], ['hold', 'list']]) {
    const { code, stderr } = cliAsOther(...args, '--data', data);
    t.equal(code, 1, `${args.join(' ')}: exit 1`);
    t.match(stderr, `SQLite must create ${CATALOG_FILE}-shm beside it and cannot in ${data}; run the command as the service user or root, or on a copy of the data dir in a writable place`);
    t.notMatch(stderr, 'no edge-nvr data');
  }
  t.same(readFileSync(join(data, CATALOG_FILE)), before, 'the catalog is unchanged');
});

t.test('a data dir this user may not look into: permission denied, said so, not "no catalog.db" (the data is there)', async (t) => {
  const data = dataDir(t.testdir());
  // root looks anywhere: the commands run as nobody (65534) where the test runs as root
  chmodSync(data, ROOT ? 0o700 : 0o000);
  // reload looked for the daemon's lock it could not see, and said "no edge-nvr daemon is running"
  for (const args of [['status'], ['verify'], ['hold', 'list'], ['reload']]) {
    const { code, stderr } = cliAsOther(...args, '--data', data);
    t.equal(code, 1, `${args.join(' ')}: exit 1 (a runtime failure, not bad usage)`);
    t.match(stderr, `cannot look into ${data}: permission denied; run the command as the service user or root`);
    t.notMatch(stderr, 'no edge-nvr data');
  }
  chmodSync(data, 0o700); // the test's owner removes it
});

t.test('a config whose aliases expand without end (a "billion laughs") is a bad config: exit 2, naming the file, for check and run', async (t) => {
  const dir = t.testdir();
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  const config = join(dir, 'laughs.yaml');
  writeFileSync(config, [...lines, 'box: { id: b1 }', 'cameras: [{ id: c1, source: { type: test } }]', 'extra: *a9', ''].join('\n'));
  for (const command of ['check', 'run']) {
    const r = await runCli([command, '--config', config]);
    t.equal(r.code, 2, `${command}: exit 2 (was 1, without the file's name)`);
    t.equal(r.stderr, `${config}: (top level): Excessive alias count indicates a resource exhaustion attack; expected at most 100 uses of anchors (*name) in all, each expanded\n`);
  }
});

t.test('tamper show --camera with a camera the box never knew fails, rather than showing it as learning its view', async (t) => {
  const data = dataDir(t.testdir());
  const r = await runCli(['tamper', 'show', '--camera', 'gaet', '--data', data]);
  t.equal(r.code, 2, r.stdout);
  t.equal(r.stderr, `edge-nvr tamper: tamper show: no camera "gaet" in ${data} (see edge-nvr status)\n`);
  t.equal(r.stdout, '');
});

t.test('hold add for a camera the box does not know is refused, naming the ones it does: a mistyped id was held in name only while retention deleted the recordings meant', async (t) => {
  const dir = t.testdir();
  const data = dataDir(dir);
  const typo = await runCli([...HOLD.map((a) => (a === 'gate' ? 'gaet' : a)), '--reason', 'case 42', '--data', data]);
  t.equal(typo.code, 2, typo.stdout);
  t.equal(typo.stderr, 'edge-nvr hold: hold add: no camera "gaet" on this box (cameras: gate); check --camera\n');
  t.same(await holds(data), [], 'no hold was placed');
  // with --config, a camera configured but not yet recorded can be held (from the moment it records)
  const config = writeConfig(dir, [{ id: 'new-door', url: 'rtsp://127.0.0.1:9/none' }]); // its storage.path is data
  const ahead = await runCli(['hold', 'add', '--camera', 'new-door', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 42', '--config', config]);
  t.equal(ahead.code, 0, ahead.stderr);
  const still = await runCli(['hold', 'add', '--camera', 'gaet', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 42', '--config', config]);
  t.match(still.stderr, 'no camera "gaet" on this box (cameras: gate, new-door)');
  t.match(await holds(data), [{ camera: 'new-door' }]);
  t.equal((await holds(data)).length, 1);
});

t.test('a --password-file that cannot be read is named as the option typed (it read "--password-file.password_file")', async (t) => {
  const missing = join(t.testdir(), 'no-such.pass');
  for (const args of [['discover', '--host', '127.0.0.1', '--user', 'admin'], ['probe', 'rtsp://127.0.0.1:1/x', '--user', 'admin']]) {
    const r = await runCli([...args, '--password-file', missing]);
    t.equal(r.code, 2, `${args[0]}: exit 2`);
    t.equal(r.stderr, `command line: --password-file: cannot read ${missing} (ENOENT: no such file); expected a file readable by the edge-nvr service\n`);
  }
});

t.test('what is handed over goes only into a folder that exists: a drive not mounted is said, not replaced by a folder on the box', async (t) => {
  const dir = t.testdir();
  const data = dataDir(dir);
  const media = join(dir, 'media', 'usb'); // not there: the stick is not mounted
  const range = ['--camera', 'nowhere', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-01T00:01:00Z', '--reason', 'case 42'];
  const evidence = (out: string) => ['evidence', ...range, '--agency', 'Police', '--officer', 'A B:1', '--officer', 'C D:2', '--approval', 'warrant 7',
    '--destination', 'the stick', '--out', out, '--data', data];
  const runs = { export: ['export', ...range, '--requester', 'ana', '--out', join(media, 'clip.mp4'), '--data', data], evidence: evidence(join(media, 'bundle')) };
  for (const [name, argv] of Object.entries(runs)) {
    const r = await runCli(argv);
    t.equal(r.code, 2, `${name}: ${r.stderr}`);
    t.match(r.stderr, `the folder ${media} does not exist (a drive not mounted?)`, `${name} names the missing folder`);
  }
  t.throws(() => statSync(join(dir, 'media')), 'no folder was made for either');
  // the box's own place for them may be missing: not refused for its folder (this one is
  // refused further on, for its camera: the catalog has none)
  const own = await runCli(evidence(join(data, 'exports', 'bundle')));
  t.notMatch(own.stderr, 'does not exist (a drive not mounted?)', own.stderr);
  t.match(own.stderr, 'unknown camera "nowhere"');
  // the rest of the data dir is the box's own (a probe put a bundle under recordings/: verify
  // then called its files inserted segments; one under keys/, beside the signing key)
  for (const inside of [join(data, 'recordings', 'gate', 'bundle'), join(data, 'keys', 'bundle'), join(data, 'case')]) {
    const r = await runCli(evidence(inside));
    t.equal(r.code, 2, r.stderr);
    t.match(r.stderr, `--out ${inside}: inside the box's data dir ${data}, among its recordings, catalog and keys; give a path under ${join(data, 'exports')} or outside the data dir, nothing was written`);
  }
  const clip = await runCli(['export', ...range, '--requester', 'ana', '--out', join(data, 'recordings', 'clip.mp4'), '--data', data]);
  t.equal(clip.code, 2, 'an export among the recordings too');
});

t.test('--config and --data together are refused for a command that reads only the data dir: one of them was ignored without a word', async (t) => {
  const dir = t.testdir();
  const data = dataDir(dir);
  const config = join(dir, 'c.yaml');
  writeFileSync(config, `box: { id: b1 }\nstorage: { path: ${join(dir, 'live')} }\ncameras: [{ id: c1, source: { type: test } }]\n`);
  for (const argv of [['hold', 'list'], ['recordings', '--camera', 'c1'], ['verify'], ['audit']]) {
    const r = await runCli([...argv, '--config', config, '--data', data]);
    t.equal(r.code, 2, `${argv[0]}: exit 2`);
    t.match(r.stderr, '--config and --data are both given: give one', `${argv[0]} says which to drop`);
  }
  t.throws(() => statSync(join(dir, 'live')), 'the config\'s data dir was not touched');
});

t.test('a data dir another local user made first, or may write: run refuses it before a key is made', { skip: process.getuid?.() !== 0 && 'needs root to hand the folder to another user' }, async (t) => {
  // an outside probe: a folder "nobody" had made (0777, or 0700 theirs) was used as it was, and
  // the box's signing key was given to them
  const dir = t.testdir();
  // each case makes `data` (root's, 0700) and returns the storage.path to give
  const cases: Array<[string, (data: string) => string, RegExp]> = [
    ['writable by every local user', (p) => { chmodSync(p, 0o777); return p; }, /storage\.path: \S+ is writable by every local user \(mode 0777\)/],
    ['another user\'s', (p) => { chmodSync(p, 0o700); chownSync(p, 65534, 65534); return p; }, /storage\.path: \S+ belongs to uid 65534, not to the user the daemon runs as \(uid 0\)/],
    // an outside probe: nobody's link in /tmp (sticky: theirs alone to replace), pointed at a folder
    // of theirs while the box recorded, had ffmpeg write the camera's video into files they owned
    ['reached through another user\'s link in a sticky folder', (p) => {
      const sticky = join(dir, 'sticky');
      mkdirSync(sticky, { mode: 0o1777 });
      chmodSync(sticky, 0o1777);
      const link = join(sticky, 'data-link');
      symlinkSync(p, link);
      lchownSync(link, 65534, 65534);
      return link;
    }, /storage\.path: \S+data-link is a link that belongs to uid 65534: its owner could point it at a folder of theirs while the box records; give storage\.path as the folder's own path/],
    // root's link, to a folder whose parent another user owns: they could move the folder away
    ['a link to a folder under another user\'s', (p) => {
      const theirs = join(dir, 'theirs');
      mkdirSync(theirs, { mode: 0o755 });
      const inside = join(theirs, 'data');
      renameSync(p, inside);
      chownSync(theirs, 65534, 65534);
      symlinkSync(inside, p);
      return p;
    }, /storage\.path: \S+theirs, a folder above \S+theirs\/data, belongs to uid 65534/],
  ];
  for (const [what, make, says] of cases) {
    const made = join(dir, what.replace(/\W+/g, '-'));
    mkdirSync(made, { mode: 0o700 });
    const path = make(made);
    const data = realpathSync(path);
    const config = join(dir, 'c.yaml');
    writeFileSync(config, `box: { id: b1 }\nstorage: { path: ${path} }\ncameras: [{ id: c1, source: { type: test } }]\n`);
    const r = await runCli(['run', '--config', config]);
    t.equal(r.code, 2, `${what}: exit 2`);
    t.match(r.stderr, says, `${what}: named, with the fix`);
    t.notOk(existsSync(join(data, 'keys')), `${what}: no key made there`);
    t.notOk(existsSync(join(data, 'catalog.db')), `${what}: nothing written`);
  }
});

t.test('a data dir on a read-only mount: run says so (it said "writable by every local user (mode 01777)", with a fix that could not work)', { skip: process.getuid?.() !== 0 && 'needs root to mount' }, async (t) => {
  const dir = t.testdir();
  // outside the test's folder: tap removes that before the teardown could unmount
  const ro = mkdtempSync(join(tmpdir(), 'edge-nvr-ro-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
  t.teardown(() => { execFileSync('umount', [ro]); rmSync(ro, { recursive: true }); });
  const config = join(dir, 'c.yaml');
  writeFileSync(config, `box: { id: b1 }\nstorage: { path: ${ro} }\ncameras: [{ id: c1, source: { type: test } }]\n`);
  const r = await runCli(['run', '--config', config]);
  t.equal(r.code, 2, 'exit 2, a bad config');
  t.match(r.stderr, `storage.path: ${ro} is on a read-only filesystem; mount it read-write, or set storage.path to a folder on a writable disk`);
  t.notMatch(r.stderr, 'writable by every local user');
});

t.test('storage.path naming a file: run fails naming the setting and the fix, exit 2 in one line (it printed Node\'s "EEXIST: file already exists, mkdir")', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'notadir');
  writeFileSync(file, 'a file\n');
  for (const path of [file, join(file, 'data')]) {
    const config = join(dir, 'c.yaml');
    writeFileSync(config, `box: { id: b1 }\nstorage: { path: ${path} }\ncameras: [{ id: c1, source: { type: test } }]\n`);
    const r = await runCli(['run', '--config', config]);
    t.equal(r.code, 2, `${path}: exit 2, a bad config`);
    t.match(r.stderr, `storage.path: ${path} or a folder above it is a file, not a folder`, 'the setting and what is wrong with it');
    t.equal(r.stderr.trim().split('\n').length, 1, 'in one line');
    t.notMatch(r.stdout + r.stderr, /\n\s+at |"stack"/, 'no stack trace (it was in a fatal log line)');
    t.match(r.stdout + r.stderr, 'run edge-nvr check', 'and what to do next');
    t.equal(readFileSync(file, 'utf8'), 'a file\n', 'the file is left as it was');
  }
});

t.test('a free-space floor the size of the data disk or more is refused by run, reload and check, naming the field (it deleted minutes-old footage: an outside probe)', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const config = join(dir, 'c.yaml');
  const write = (floorMb: number) => writeFileSync(config, `box: { id: b1 }\nstorage: { path: ${data}, free_space_floor_mb: ${floorMb}, retention: { min_days: 0.001, below_legal_minimum_reason: test bench } }\ncameras: [{ id: c1, source: { type: test }, record: { segment_seconds: 2 } }]\n`);
  const says = /storage\.free_space_floor_mb: 100000000000 MB is not below the size of the data filesystem \(\d+ MB at \S+\): space deletion would delete every recording not held; set it well below, in MB/;
  write(100_000_000_000); // about 93 PiB: larger than any disk this runs on
  const run = await runCli(['run', '--config', config]);
  t.equal(run.code, 2, 'run: exit 2, a bad config');
  t.match(run.stderr, says, 'naming the field, the disk and the fix');
  t.notOk(existsSync(join(data, CATALOG_FILE)), 'nothing recorded, nothing deleted');
  const check = await runCli(['check', '--config', config]);
  t.equal(check.code, 1, 'check fails');
  t.match(check.stdout, new RegExp(`FAIL disk size +${says.source}`), 'on its disk size line, naming the field');

  write(0);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/"camera":"c1","state":"recording"/);
  write(100_000_000_000);
  const reload = await runCli(['reload', '--config', config]);
  t.equal(reload.code, 2, 'reload refused as an invalid config');
  t.match(reload.stdout + reload.stderr, says, 'naming the field');
  t.match(daemon.output, /"msg":"config reload refused: \S+c\.yaml: storage\.free_space_floor_mb: 100000000000 MB/, 'the running floor stays, the refusal logged');
  const { code } = await daemon.stop();
  t.equal(code, 0, 'the daemon ran on with its floor and stops cleanly');
});

t.test('recordings --gaps over the widest range lists the days the camera has on record, at once (0 to year 275760 took a query a day: 2 GB and counting, an outside probe)', async (t) => {
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  const now = Date.now();
  catalog.addGap('c1', now - 2.5 * 86_400_000, now - 2 * 86_400_000, 'camera_unreachable');
  catalog.close();
  const r = await runCli(['recordings', '--data', data, '--camera', 'c1', '--gaps', '--from', '0', '--to', '8640000000000000', '--json']);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { gaps: unknown[]; days: Array<{ day: string }> };
  t.equal(out.gaps.length, 1, 'the gap');
  t.ok(out.days.length >= 3 && out.days.length <= 4, `the days from its first record to today: ${out.days.map((d) => d.day).join(' ')}`);
  t.equal(out.days[0]!.day, new Date(now - 2.5 * 86_400_000).toISOString().slice(0, 10), 'from the day of the first record');
  t.equal(out.days.at(-1)!.day, new Date().toISOString().slice(0, 10), 'to today, not year 275760');
});

t.test('a manifest, key or anchors file without end is refused, naming what it is (an outside probe: /dev/zero crashed the process, std::bad_alloc, exit 134)', async (t) => {
  const dir = t.testdir();
  const data = dataDir(dir);
  const manifest = join(dir, 'export.manifest.json');
  writeFileSync(manifest, '{}\n');
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  const cases: Array<[string[], number]> = [
    [['audit', '--data', data, '--manifest', '/dev/zero'], 1],
    [['audit', '--manifest', manifest, '--key', '/dev/zero'], 2],
    [['verify', '--data', data, '--anchors', '/dev/zero'], 2],
    [['verify-evidence', bundle, '--anchors', '/dev/zero'], 2],
    [['verify-evidence', bundle, '--key', '/dev/zero'], 2],
  ];
  for (const [args, code] of cases) {
    const r = await runCli(args);
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}, no crash`);
    t.match(r.stdout + r.stderr, '/dev/zero: a device or socket, not a file', `${args.join(' ')}: said what it is`);
    t.notMatch(r.stdout + r.stderr, /\n\s+at |bad_alloc/, 'no stack trace');
  }
  // a real file too large to be one (sparse: no disk is used), refused naming the limit
  const hugeKey = join(dir, 'huge.pem');
  writeFileSync(hugeKey, '');
  truncateSync(hugeKey, 65 * 1024);
  const key = await runCli(['audit', '--manifest', manifest, '--key', hugeKey]);
  t.equal(key.code, 2);
  t.match(key.stderr, `--key ${hugeKey}: 66560 bytes, more than 64 KiB: not a key file`);
  const hugeAnchors = join(dir, 'anchors.jsonl');
  writeFileSync(hugeAnchors, '');
  truncateSync(hugeAnchors, 300 * 1024 * 1024);
  const anchors = await runCli(['verify', '--data', data, '--anchors', hugeAnchors]);
  t.equal(anchors.code, 2);
  t.match(anchors.stderr, `more than 256 MiB: not a file of checkpoints`);
});

t.test('a wait past what a Node timer holds is refused, naming the bound: it fired at once (run stopped as it started)', async (t) => {
  const data = dataDir(t.testdir());
  const run = await runCli(['run', '--duration', '3000000', '--config', join(data, 'none.yaml')]);
  t.equal(run.code, 2);
  t.match(run.stderr, '--duration: expected a number of seconds above 0 and at most 2147483, got "3000000"');
  const reload = await runCli(['reload', '--timeout', '1e9', '--data', data]);
  t.equal(reload.code, 2);
  t.match(reload.stderr, '--timeout: expected seconds above 0 and at most 3600, got "1e9"');
});
