import t from 'tap';
import { AttemptLimiter } from '../../web/attempt-limiter.js';
import { MAX_SESSIONS_PER_USER, Sessions } from '../../web/sessions.js';
import { hashPassword, verifyPassword } from '../../web/users.js';
import { isUse } from '../../web/server.js';

t.test('a session ends when idle too long, too old, or its user changed', async (t) => {
  let now = 1_000_000;
  const sessions = new Sessions(30 * 60_000, 12 * 3_600_000, () => now);
  const user = { role: 'viewer' as const, hash: 'h1' };
  const current = (name: string) => (name === 'ana' ? user : undefined);
  const { token } = sessions.create('ana', 'viewer', 'h1');
  t.ok(sessions.get(token, current), 'a fresh session is live');
  t.notOk(sessions.get(token + 'x', current), 'another token opens nothing');
  now += 29 * 60_000;
  t.ok(sessions.get(token, current), 'used within the idle time: still live (and touched)');
  now += 29 * 60_000;
  t.ok(sessions.get(token, current), 'touched again');
  now += 31 * 60_000;
  t.notOk(sessions.get(token, current), 'idle 31 min: ended');

  const s2 = sessions.create('ana', 'viewer', 'h1').token;
  for (let i = 0; i < 25; i++) { now += 29 * 60_000; sessions.get(s2, current); }
  t.notOk(sessions.get(s2, current), 'used all along, but 12 h after login: ended');

  // the page's auto-refresh reads the session without touching it: an open tab still ends
  const tab = sessions.create('ana', 'viewer', 'h1').token;
  let refreshed = 0;
  for (let i = 0; i < 20; i++) { now += 60_000; if (sessions.get(tab, current, false)) refreshed++; }
  t.equal(refreshed, 20, 'each refresh within the idle time is answered');
  now += 11 * 60_000;
  t.notOk(sessions.get(tab, current, false), 'refreshed every minute but not used for 31 min: ended');
  t.equal(isUse('GET', '/overview'), false, 'the page\'s auto-refresh is what reads it untouched');
  t.ok(isUse('GET', '/') && isUse('POST', '/logout') && isUse('POST', '/snapshot/cam1'), 'every other request is use');

  const s3 = sessions.create('ana', 'viewer', 'h1').token;
  user.hash = 'h2';
  t.notOk(sessions.get(s3, current), 'a new password ends it');
  const s4 = sessions.create('ana', 'viewer', 'h2').token;
  user.role = 'manager' as never;
  t.notOk(sessions.get(s4, current), 'a new role ends it');
  const s5 = sessions.create('bob', 'viewer', 'h9').token;
  t.notOk(sessions.get(s5, current), 'a removed user\'s session is gone');
  const s6 = sessions.create('ana', 'manager', 'h2').token;
  sessions.end(s6);
  t.notOk(sessions.get(s6, current), 'logout ends it');
});

t.test('one user logging in again and again ends their own oldest sessions, never another user\'s', async (t) => {
  let now = 1_000_000;
  const sessions = new Sessions(30 * 60_000, 12 * 3_600_000, () => now);
  const users: Record<string, { role: 'viewer' | 'manager'; hash: string }> = { ana: { role: 'manager', hash: 'a' }, eve: { role: 'viewer', hash: 'e' } };
  const current = (name: string) => users[name];
  const ana = sessions.create('ana', 'manager', 'a').token;
  const eves: string[] = [];
  for (let i = 0; i < 1200; i++) { now += 1000; eves.push(sessions.create('eve', 'viewer', 'e').token); }
  t.ok(sessions.get(ana, current), 'ana\'s idle session outlives 1200 logins of eve (the shared cap is 1000)');
  t.equal(sessions.size(), MAX_SESSIONS_PER_USER + 1, `eve holds ${MAX_SESSIONS_PER_USER} sessions, ana hers`);
  t.ok(sessions.get(eves.at(-1), current), 'eve\'s newest session is live');
  t.notOk(sessions.get(eves.at(-1 - MAX_SESSIONS_PER_USER), current), 'her oldest ones ended');
});

t.test('failed logins lock a key for the rest of the window, then free it', async (t) => {
  let now = 0;
  const l = new AttemptLimiter({ maxAttempts: 3, windowMs: 60_000 }, () => now);
  for (let i = 0; i < 3; i++) { t.equal(l.retryAfterMs('k'), 0); l.count('k'); now += 1000; }
  t.equal(l.retryAfterMs('k'), 57_000, 'locked until the first failure leaves the window');
  t.equal(l.retryAfterMs('other'), 0, 'other keys are not');
  now += 57_000;
  t.equal(l.retryAfterMs('k'), 0, 'then free again');
  l.count('k');
  l.clear('k');
  t.equal(l.retryAfterMs('k'), 0, 'a success clears it');
});

t.test('an attempt counts as a failure while it is checked, and is taken back when it was right', async (t) => {
  let now = 0;
  const l = new AttemptLimiter({ maxAttempts: 3, windowMs: 60_000 }, () => now);
  const pending = [l.count('k'), l.count('k'), l.count('k')];
  t.ok(l.retryAfterMs('k') > 0, 'three attempts still being checked lock a fourth out');
  l.forgive('k', pending[1]!);
  t.equal(l.retryAfterMs('k'), 0, 'one of them was right: taken back');
  now += 1000;
  l.forgive('k', 12345);
  l.forgive('other', 0);
  t.equal(l.retryAfterMs('k'), 0, 'taking back what was never counted changes nothing');
  l.count('k');
  t.ok(l.retryAfterMs('k') > 0, 'the two wrong ones still count');
});

t.test('passwords: scrypt with a salt, checked in constant time', async (t) => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  t.not(a, b, 'each hash has its own salt');
  t.ok(await verifyPassword('correct horse battery', a));
  t.notOk(await verifyPassword('correct horse batterx', a));
  t.notOk(await verifyPassword('correct horse battery', undefined), 'an unknown user never matches');
  t.notOk(await verifyPassword('x', 'md5$abc'), 'another scheme never matches');
  t.notOk(await verifyPassword('x', 'scrypt$1048577000$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA=='), 'absurd parameters are refused, not computed');
});
