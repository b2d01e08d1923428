/**
 * A worker thread for test/watchdog/thread-cpu.test.ts: on `{ waitMs }` it sleeps (blocked, no
 * CPU), on `{ spinCpuMs }` it works until its own clock advanced that much; it answers what
 * threadCpuMs() read around it and the wall time it took.
 */
import { parentPort } from 'node:worker_threads';
import { threadCpuMs } from '../../watchdog/thread-cpu.js';

parentPort!.on('message', (msg: { waitMs?: number; spinCpuMs?: number }) => {
  const wallStart = performance.now();
  const cpuStart = threadCpuMs();
  if (msg.waitMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, msg.waitMs);
  if (msg.spinCpuMs && cpuStart !== null) {
    let x = 0;
    while (threadCpuMs()! - cpuStart < msg.spinCpuMs && performance.now() - wallStart < 20_000) for (let i = 0; i < 1e5; i++) x += Math.sqrt(i);
    if (x < 0) console.log(x);
  }
  const cpuEnd = threadCpuMs();
  parentPort!.postMessage({ cpuMs: cpuStart === null || cpuEnd === null ? null : cpuEnd - cpuStart, wallMs: performance.now() - wallStart });
});
parentPort!.postMessage({ ready: true });
