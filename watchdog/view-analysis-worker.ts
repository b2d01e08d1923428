/**
 * The view analysis thread: answers `ViewAnalyzer`'s jobs one at a time with `ViewAnalysis`,
 * each with the thread's CPU time it took (what the frame sampler's budget counts). A job that
 * throws is answered with its error; the thread carries on.
 */
import { parentPort } from 'node:worker_threads';
import { threadCpuMs } from './thread-cpu.js';
import { ViewAnalysis, type AnalysisJob } from './view-analysis.js';

/** a job's picture is in `shared` (its first `length` bytes), not in the message: see ViewAnalyzer.pump */
export type WorkerRequest = { id: number; job: AnalysisJob; shared: SharedArrayBuffer; length: number } | { id: number; forget: string };
export type WorkerReply = { id: number; answer: unknown; cpuMs: number } | { id: number; error: string } | { ready: true };

const analysis = new ViewAnalysis();

parentPort?.on('message', (msg: WorkerRequest) => {
  if ('forget' in msg) {
    analysis.forget(msg.forget);
    return;
  }
  // what the sampler's budget counts is the thread's own CPU time (thread-cpu.ts): its wall time
  // also counts waiting for a core, several times the work on a busy box, which slowed sampling
  // (and re-learning a view after tamper reset) to the 10 s bound. Where no thread clock can be
  // read, the wall time of the job, which the thread runs without yielding: its CPU time or more.
  const wallStart = performance.now();
  const cpuStart = threadCpuMs();
  try {
    const answer = analysis.run({ ...msg.job, data: new Uint8Array(msg.shared, 0, msg.length) });
    const cpuEnd = cpuStart === null ? null : threadCpuMs();
    const cpuMs = cpuEnd === null ? performance.now() - wallStart : cpuEnd - cpuStart!;
    parentPort!.postMessage({ id: msg.id, answer, cpuMs } satisfies WorkerReply);
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, error: (err as Error).message } satisfies WorkerReply);
  }
});

// loaded: jobs may come (a job's deadline counts from here, not from the thread's start)
parentPort?.postMessage({ ready: true } satisfies WorkerReply);
