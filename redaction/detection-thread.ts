/**
 * The detection thread (node:worker_threads, started by redaction/detection-worker.ts): pass 1
 * of video egress jobs, the same Redactor code the calling thread would run, on frames the
 * calling thread decodes and hands over (transferred, not copied). While the detectors work here,
 * the calling thread goes on reading the decoder's pipe, and pass 2 renders from the plan this
 * thread sends back.
 *
 * Linux nice is per thread, and a thread inherits its creator's value when it is created: this
 * thread raises its own nice by EGRESS_NICE before it loads a model, so onnxruntime's intra-op
 * threads, which each session starts when it is created here, run at that value too. The
 * recorders (nice 0) keep the CPU, as they do against the egress decoder and encoder. It names
 * itself (and so its onnxruntime threads) edge-nvr-detect.
 */
import { writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { isMainThread, parentPort } from 'node:worker_threads';
import { DETECTION_THREAD_NAME } from './detection-worker.js';
import type { Detector } from './detector.js';
import type { DetectorChoice } from './detectors.js';
import type { Frame } from './frame.js';
import { Redactor, type RedactorSettings, type Settled } from './redactor.js';
import { StageTimer } from './stage-timer.js';
import { EGRESS_NICE } from './video-io.js';

export type ToThread =
  /** giveBack: frames pass 1 no longer reads go back to the calling thread's decoder (`spare` of 'looked') */
  | { type: 'start'; job: number; choice: DetectorChoice; threads: number; settings: RedactorSettings; overlap: boolean; giveBack: boolean }
  | { type: 'frame'; job: number; n: number; width: number; height: number; data: ArrayBuffer }
  | { type: 'plan'; job: number }
  | { type: 'drop'; job: number };

export type FromThread =
  /**
   * with the frames whose boxes became final, when pass 2 runs beside pass 1 (redaction/overlap.ts),
   * and the buffers of frames pass 1 no longer reads (transferred back, for the decoder to reuse)
   */
  | { type: 'looked'; job: number; n: number; settled?: Settled; spare?: ArrayBuffer[] }
  | { type: 'planned'; job: number; passOne: ReturnType<Redactor['passOne']>; detectors: Array<{ name: string; version: string }>; profile?: ReturnType<StageTimer['raw']> }
  | { type: 'failed'; job: number; message: string }
  /** a dropped job's last step (a detector's run) has ended: nothing of it runs any more */
  | { type: 'dropped'; job: number };

if (isMainThread || !parentPort) throw new Error('redaction/detection-thread.js runs only as the thread redaction/detection-worker.ts starts');

// before onnxruntime is loaded (a dynamic import below), so nothing it starts escapes the nice;
// the name, which its threads inherit too, shows them in `top -H` and `ps -L`
try {
  setPriority(0, Math.min(19, getPriority(0) + EGRESS_NICE));
} catch {
  // a sandbox without setpriority: detection at the process's priority, as nice(1) runs the
  // egress decoder when it cannot lower it (a priority is not a privacy matter: the job goes on)
}
try { writeFileSync('/proc/thread-self/comm', DETECTION_THREAD_NAME); } catch { /* not Linux: the nice is what matters */ }
const { loadDetectors } = await import('./detectors.js');

const port = parentPort!;
const send = (m: FromThread, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

/** Loaded once per thread, per choice of detectors (a session costs 50-200 ms). */
let loaded: { key: string; detectors: Promise<Detector[]> } | undefined;
function detectorsFor(choice: DetectorChoice, threads: number): Promise<Detector[]> {
  const key = JSON.stringify([choice, threads]);
  if (loaded?.key !== key) {
    const detectors = loadDetectors(choice, threads);
    loaded = { key, detectors };
    detectors.catch(() => { if (loaded?.key === key) loaded = undefined; });
  }
  return loaded.detectors;
}

interface Job {
  redactor: Promise<{ redactor: Redactor; detectors: Detector[] }>; chain: Promise<void>; timer: StageTimer | undefined; dropped: boolean; failed: boolean;
  /** frames settled and sent back so far, when pass 2 runs beside pass 1 */
  settled?: number;
  /** frames looked at and not yet given back, when they go back to the decoder */
  looked?: Buffer[];
}
const jobs = new Map<number, Job>();

/** `step` after the job's earlier steps; a throw fails the job (reported once) and skips the rest. */
function then(id: number, step: (job: Job, r: Redactor, detectors: Detector[]) => Promise<void> | void): void {
  const job = jobs.get(id);
  if (!job) return;
  job.chain = job.chain.then(async () => {
    if (job.dropped || job.failed) return;
    const { redactor, detectors } = await job.redactor;
    await step(job, redactor, detectors);
  }).catch((err: Error) => {
    if (job.failed) return;
    job.failed = true;
    send({ type: 'failed', job: id, message: err.message });
  });
}

/**
 * The frames of `looked` (and `now`, just looked at) the Redactor no longer reads
 * (Redactor.heldFrames), taken out of `looked`: their buffers, to transfer back. Frames still
 * queued for `look` are not in `looked`. Without this each frame was garbage left to the
 * collector, which lets 25 MB frames pile up beyond the look-back window at 4K (bench/README.md
 * "Redaction: memory").
 */
function giveBack(looked: Buffer[], now: Buffer, r: Redactor): ArrayBuffer[] {
  looked.push(now);
  const held = r.heldFrames();
  const spare: ArrayBuffer[] = [];
  for (let i = looked.length - 1; i >= 0; i--) {
    const b = looked[i]!;
    if (held.has(b)) continue;
    looked.splice(i, 1);
    // only a buffer that is the whole of its memory can go (the decoder's always are)
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) spare.push(b.buffer as ArrayBuffer);
  }
  return spare;
}

port.on('message', (m: ToThread) => {
  switch (m.type) {
    case 'start': {
      const timer = StageTimer.fromEnv();
      const redactor = detectorsFor(m.choice, m.threads).then((detectors) => ({ redactor: new Redactor(detectors, m.settings, () => '', false, timer), detectors }));
      redactor.catch(() => { /* reported through the job's chain */ });
      jobs.set(m.job, { redactor, chain: Promise.resolve(), timer, dropped: false, failed: false, ...(m.overlap ? { settled: 0 } : {}), ...(m.giveBack ? { looked: [] } : {}) });
      then(m.job, () => {}); // a model that cannot load fails the job at once
      break;
    }
    case 'frame': {
      const frame: Frame = { width: m.width, height: m.height, data: Buffer.from(m.data) };
      then(m.job, async (job, r) => {
        await r.look(frame, m.n);
        const settled = job.settled !== undefined ? r.settled(job.settled) : undefined;
        if (settled) job.settled! += settled.boxes.length;
        const spare = job.looked ? giveBack(job.looked, frame.data, r) : [];
        send({ type: 'looked', job: m.job, n: m.n, ...(settled ? { settled } : {}), ...(spare.length ? { spare } : {}) }, spare);
      });
      break;
    }
    case 'plan':
      then(m.job, async (job, r, detectors) => {
        await r.plan();
        jobs.delete(m.job);
        send({ type: 'planned', job: m.job, passOne: r.passOne(), detectors: detectors.map((d) => ({ name: d.name, version: d.version })), profile: job.timer?.raw() });
      });
      break;
    case 'drop': {
      const job = jobs.get(m.job);
      if (job) job.dropped = true;
      jobs.delete(m.job);
      // the step it is in (a detector's run) ends first; the calling side waits for this before
      // it lets the process end: onnxruntime-node aborts the process when it exits mid-run
      void (job?.chain ?? Promise.resolve()).then(() => send({ type: 'dropped', job: m.job }));
      break;
    }
  }
});
