/**
 * The users file's temporary file: one left behind (a write that died, or one planted by the data
 * dir's owner) was opened as it was, keeping its mode (0644: every hash readable by all) and
 * following a symbolic link (`edge-nvr user` runs as root: it wrote, and chowned to the service,
 * whatever file the link named).
 */
import t from 'tap';
import { lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsersFile } from '../../web/users.js';

const user = { name: 'ana', role: 'viewer' as const, hash: 'scrypt$32768$8$1$c2FsdA==$aGFzaA==', created_ms: 1, changed_ms: 1 };

t.test('a temporary file left in the way is replaced, never written through', async (t) => {
  const dir = t.testdir();
  const file = new UsersFile(join(dir, 'users.json'));
  const tmp = join(dir, `.users.json.${process.pid}.tmp`);

  const victim = join(dir, 'victim');
  writeFileSync(victim, 'not yours\n', { mode: 0o644 });
  symlinkSync(victim, tmp);
  file.write([user]);
  t.equal(readFileSync(victim, 'utf8'), 'not yours\n', 'the file a planted link names is left alone');
  t.ok(lstatSync(file.path).isFile(), 'users.json is a file of its own, not the link');
  t.equal(statSync(file.path).mode & 0o777, 0o600);
  t.same(file.read().map((u) => u.name), ['ana']);

  writeFileSync(tmp, 'stale', { mode: 0o644 });
  file.write([user, { ...user, name: 'bob' }]);
  t.equal(statSync(file.path).mode & 0o777, 0o600, 'a stale 0644 temporary file does not make the users file readable by all');
  t.same(file.read().map((u) => u.name), ['ana', 'bob']);
});
