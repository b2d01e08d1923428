/**
 * README: `user add NAME --role viewer|manager` (password asked twice, or one line on stdin).
 * user.test.ts covers the line on stdin; this covers the other half, on a real pseudo-terminal
 * (test/support/terminal.py: the command's stdin is a terminal, so it takes its prompt path): the
 * password is asked for, then asked again; the same password twice adds the user with that
 * password; two different ones are refused (exit 2, saying so) and no user is added; what is typed
 * at either prompt never shows on the terminal, neither echoed nor printed.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';
import { onTerminal } from '../support/terminal.js';
import { verifyPassword } from '../../web/users.js';

const FIRST = 'first-Secret-4711';
const SECOND = 'second-Secret-0815';

async function addAtTerminal(t: Test, dir: string, name: string, typed: [string, string]) {
  const term = await onTerminal(process.execPath, [CLI, 'user', 'add', name, '--role', 'manager', '--data', dir]);
  t.teardown(() => term.kill());
  await term.waitFor(new RegExp(`password for ${name}: $`), 15000, 'the first prompt');
  t.notMatch(term.screen(), /again: /, 'asked once so far');
  term.type(`${typed[0]}\r`);
  await term.waitFor(/again: $/, 10000, 'the second prompt');
  term.type(`${typed[1]}\r`);
  const code = await term.exited;
  return { code, screen: term.screen() };
}

t.test('user add at a terminal: asked twice; the same password twice adds the user, not echoed', async (t) => {
  const dir = t.testdir();
  const { code, screen } = await addAtTerminal(t, dir, 'ana', [FIRST, FIRST]);
  t.equal(code, 0, `exit 0; the terminal showed ${JSON.stringify(screen)}`);
  t.match(screen, /^password for ana: \nagain: \nuser ana added \(manager\) to /m, 'two prompts, each answered on its own line, then the user added');
  t.notOk(screen.includes(FIRST), 'the password never shows on the terminal');
  t.notMatch(screen, /\*{3}/, 'nor masked characters in its place');
  const users = (JSON.parse(readFileSync(join(dir, 'users.json'), 'utf8')) as { users: Array<{ name: string; role: string; hash: string }> }).users;
  t.same(users.map((u) => [u.name, u.role]), [['ana', 'manager']], 'ana is in the users file');
  t.ok(await verifyPassword(FIRST, users[0]!.hash), 'with the password that was typed');
  t.notOk(readFileSync(join(dir, 'users.json'), 'utf8').includes(FIRST), 'stored as a hash, not in clear');
});

t.test('user add at a terminal: two different passwords are refused and nobody is added', async (t) => {
  const dir = t.testdir();
  const { code, screen } = await addAtTerminal(t, dir, 'bob', [FIRST, SECOND]);
  t.equal(code, 2, `exit 2 (refused); the terminal showed ${JSON.stringify(screen)}`);
  t.match(screen, /the two passwords differ; nothing changed/, 'it says why');
  t.notMatch(screen, /added/, 'it does not say added');
  t.notOk(screen.includes(FIRST) || screen.includes(SECOND), 'neither password shows on the terminal');
  const listed = await runCli(['user', 'list', '--json', '--data', dir]);
  t.equal(listed.code, 0, `user list: ${listed.stderr}`);
  t.same((JSON.parse(listed.stdout) as { users: unknown[] }).users, [], 'no user was added');
});
