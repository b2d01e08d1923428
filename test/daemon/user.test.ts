import t from 'tap';
import { writeFileSync } from 'node:fs';
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
