import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';

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

// an outside probe: six `user add` at once each said "added" and one user was left (each read
// the file, added its user and renamed its copy over the others')
t.test('user add run six times at once keeps all six users', async (t) => {
  const dir = t.testdir();
  const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
  const runs = await Promise.all(names.map((n) => runCli(['user', 'add', n, '--role', 'viewer', '--data', dir], { input: 'LongPassword-123\n' })));
  for (const r of runs) t.equal(r.code, 0, r.stderr);
  const listed = JSON.parse((await runCli(['user', 'list', '--json', '--data', dir])).stdout) as { users: Array<{ name: string }> };
  t.same(listed.users.map((u) => u.name).sort(), names, 'all six are listed');
  const removed = await Promise.all(['u2', 'u4'].map((n) => runCli(['user', 'remove', n, '--data', dir])));
  for (const r of removed) t.equal(r.code, 0, r.stderr);
  const left = JSON.parse((await runCli(['user', 'list', '--json', '--data', dir])).stdout) as { users: Array<{ name: string }> };
  t.same(left.users.map((u) => u.name).sort(), ['u1', 'u3', 'u5', 'u6'], 'two removals at once both hold');
});

// an outside probe: --users naming a FIFO waited for a writer forever
t.test('a users file that is not a regular file is refused, not waited on', async (t) => {
  const dir = t.testdir();
  const fifo = `${dir}/users.fifo`;
  execFileSync('mkfifo', [fifo]);
  for (const args of [['add', 'ana', '--role', 'viewer'], ['list']]) {
    const r = await runCli(['user', ...args, '--users', fifo], { input: 'long-enough-password\n', timeoutMs: 10000 });
    t.equal(r.code, 2, `user ${args[0]}: exit 2, at once`);
    t.match(r.stderr, `${fifo}: cannot read the users file (a FIFO, not a file: reading it would wait for a writer)`);
  }
});

// an outside probe: as a user who may not look into the data dir, existsSync said "no users"
t.test('a data dir this user may not look into: permission denied, not "no users"', { skip: process.getuid?.() !== 0 && 'needs root to run the CLI as nobody' }, async (t) => {
  const dir = t.testdir();
  t.equal((await runCli(['user', 'add', 'ana', '--role', 'viewer', '--data', dir], { input: 'long-enough-password\n' })).code, 0);
  chmodSync(dir, 0o700);
  for (const action of ['list', 'remove']) {
    let code = 0;
    let stderr = '';
    try {
      execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, CLI, 'user', action, 'ana', '--data', dir], { stdio: 'pipe' });
    } catch (err) {
      code = (err as { status: number }).status;
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    t.equal(code, 1, `user ${action}: exit 1, a runtime failure`);
    t.match(stderr, `cannot look into ${dir}: permission denied; run the command as the service user or root`);
  }
});
