import t from 'tap';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { threadCpuMs } from '../../watchdog/thread-cpu.js';

/*
 * The clock the view analysis thread charges its work to the sampler's budget with
 * (watchdog/thread-cpu.ts): the thread's own CPU time. Not its wall time, which on a busy box also
 * counts waiting for a core (charged, it slowed sampling to the 10 s bound), and not the whole
 * process's CPU time (the event loop's work is not the thread's).
 */
interface Reading { cpuMs: number | null; wallMs: number }

// one probe thread for both subtests (loading a thread under tsx takes seconds), loaded first
const worker = new Worker(new URL('../support/thread-cpu-probe.ts', import.meta.url));
t.teardown(() => worker.terminate());
await once(worker, 'message');
/** posts at once (before the caller's next statement), resolves with the thread's reading */
function ask(msg: { waitMs?: number; spinCpuMs?: number }): Promise<Reading> {
  const reply = once(worker, 'message');
  worker.postMessage(msg);
  return reply.then(([r]) => r as Reading);
}

const spin = (ms: number) => { const end = performance.now() + ms; let x = 0; while (performance.now() < end) x += Math.sqrt(x + 1); return x; };

t.test('a thread clock is read on this box (Linux)', async (t) => {
  const now = threadCpuMs();
  t.ok(now !== null && now > 0, `the main thread has used ${now?.toFixed(1)} ms of CPU`);
});

t.test('a thread that waits is charged nothing, whatever the event loop does meanwhile', async (t) => {
  const waited = ask({ waitMs: 600 });
  spin(400); // the event loop is busy while the thread waits: the process's CPU time grows, not the thread's
  const r = await waited;
  t.ok(r.wallMs >= 550, `it waited ${r.wallMs.toFixed(0)} ms`);
  t.ok(r.cpuMs !== null && r.cpuMs < 60, `and was charged ${r.cpuMs?.toFixed(1)} ms of CPU`);
});

t.test('a thread that works is charged its work', async (t) => {
  const r = await ask({ spinCpuMs: 150 });
  t.ok(r.cpuMs !== null && r.cpuMs >= 150, `${r.cpuMs?.toFixed(1)} ms of CPU counted`);
  // one thread cannot run longer than the time that passed (a tick of slack in the reading)
  t.ok(r.cpuMs! <= r.wallMs + 20, `within the ${r.wallMs.toFixed(0)} ms that passed`);
  t.ok(r.wallMs < 20_000, 'the clock moved with the work');
});
