import t from 'tap';
import { Backoff } from '../../common/backoff.js';

t.test('steps through the delays, repeats the last, and resets after a stable run', async (t) => {
  const b = new Backoff([1, 2, 5, 10, 30, 60], { jitter: 0, stableAfterMs: 60_000 });
  let now = 1_000_000;
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    b.started(now);
    now += 500; // each run dies quickly
    delays.push(b.failed(now));
  }
  t.same(delays, [1000, 2000, 5000, 10000, 30000, 60000, 60000, 60000]);
  b.started(now);
  now += 61_000;
  t.equal(b.failed(now), 1000, 'a run that stayed up a minute starts the steps again');
});

t.test('jitter stays within its bounds and spreads cameras apart', async (t) => {
  const delays = Array.from({ length: 200 }, () => new Backoff([10], { jitter: 0.2 }).failed());
  t.ok(Math.min(...delays) >= 8000 && Math.max(...delays) <= 12000, `all within ±20 % of 10 s: ${Math.min(...delays)}..${Math.max(...delays)} ms`);
  t.ok(new Set(delays).size > 50, 'delays differ from camera to camera');
});
