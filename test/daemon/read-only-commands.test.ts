import t from 'tap';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { runCli } from '../support/cli.js';

const COMMANDS: string[][] = [
  ['recordings'], ['recordings', '--camera', 'gate'], ['verify'], ['status'], ['status', '--json'], ['audit'], ['audit', '--verify'],
  ['hold', 'list'], ['hold', 'release', '1'], ['exports'], ['uploads'],
  ['tamper', 'show'], ['tamper', 'show', '--camera', 'gate', '--json'],
  // tamper reset writes (retires the reference, audited), but only into a catalog the daemon made
  ['tamper', 'reset', '--camera', 'gate', '--reason', 're-aimed after the renovation'],
  // hold add writes, but only into a catalog the daemon made
  ['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 42'],
  // so does evidence (a hold, the audit log); its bundle goes to --out only once the catalog is found
  ['evidence', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--agency', 'Police', '--officer', 'A B:1',
    '--officer', 'C D:2', '--approval', 'order 1', '--reason', 'case 42', '--destination', 'case file', '--out', 'bundle-not-written'],
];

t.test('a mistyped --data is refused with "no edge-nvr data in DIR", exit 2, and nothing is created', async (t) => {
  const dir = t.testdir();
  const missing = join(dir, 'var-lib-edgenvr');
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  // every command on a directory that does not exist; a few on one that exists but is empty
  const runs = [...COMMANDS.map((args) => [args, missing] as const), ...[COMMANDS[0]!, COMMANDS[3]!, COMMANDS.at(-1)!].map((args) => [args, empty] as const)];
  for (const [args, data] of runs) {
    const r = await runCli([...args, '--data', data]);
    t.equal(r.code, 2, `${args.join(' ')} --data ${data.slice(dir.length)}: exit 2`);
    t.match(r.stderr, `no edge-nvr data in ${data}`, 'saying there is no edge-nvr data there');
  }
  t.notOk(existsSync(missing), 'the mistyped directory was not created');
  t.same(readdirSync(empty), [], 'nothing was written into the empty one');
});

t.test('a real data dir still answers, and hold add writes into it', async (t) => {
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  catalog.addGap('gate', 0, 1000, 'camera_unreachable'); // a camera the box knows (never reached: gaps only), so it can be held
  catalog.close();
  const add = await runCli(['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 42', '--data', data]);
  t.equal(add.code, 0, add.stderr);
  const list = await runCli(['hold', 'list', '--json', '--data', data]);
  t.equal(JSON.parse(list.stdout).holds.length, 1, 'the hold is there');
  const rec = await runCli(['recordings', '--data', data]);
  t.equal(rec.code, 0, rec.stderr);
  t.match(rec.stdout, /no recordings yet/);
  // a mistyped camera is not an empty range: it fails, naming the cameras there are
  const typo = await runCli(['recordings', '--camera', 'gaet', '--data', data]);
  t.equal(typo.code, 1, 'a camera the box never knew fails');
  t.match(typo.stderr, 'no camera "gaet" on this box (no recordings yet)');
  // a reason too short to mean anything is refused, saying so rather than "required"
  const short = await runCli(['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', ' x ', '--data', data]);
  t.equal(short.code, 2, short.stderr);
  t.match(short.stderr, 'hold add: --reason needs 3 characters or more (a case number or request reference), got " x "');
});

// an outside probe: a --limit past 2^63 came back as SQLite's "datatype mismatch" (exit 1), and a
// --since after every entry said the log was empty
t.test('audit: a --limit past its bound is bad usage, and no entry since --since is not an empty log', async (t) => {
  const data = join(t.testdir(), 'data');
  Catalog.open(data).close();
  const held = await runCli(['hold', 'add', '--all-cameras', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 42', '--data', data]);
  t.equal(held.code, 0, held.stderr);
  const limit = await runCli(['audit', '--limit', '99999999999999999999999', '--data', data]);
  t.equal(limit.code, 2);
  t.match(limit.stderr, '--limit: expected a whole number at least 1 and at most 1000000000');
  const since = await runCli(['audit', '--since', '2200-01-01T00:00:00Z', '--data', data]);
  t.equal(since.code, 0, since.stderr);
  t.match(since.stdout, 'no audit entry since 2200-01-01T00:00:00Z (1 in all)');
  t.notMatch(since.stdout, 'empty');
});
