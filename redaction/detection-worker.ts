/**
 * Pass 1 of a video egress job on the detection thread (redaction/detection-thread.ts), beside
 * the calling thread's decoding. Without it, onnxruntime-node's `run` (synchronous) holds the
 * export's one JavaScript thread: while a detector runs, nobody reads the decoder's pipe, and
 * while a frame is read, no detector runs. Here the calling thread decodes and hands each frame
 * over (its buffer transferred, not copied), a few frames ahead of the detectors (readAhead), and
 * the thread runs the same Redactor pass 1 on them in order; its plan comes back for pass 2.
 * The plan is the one the calling thread would have made (test/redaction/detection-thread.test.ts).
 *
 * Fail closed: a thread that throws or dies fails every job it holds with an error saying so;
 * the export writes nothing, and the next job starts a new thread.
 */
import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { FromThread, ToThread } from './detection-thread.js';
import type { DetectorChoice } from './detectors.js';
import type { Frame } from './frame.js';
import type { PassOne, RedactorSettings, Settled } from './redactor.js';
import type { StageTimer } from './stage-timer.js';

/** The detection thread's name (15 characters, the most Linux keeps), which the onnxruntime threads it starts inherit. */
export const DETECTION_THREAD_NAME = 'edge-nvr-detect';

/**
 * Frames handed to the detection thread and not yet looked at: 2 to 8, within 32 MiB (8 at 720p,
 * 5 at 1080p, 2 at 4K). The decoder is faster than the detectors (about 20 ms a 720p frame
 * against 60), so the queue is full most of the time: it needs to hold about one detection
 * round's gap (text every 5th frame) to keep the thread busy; a longer one only holds more
 * memory and hands the thread frames that have left the CPU's caches.
 */
export function readAhead(frameBytes: number): number {
  return Math.max(2, Math.min(8, Math.floor((32 * 1024 * 1024) / Math.max(1, frameBytes))));
}

/**
 * The most frames pass 1 keeps at once beyond the read-ahead, and so the most the detection
 * thread gives back at once (a scene change empties the look-back window): the frames since the
 * oldest detector's last round (at most the largest k) and the one before them. The decoder
 * keeps that many buffers given back (FrameBuffers), so it reads into memory that was in use a
 * moment ago rather than new memory: a buffer it dropped would be garbage, and a new one taken
 * in its place would add to the peak.
 */
export function windowFrames(settings: Pick<RedactorSettings, 'every'>): number {
  return Math.max(1, ...Object.values(settings.every)) + 1;
}

/**
 * onnxruntime intra-op threads per session on the detection thread: EDGE_NVR_DETECTION_INTRA_OP
 * (1-16), 1 by default. On the calling thread two paid (inference was the only work that could
 * use the second core); here the calling thread's decoding and ffmpeg use it, and one thread a
 * session spent 6-14% less CPU than the calling thread with two, at the same or a better wall
 * rate (bench/README.md, "Detection on its own thread", measured on two cores).
 */
export function detectionIntraOp(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.EDGE_NVR_DETECTION_INTRA_OP);
  return Number.isInteger(v) && v >= 1 && v <= 16 ? v : 1;
}

/** Whether video jobs run pass 1 on the detection thread: yes unless EDGE_NVR_DETECTION_THREAD=0 (the calling thread, as before). */
export function detectionThreadEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.EDGE_NVR_DETECTION_THREAD !== '0';
}

interface Pending {
  /** frames handed over and not yet looked at */
  inFlight: number;
  /** resolves the calling thread's wait for room in the read-ahead */
  room?: () => void;
  planned?: { resolve: (r: Planned) => void; reject: (e: Error) => void };
  error?: Error;
  /** the frames whose boxes became final, when pass 2 runs beside pass 1 */
  settled?: (part: Settled) => void;
  /** frame buffers pass 1 no longer reads, back for the decoder to read the next frames into */
  spare?: (buf: Buffer) => void;
}

export interface Planned {
  passOne: PassOne;
  detectors: Array<{ name: string; version: string }>;
  /** the thread's stages, when profiling (EDGE_NVR_REDACTION_PROFILE) */
  profile?: ReturnType<StageTimer['raw']>;
}

/**
 * How long a detection thread without a job lives on: its isolate and model sessions are tens of
 * MB a small box wants back between exports, and a new thread loads its models again in about a
 * second, little against an export's minutes.
 */
export const DETECTION_IDLE_MS = 60_000;

/** One detection thread, shared by the jobs of a process (its models load once). */
export class DetectionWorker {
  readonly worker: Worker;
  private readonly jobs = new Map<number, Pending>();
  /** jobs dropped whose last step may still run there, and what resolves the wait for its end */
  private readonly dropping = new Map<number, () => void>();
  private nextJob = 1;
  private dead: Error | undefined;
  /** ends the thread once it has been without a job for idleMs */
  private idle: NodeJS.Timeout | undefined;
  private retiring = false;

  constructor(private readonly idleMs = DETECTION_IDLE_MS) {
    // under tsx (the tests) the sources are .ts; built, .js beside this file
    const ts = import.meta.url.endsWith('.ts');
    this.worker = new Worker(new URL(ts ? './detection-thread.ts' : './detection-thread.js', import.meta.url), { env: SHARE_ENV });
    this.worker.unref(); // an idle thread keeps no process alive; a job refs it while it runs
    this.worker.on('message', (m: FromThread) => this.onMessage(m));
    this.worker.on('error', (err) => this.die(`it threw: ${err.message}`));
    this.worker.on('exit', (code) => this.die(`it exited (code ${code})`));
  }

  /** false once it died or was retired for idleness: the next job gets a new thread */
  get alive(): boolean { return !this.dead && !this.retiring; }

  /**
   * A new job's pass 1 on this thread; `settled` is given each range of frames whose boxes became
   * final (pass 2 beside pass 1), `spare` each frame buffer the thread no longer reads (given
   * back, for the next frames: it is the calling thread's to overwrite).
   */
  start(choice: DetectorChoice, settings: RedactorSettings, threads = detectionIntraOp(), settled?: (part: Settled) => void, spare?: (buf: Buffer) => void): PassOneJob {
    if (this.retiring) throw new Error('the detection thread ended (idle); ask detectionWorker() for the current one');
    if (this.dead) throw this.dead;
    clearTimeout(this.idle);
    const id = this.nextJob++;
    const p: Pending = { inFlight: 0, settled, spare };
    this.jobs.set(id, p);
    this.worker.ref();
    this.post({ type: 'start', job: id, choice, threads, settings, overlap: settled !== undefined, giveBack: spare !== undefined });
    return new PassOneJob(this, id, p);
  }

  /** @internal */
  post(m: ToThread, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(m, transfer);
  }

  /**
   * @internal the job is over on this side (done, failed or abandoned); resolves once nothing of
   * it runs on the thread any more (a detector's run in progress ends), or the thread is gone
   */
  end(id: number): Promise<void> {
    if (!this.jobs.delete(id)) return Promise.resolve();
    let ended = Promise.resolve();
    if (!this.dead) {
      ended = new Promise<void>((resolve) => this.dropping.set(id, resolve));
      this.post({ type: 'drop', job: id });
    }
    this.idleIfDone();
    return ended;
  }

  /**
   * Without a job, and with no dropped job's step still running there, the thread keeps no
   * process alive and ends after idleMs. Until a dropped job's 'dropped' answer comes, it stays
   * referenced: a CLI whose export failed would otherwise exit (its loop empty) while a detector
   * runs there, and onnxruntime-node aborts a process that exits mid-run.
   */
  private idleIfDone(): void {
    if (this.jobs.size > 0 || this.dropping.size > 0) return;
    this.worker.unref();
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.retire(), this.idleMs).unref();
  }

  /** Ends the thread without a job (see DETECTION_IDLE_MS): not a failure, it holds nothing. */
  private retire(): void {
    if (this.jobs.size || this.dropping.size || this.dead) return;
    this.retiring = true;
    if (current === this) current = undefined;
    void this.worker.terminate();
  }

  private onMessage(m: FromThread): void {
    if (m.type === 'dropped') {
      this.dropping.get(m.job)?.();
      this.dropping.delete(m.job);
      this.idleIfDone();
      return;
    }
    const p = this.jobs.get(m.job);
    if (!p) return;
    if (m.type === 'looked') {
      p.inFlight--;
      for (const b of m.spare ?? []) p.spare?.(Buffer.from(b));
      try {
        if (m.settled) p.settled?.(m.settled);
      } catch (err) {
        this.fail(p, err as Error);
      }
      p.room?.();
    } else if (m.type === 'planned') {
      p.planned?.resolve({ passOne: m.passOne, detectors: m.detectors, profile: m.profile });
    } else {
      this.fail(p, new Error(m.message));
    }
  }

  private fail(p: Pending, err: Error): void {
    if (p.error) return;
    p.error = err;
    p.room?.();
    p.planned?.reject(err);
  }

  private die(why: string): void {
    if (this.dead) return;
    this.dead = new Error(`the detection thread stopped (${why}); the export is failed closed and nothing is written`);
    for (const p of this.jobs.values()) this.fail(p, this.dead);
    for (const ended of this.dropping.values()) ended();
    this.dropping.clear();
    if (current === this) current = undefined;
  }
}

/** The calling thread's side of one job: frames in, in order, then the plan. */
export class PassOneJob {
  constructor(private readonly thread: DetectionWorker, private readonly id: number, private readonly p: Pending) {}

  /**
   * Hands frame n over (its buffer is transferred: `frame` is unusable after), then waits while
   * the frames not yet looked at fill the read-ahead. Throws once the job has failed.
   */
  async look(frame: Frame, n: number): Promise<void> {
    const { p } = this;
    if (p.error) throw p.error;
    const data = frame.data;
    // a buffer that is a view of a larger one (never from the decoder) is copied, not transferred
    const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer as ArrayBuffer : new Uint8Array(data).buffer;
    p.inFlight++;
    this.thread.post({ type: 'frame', job: this.id, n, width: frame.width, height: frame.height, data: own }, [own]);
    const most = readAhead(data.byteLength);
    while (p.inFlight >= most && !this.failure()) await new Promise<void>((resolve) => { p.room = resolve; });
    p.room = undefined;
    const failed = this.failure();
    if (failed) throw failed;
  }

  /** Why the job failed (the thread reported an error, or stopped), if it did: set by messages while this side waits. */
  private failure(): Error | undefined {
    return this.p.error;
  }

  /** Every frame handed over: the last round, the plan, what pass 1 counted. */
  async plan(): Promise<Planned> {
    const { p } = this;
    if (p.error) throw p.error;
    const done = new Promise<Planned>((resolve, reject) => { p.planned = { resolve, reject }; });
    this.thread.post({ type: 'plan', job: this.id });
    try {
      return await done;
    } finally {
      void this.end(); // its last step (the plan) has ended
    }
  }

  /**
   * The job is abandoned (an error or a cancel on the calling side): the thread drops its frames.
   * Resolves once nothing of it runs there any more (a detector's run in progress has ended).
   */
  end(): Promise<void> {
    return this.thread.end(this.id);
  }
}

let current: DetectionWorker | undefined;
/** The process's detection thread, started on first use and again after one has died or ended idle. */
export function detectionWorker(idleMs?: number): DetectionWorker {
  if (!current || !current.alive) current = new DetectionWorker(idleMs);
  return current;
}
