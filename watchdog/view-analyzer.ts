import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { backoffDelayMs } from '../common/backoff.js';
import { ViewAnalysis, type AnalysisJob, type AnswerOf } from './view-analysis.js';
import type { WorkerReply, WorkerRequest } from './view-analysis-worker.js';

export interface ViewAnalyzerOptions {
  log?: Logger;
  /** jobs waiting, every camera's together; past it the oldest is dropped (default 64) */
  maxQueued?: number;
  /** a job not answered within this is a stuck thread: it is replaced (default 10 s) */
  jobTimeoutMs?: number;
  /** the thread's module (tests give one that fails) */
  script?: URL;
  /**
   * Asked at every picture: analyse it in line, on the caller's thread, rather than in the thread
   * (the daemon: while it watches few cameras, see `inLine`). Without it, always in the thread.
   */
  inline?: () => boolean;
}

/** An answer, with the CPU time the thread spent on it. */
export interface Answered<A> {
  answer: A;
  cpuMs: number;
}

interface Pending {
  key: string;
  job: AnalysisJob;
  resolve: (a: Answered<unknown> | null) => void;
  /** the job's picture is a copy in one of `spare`'s buffers (it waited for the thread) */
  held?: boolean;
}

// the thread's module sits beside this one: .ts where tests run the sources, .js when built
const SCRIPT = new URL(`./view-analysis-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** this many thread failures within CRASH_WINDOW_MS: every view analysed here is unavailable until one is answered again */
const CRASHES_UNAVAILABLE = 3;
const CRASH_WINDOW_MS = 60_000;
/** a failed thread's replacement starts after these (s): at once for the first failure within the window, then doubling */
const RESTART_STEPS_S = [0, 1, 2, 4, 8, 16, 30];
const EMPTY = new Uint8Array(0);
/** a thread not loaded within this is stuck too */
const START_TIMEOUT_MS = 30_000;
/** buffers of waiting pictures kept for the next ones (more wait only while the thread is slow or starting) */
const SPARE_BUFFERS = 4;

/**
 * One thread for every camera's view analysis (`view-analysis.ts`): the event loop only posts
 * pictures and receives answers, so indexing segments never waits behind pixel work.
 *
 * - **Stale samples are dropped, never piled up**: a camera has at most one job of each kind
 *   waiting (a newer picture replaces the one not yet sent), at most `maxQueued` wait in all (the
 *   oldest goes), and one job is in the thread at a time. A dropped job is answered `null`: a
 *   sample lost, as when the decoder falls behind.
 * - **A thread that dies or hangs is noticed**: its job is answered `null`, the failure logged,
 *   and a new thread started (at once, then backing off). After CRASHES_UNAVAILABLE failures
 *   within a minute `problem` says so, and each camera's view state reads `unavailable` with it
 *   until a job is answered again: view analysis never stops silently.
 */
export class ViewAnalyzer {
  /** why no view can be analysed now, null while the thread answers */
  problem: string | null = null;
  restarts = 0;
  dropped = 0;
  answered = 0;
  private worker?: Worker;
  /** the thread said it is loaded */
  private ready = false;
  private startTimer?: NodeJS.Timeout;
  private readonly queue: Pending[] = [];
  private inFlight?: Pending & { id: number; timer: NodeJS.Timeout };
  private nextId = 1;
  private crashes: number[] = [];
  private restartTimer?: NodeJS.Timeout;
  private stopped = false;
  private killedBecause?: string;
  /** the picture of the job in the thread: one buffer both sides see, reused (see pump) */
  private shared = new SharedArrayBuffer(0);
  /** buffers for pictures that wait for the thread, reused (see run) */
  private readonly spare: Uint8Array[] = [];
  /** per camera, the view reference the running thread was given (it keeps it: sent once, not with every picture) */
  private readonly references = new Map<string, number>();
  /** the analysis in line, every camera's, while `inline` says so */
  private local?: ViewAnalysis;

  constructor(private readonly opts: ViewAnalyzerOptions = {}) {}

  /** the running thread's id (tests), undefined while there is none */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  /**
   * The analysis to run a picture with in line, on the caller's thread, while `inline` says so;
   * undefined: give the picture to `run`, for the thread.
   *
   * A thread is a second V8 isolate: 10-16 MB of the daemon's memory (its heap, its own
   * allocations) whatever it does, a seventh of the process at 16 cameras, while the pixel work,
   * bounded by the view budget, is a few milliseconds of the event loop a second (bench/README.md,
   * "Node RSS at 16 cameras: view analysis in line, grey pictures"). The thread is for many cameras, where
   * indexing has the least time to spare. Going in line ends a thread that has nothing to do (it starts
   * again when needed); going to the thread drops the in-line state, so each camera's next
   * picture starts the frozen check anew, as after a thread's restart.
   */
  inLine(): ViewAnalysis | undefined {
    if (this.stopped || !this.opts.inline?.()) {
      this.local = undefined;
      return undefined;
    }
    if (this.worker && !this.inFlight && !this.queue.length) this.retire();
    // a failed thread's restart is not needed now, and what it failed on no longer stops any view
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (this.problem) {
      this.opts.log?.info('view analysis answers again, in line');
      this.problem = null;
    }
    return (this.local ??= new ViewAnalysis());
  }

  /** Analyses a picture in the thread: its answer, or null when it was dropped or lost. */
  run<J extends AnalysisJob>(job: J): Promise<Answered<AnswerOf<J>> | null> {
    if (this.stopped) return Promise.resolve(null);
    const key = `${job.camera}/${job.kind}`;
    return new Promise((resolve) => {
      const stale = this.queue.findIndex((p) => p.key === key);
      if (stale >= 0) this.drop(stale);
      this.queue.push({ key, job, resolve: resolve as Pending['resolve'] });
      while (this.queue.length > (this.opts.maxQueued ?? 64)) this.drop(0);
      if (!this.worker && !this.restartTimer) this.spawn();
      this.pump();
      // Still waiting: its picture is copied. The sampler decodes every camera's pictures into one
      // buffer, written over by the next; most pictures go into the thread's memory at once.
      const waiting = this.queue.find((p) => p.key === key);
      if (waiting && !waiting.held) {
        const data = waiting.job.data;
        const i = this.spare.findIndex((b) => b.length === data.length);
        const copy = i >= 0 ? this.spare.splice(i, 1)[0]! : new Uint8Array(data.length);
        copy.set(data);
        waiting.job = { ...waiting.job, data: copy };
        waiting.held = true;
      }
    });
  }

  /** A waiting picture's copy is done with: its buffer serves the next one. */
  private release(p: Pending): void {
    if (!p.held) return;
    p.held = false;
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(p.job.data);
  }

  /** A camera no longer watched: the thread lets its pictures go. */
  forget(camera: string): void {
    this.local?.forget(camera);
    this.references.delete(camera);
    this.worker?.postMessage({ id: 0, forget: camera } satisfies WorkerRequest);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.startTimer);
    this.restartTimer = undefined;
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      this.inFlight.resolve(null);
      this.inFlight = undefined;
    }
    for (const p of this.queue.splice(0)) p.resolve(null);
    this.spare.length = 0;
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  /** Ends the idle thread: its memory goes (see inLine). Not a failure: no restart. */
  private retire(): void {
    const w = this.worker!;
    clearTimeout(this.startTimer);
    this.worker = undefined; // its exit is not heard as a failure (see spawn)
    this.references.clear();
    this.spare.length = 0;
    this.shared = new SharedArrayBuffer(0);
    this.opts.log?.info('view analysis in line from now (few cameras): its thread ended');
    void w.terminate();
  }

  private drop(index: number): void {
    const [p] = this.queue.splice(index, 1);
    this.dropped++;
    if (p) this.release(p);
    p?.resolve(null);
  }

  private spawn(): void {
    this.references.clear(); // a new thread knows none
    this.local = undefined; // what the analysis in line held goes (see inLine)
    const worker = new Worker(this.opts.script ?? SCRIPT);
    this.opts.log?.info({ restarts: this.restarts }, 'view analysis thread started');
    worker.unref();
    this.worker = worker;
    this.ready = false;
    this.startTimer = setTimeout(() => {
      this.killedBecause = `the thread did not start within ${START_TIMEOUT_MS / 1000} s`;
      void worker.terminate();
    }, START_TIMEOUT_MS);
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (err) => { this.killedBecause ??= err.message; });
    worker.on('exit', (code) => {
      if (this.worker !== worker || this.stopped) return;
      this.failed(this.killedBecause ?? `exited with code ${code}`);
    });
  }

  private pump(): void {
    const worker = this.worker;
    if (!worker || !this.ready || this.inFlight || !this.queue.length) return;
    const p = this.queue.shift()!;
    const id = this.nextId++;
    const timeoutMs = this.opts.jobTimeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      this.killedBecause = `a picture was not analysed within ${timeoutMs / 1000} s`;
      void worker.terminate();
    }, timeoutMs);
    this.inFlight = { ...p, id, timer };
    // The picture goes through memory both threads see, not in the message: cloning 0.7 MB per
    // picture into a message was 1.3 ms of the event loop's time each (2.4 s a minute at 64
    // cameras), a copy into shared memory a tenth of that. It is not transferred either: the
    // sampler writes the next camera's picture into the same buffer. One job is in the thread at a
    // time, so one shared buffer serves.
    const { data } = p.job;
    if (this.shared.byteLength < data.length) this.shared = new SharedArrayBuffer(data.length);
    new Uint8Array(this.shared, 0, data.length).set(data);
    this.release(p);
    let job: AnalysisJob = { ...p.job, data: EMPTY };
    if (job.kind === 'view' && job.reference) {
      if (this.references.get(job.camera) === job.reference.id) job = { ...job, reference: { id: job.reference.id, data: null } };
      else this.references.set(job.camera, job.reference.id);
    }
    worker.postMessage({ id, job, shared: this.shared, length: data.length } satisfies WorkerRequest);
  }

  private onReply(reply: WorkerReply): void {
    if ('ready' in reply) {
      clearTimeout(this.startTimer);
      this.ready = true;
      this.pump();
      return;
    }
    const p = this.inFlight;
    if (!p || reply.id !== p.id) return;
    clearTimeout(p.timer);
    this.inFlight = undefined;
    if ('error' in reply) {
      this.opts.log?.debug({ camera: p.job.camera, kind: p.job.kind, error: reply.error }, 'view analysis failed on a picture');
      this.references.delete(p.job.camera); // the next picture carries its reference again
      p.resolve(null);
    } else {
      this.answered++;
      if (this.problem) {
        this.opts.log?.info({ restarts: this.restarts }, 'view analysis answers again');
        this.problem = null;
      }
      p.resolve({ answer: reply.answer, cpuMs: reply.cpuMs });
    }
    this.pump();
  }

  private failed(reason: string): void {
    clearTimeout(this.startTimer);
    this.worker = undefined;
    this.killedBecause = undefined;
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      this.inFlight.resolve(null);
      this.inFlight = undefined;
    }
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    const delayMs = backoffDelayMs(RESTART_STEPS_S, this.crashes.length - 1, 0);
    if (this.crashes.length >= CRASHES_UNAVAILABLE) {
      this.problem = `the view analysis thread failed ${this.crashes.length} times within a minute (last: ${reason})`;
    }
    this.opts.log?.error({ reason, failures: this.crashes.length, restartInMs: delayMs }, 'the view analysis thread failed; starting a new one');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.restarts++;
      this.spawn();
      this.pump();
    }, delayMs);
  }
}
