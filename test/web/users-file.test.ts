/**
 * The users file's temporary file: one left behind (a write that died, or one planted by the data
 * dir's owner) was opened as it was, keeping its mode (0644: every hash readable by all) and
 * following a symbolic link (`edge-nvr user` runs as root: it wrote, and chowned to the service,
 * whatever file the link named).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserDirectory, UsersFile } from '../../web/users.js';

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

t.test('a users file others may change or read, or that another user holds, lets nobody log in', async (t) => {
  // http.users_file outside the data dir at 0666: a local user added a manager of their own (an outside probe)
  const dir = t.testdir({ open: {} });
  const file = new UsersFile(join(dir, 'open', 'users.json'));
  file.write([user]);
  t.same(file.read().map((u) => u.name), ['ana'], '0600 in a folder of its owner: read');
  for (const [mode, says] of [[0o666, /may be changed by other users \(mode 0666\)/], [0o620, /may be changed by other users \(mode 0620\)/], [0o604, /may be read by other users \(mode 0604\)/]] as const) {
    chmodSync(file.path, mode);
    t.throws(() => file.read(), { message: says }, `mode 0${mode.toString(8)} refused`);
  }
  chmodSync(file.path, 0o600);
  chmodSync(dirname(file.path), 0o777);
  t.throws(() => file.read(), { message: /its folder .* may be written by other users \(owner 0, mode 0777\): they could replace the users file/ }, 'a folder anyone may write to: refused');
  chmodSync(dirname(file.path), 0o1777);
  t.same(file.read().map((u) => u.name), ['ana'], 'with the sticky bit (as /tmp) others cannot replace it: read');

  // the daemon's view: the error, not the users; and a file another user owns, read as a service user
  const seen: string[] = [];
  chmodSync(file.path, 0o644);
  const users = new UserDirectory(file, (m) => seen.push(m));
  t.equal(users.get('ana'), undefined, 'nobody can log in');
  t.match(users.problem() ?? '', /may be read by other users/, 'and the page says why');
  t.equal(seen.length, 1, 'logged once');
  chmodSync(file.path, 0o600);
  t.equal(users.get('ana')?.role, 'viewer', 'fixed with chmod alone: read again');
  // the folder too: its fix changes nothing of the file, and nobody could log in until the file changed
  chmodSync(dirname(file.path), 0o777);
  t.equal(users.get('ana'), undefined, 'a folder others may write to: nobody can log in');
  t.match(users.problem() ?? '', /its folder .* may be written by other users/, 'and the page says why');
  chmodSync(dirname(file.path), 0o755);
  t.equal(users.get('ana')?.role, 'viewer', 'the folder fixed with chmod alone: read again');

  // readable by the service through its group (0640): what is wrong is only who holds it
  chownSync(file.path, 12345, 65534);
  chmodSync(file.path, 0o640);
  const asService = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e',
    `import { UsersFile } from ${JSON.stringify(new URL('../../dist/web/users.js', import.meta.url).href)};
     try { new UsersFile(${JSON.stringify(file.path)}).read(); console.log('read'); } catch (err) { console.log(err.message); }`], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.match(asService.stdout, /the users file belongs to user 12345, not to this service/, `another user's file refused: ${asService.stderr}`);
});
