import t from 'tap';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';

t.test('edge-nvr user: clear errors, nothing half-written', async (t) => {
  const dir = t.testdir();
  const args = ['--data', dir];
  const add = (name: string, role: string, password: string) => runCli(['user', 'add', name, '--role', role, ...args], { input: `${password}\n` });
  t.match((await add('ana', 'admin', 'long-enough-password')).stderr, /--role: expected viewer or manager, got "admin"/);
  t.match((await add('Ana Maria', 'viewer', 'long-enough-password')).stderr, /user name "Ana Maria": expected 1 to 32 lower-case letters/);
  const short = await add('ana', 'viewer', 'short');
  t.equal(short.code, 2);
  t.match(short.stderr, /too short: expected at least 10 characters/);
  t.equal((await add('ana', 'viewer', 'long-enough-password')).code, 0);
  const dup = await add('ana', 'manager', 'another-long-password');
  t.equal(dup.code, 2);
  t.match(dup.stderr, /ana exists already; change the password with: edge-nvr user passwd ana/);
  const listed = JSON.parse((await runCli(['user', 'list', '--json', ...args])).stdout) as { users: Array<Record<string, unknown>> };
  t.same(listed.users.map((u) => [u.name, u.role]), [['ana', 'viewer']]);
  t.notOk('hash' in listed.users[0]!, 'list never shows hashes');
  t.match((await runCli(['user', 'list', ...args])).stdout, /^name +role +added/);
  t.match((await runCli(['user', 'remove', 'zed', ...args])).stderr, /there is no user zed/);
  writeFileSync(join(dir, 'users.json'), '{"users": [{"name": "x"}]');
  const broken = await runCli(['user', 'list', ...args]);
  t.equal(broken.code, 2);
  t.match(broken.stderr, /users\.json: cannot read the users file/);
  t.match((await runCli(['user', 'list', '--data', join(dir, 'nowhere')])).stderr, /nowhere does not exist/);
});

// docs/web.md: written by root, the users file takes the owner of its directory (the daemon's
// user owns the data dir and must read the file), and is mode 0600 whoever writes it
t.test('edge-nvr user run as root: the file belongs to the data dir\'s owner, mode 0600', { skip: process.getuid?.() !== 0 && 'needs root (CI runs as root)' }, async (t) => {
  const dir = t.testdir();
  chownSync(dir, 4321, 4322);
  const added = await runCli(['user', 'add', 'ana', '--role', 'viewer', '--data', dir], { input: 'long-enough-password\n' });
  t.equal(added.code, 0, added.stderr);
  const st = statSync(join(dir, 'users.json'));
  t.same([st.uid, st.gid], [4321, 4322], 'owned by the owner of its directory, not by root');
  t.equal(st.mode & 0o777, 0o600);
});
