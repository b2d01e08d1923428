import t from 'tap';
import { settleWithin, sleepUnlessAborted } from '../../common/deadlines.js';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

t.test('settleWithin: the value in time, the fallback after the deadline, and no timer left behind', async (t) => {
  const before = timers();
  t.equal(await settleWithin(Promise.resolve('done'), 10_000, 'late'), 'done', 'a promise that settles in time gives its value');
  t.equal(timers(), before, 'the 10 s timer was cleared at once (a stopping daemon is not held 10 s)');

  const started = Date.now();
  t.equal(await settleWithin(new Promise(() => undefined), 50, 'late'), 'late', 'a promise that never settles gives the fallback');
  t.ok(Date.now() - started >= 45, 'after the deadline, not before');

  await t.rejects(settleWithin(Promise.reject(new Error('boom')), 10_000, 'late'), /boom/, 'a rejection in time rejects');
  t.equal(timers(), before, 'no timer left after a rejection either');
});

t.test('sleepUnlessAborted: the whole wait, or until the abort', async (t) => {
  let started = Date.now();
  await sleepUnlessAborted(60, new AbortController().signal);
  t.ok(Date.now() - started >= 55, 'waits the time when nothing aborts');

  const abort = new AbortController();
  const before = timers();
  started = Date.now();
  setTimeout(() => abort.abort(), 20);
  await sleepUnlessAborted(10_000, abort.signal);
  t.ok(Date.now() - started < 5_000, 'ends at the abort');
  t.equal(timers(), before, 'and its 10 s timer is cleared');

  started = Date.now();
  await sleepUnlessAborted(10_000, abort.signal);
  t.ok(Date.now() - started < 1_000, 'an already aborted signal does not wait');
});
