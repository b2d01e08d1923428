import t from 'tap';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from '../../common/make-dirs.js';
import { runCli } from '../support/cli.js';

t.test('makeDirs makes what is missing, top down, and answers as mkdir -p does', async (t) => {
  const dir = t.testdir();
  t.equal(makeDirs(join(dir, 'a', 'b', 'c'), 0o700), join(dir, 'a'), 'the first folder made, as mkdirSync\'s recursive form returns');
  t.equal(statSync(join(dir, 'a', 'b', 'c')).mode & 0o777, 0o700, 'each with the mode given');
  t.equal(makeDirs(join(dir, 'a', 'b')), undefined, 'nothing missing: nothing made');
  writeFileSync(join(dir, 'file'), 'x');
  t.throws(() => makeDirs(join(dir, 'file')), { code: 'EEXIST' }, 'the folder itself a file: EEXIST');
  t.throws(() => makeDirs(join(dir, 'file', 'sub')), { code: 'ENOTDIR' }, 'a file above it: ENOTDIR');
  mkdirSync(join(dir, 'made-meanwhile'));
  t.equal(makeDirs(join(dir, 'made-meanwhile', 'x')), join(dir, 'made-meanwhile', 'x'));
});

t.test('a folder under /proc is an error, not a loop: Node\'s recursive mkdirSync never returned there', { skip: !statSync('/proc/self', { throwIfNoEntry: false }) && 'no /proc here' }, async (t) => {
  t.throws(() => makeDirs('/proc/edge-nvr-test-data/x'), { code: 'ENOENT' });
  // the daemon and check, as an installer with a typo would meet them (run spun at 70 % of a
  // core for good, ignoring SIGTERM; check said PASS)
  const dir = t.testdir();
  const config = join(dir, 'c.yaml');
  writeFileSync(config, 'box: { id: b1 }\nstorage: { path: /proc/edge-nvr-test-data }\ncameras: [{ id: c1, source: { type: test } }]\n');
  const run = await runCli(['run', '--config', config], { timeoutMs: 30000 });
  t.equal(run.code, 2, 'run: exit 2, a bad config');
  t.match(run.stderr, 'storage.path: /proc/edge-nvr-test-data cannot be created (ENOENT', 'naming the setting and why');
  const check = await runCli(['check', '--config', config], { timeoutMs: 30000 });
  t.equal(check.code, 1, 'check fails');
  t.match(check.stdout, /FAIL storage +\/proc\/edge-nvr-test-data would be in \/proc, on the kernel's proc filesystem, not a disk/, 'check says why');
});
