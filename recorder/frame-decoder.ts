import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { withParentDeathSignal } from './backends/orphans.js';
import { killGroup, waitForExit } from './backends/process-group.js';

/** The helper ships beside the compiled code's sources: dist/recorder/... -> recorder/... */
export const DECODER_SCRIPT = fileURLToPath(new URL('./frame-decoder.py', import.meta.url)).replace('/dist/recorder/', '/recorder/');
const PYTHON = '/usr/bin/python3';

export interface DecodeRequest {
  codec: string;
  /** avcC / hvcC */
  extradata: Buffer | null;
  sample: Buffer;
  maxWidth: number;
  maxHeight: number;
  /** `gray`: the luma alone, full range, a byte a pixel (what view analysis uses); default RGB24 */
  format?: PictureFormat;
  /**
   * Where the picture is written when it has exactly its size (a caller's buffer reused from
   * sample to sample); a picture of another size goes into a new buffer. The answer's `data` is one or the other.
   * A function is asked when the picture arrives (a buffer that is replaced while requests queue).
   */
  into?: Buffer | (() => Buffer | undefined);
}

/** What a decoded picture's bytes are: packed RGB24 rows, or full-range grey (luma), a byte a pixel. */
export type PictureFormat = 'rgb24' | 'gray';

/** Bytes a pixel of each format. */
export const CHANNELS: Record<PictureFormat, 1 | 3> = { rgb24: 3, gray: 1 };

export interface DecodedPicture {
  width: number;
  height: number;
  /** the request's format */
  format: PictureFormat;
  /** packed rows: the request's `into` when it had this size, else a buffer of its own */
  data: Buffer;
  srcWidth: number;
  srcHeight: number;
  /** CPU the helper spent since its previous answer: this decode, reading the request, writing the answer before (all of it, so a budget charged with it is exact) */
  cpuMs: number;
}

/** A message header from the helper (recorder/frame-decoder.py): its hello, or the answer to one keyframe. */
interface HelperHeader {
  ready?: boolean;
  av?: string;
  id?: number;
  ok?: boolean;
  error?: string;
  width?: number;
  height?: number;
  src_width?: number;
  src_height?: number;
  cpu_ms?: number;
  /** length of the payload (the picture) that follows */
  bytes?: number;
}

interface Waiter { resolve: (h: HelperHeader, payload: Buffer) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout; into?: DecodeRequest['into'] }

const DECODE_TIMEOUT_MS = 10_000;
/** a helper that cannot start (python3-av missing, a crash at start) is tried again this much later */
const RETRY_MS = [2000, 10_000, 60_000];
/**
 * How long a starting helper may take to say hello before it is killed and started again (after
 * RETRY_MS[0], never more: see spawnHelper). Python importing PyAV at nice 5 takes about half a
 * second of CPU, which on two loaded cores can be well over 10 s of wall time.
 */
const HELLO_LIMIT_MS = 60_000;
/** a helper slower than this to start is logged (once a start), and waited for */
const HELLO_SLOW_MS = 10_000;

export interface FrameDecoderTiming {
  helloLimitMs?: number;
  helloSlowMs?: number;
}

/**
 * One keyframe decoder for every camera of the daemon: a Python helper (recorder/frame-decoder.py,
 * PyAV on the system's libav) in its own process group, at nice 5, killed by the kernel if the
 * daemon dies. Requests go one at a time; a helper that hangs or dies is killed and started
 * again, and only the request in flight fails. Recording never depends on it.
 */
export class FrameDecoder {
  private proc?: ChildProcess;
  private exited?: Promise<void>;
  /** what the helper wrote and no waiter took yet: the first `buffered` bytes of `rx` (one buffer, reused), and the length the next step needs */
  private rx = Buffer.alloc(0);
  private buffered = 0;
  private needed = 4;
  private waiters: Waiter[] = [];
  private starting?: Promise<void>;
  private chain: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private retryAt = 0;
  private stopped = false;
  /** why the helper is not available, when it is not */
  unavailable: string | null = null;
  /** PyAV's version, once started */
  version = '';

  constructor(private readonly log?: Logger, private readonly script = DECODER_SCRIPT, private readonly timing: FrameDecoderTiming = {}) {}

  /** helpers spawned so far (tests, benchmarks) */
  starts = 0;

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the helper if it is not running; rejects with why it cannot run (python3-av missing). */
  async ready(): Promise<string> {
    await this.ensureStarted();
    return this.version;
  }

  /** Decodes one keyframe; requests queue, one decodes at a time. */
  decode(req: DecodeRequest): Promise<DecodedPicture> {
    const run = this.chain.then(() => this.decodeNow(req));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async decodeNow(req: DecodeRequest): Promise<DecodedPicture> {
    if (this.stopped) throw new Error('the frame decoder is stopped');
    await this.ensureStarted();
    const id = Math.floor(Math.random() * 1e9);
    const header = Buffer.from(JSON.stringify({
      id, codec: req.codec, extradata: req.extradata?.length ?? 0, sample: req.sample.length, max_width: req.maxWidth, max_height: req.maxHeight,
      format: req.format ?? 'rgb24',
    }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length);
    const answer = this.next(DECODE_TIMEOUT_MS, req.into);
    this.proc!.stdin!.write(Buffer.concat([len, header, req.extradata ?? Buffer.alloc(0), req.sample]));
    const [h, payload] = await answer;
    if (!h.ok) throw new Error(`cannot decode a keyframe: ${h.error ?? 'no reason given'}`);
    const format = req.format ?? 'rgb24';
    const width = h.width ?? 0, height = h.height ?? 0;
    // bytes that are not the picture asked for are refused, never analysed as another format
    if (payload.length !== width * height * CHANNELS[format]) throw new Error(`the frame decoder answered ${payload.length} bytes for a ${width}x${height} ${format} picture`);
    return { width, height, format, data: payload, srcWidth: h.src_width ?? 0, srcHeight: h.src_height ?? 0, cpuMs: h.cpu_ms ?? 0 };
  }

  private ensureStarted(): Promise<void> {
    if (this.starting) return this.starting;
    const wait = Math.max(0, this.retryAt - Date.now());
    this.starting = new Promise<void>((r) => setTimeout(r, wait)).then(() => this.spawnHelper());
    this.starting.catch(() => { this.starting = undefined; });
    return this.starting;
  }

  private async spawnHelper(): Promise<void> {
    if (this.stopped) throw new Error('the frame decoder is stopped');
    const [cmd, args] = withParentDeathSignal(PYTHON, [this.script]);
    const proc = spawn(cmd, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    this.starts++;
    this.buffered = 0;
    this.needed = 4;
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr = (stderr + String(d)).slice(-2000); });
    proc.stdout!.on('data', (d: Buffer) => { if (this.proc === proc) this.onData(d); });
    proc.stdin!.on('error', () => { /* reported as the exit */ });
    this.exited = new Promise((resolve) => proc.once('close', () => resolve()));
    proc.once('error', (err) => { if (this.proc === proc) this.failAll(new Error(`cannot run ${PYTHON}: ${err.message}`)); });
    void this.exited.then(() => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.starting = undefined;
      this.failAll(new Error(`the frame decoder exited${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`));
    });
    const slowMs = this.timing.helloSlowMs ?? HELLO_SLOW_MS;
    const slow = setTimeout(() => this.log?.warn({ pid: proc.pid, waitedMs: slowMs }, 'frame decoder slow to start (a loaded machine); still waiting for it'), slowMs);
    let timedOut = false;
    try {
      const [hello] = await this.next(this.timing.helloLimitMs ?? HELLO_LIMIT_MS, undefined, () => { timedOut = true; });
      if (!hello.ready) throw new Error(hello.error ?? 'the frame decoder did not start');
      this.version = String(hello.av ?? '');
    } catch (err) {
      this.unavailable = (err as Error).message;
      // A helper that cannot run is asked again less and less often; one that was only slow (a
      // loaded machine) is started again soon: backing it off to a minute as well left view
      // analysis, and learning a camera's view, waiting for minutes on a busy box.
      this.retryAt = Date.now() + (timedOut ? RETRY_MS[0]! : RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)]!);
      this.log?.warn({ err: this.unavailable, retryInMs: this.retryAt - Date.now() }, 'frame decoder not available; view analysis waits for it');
      this.kill(proc);
      throw err;
    } finally {
      clearTimeout(slow);
    }
    this.failures = 0;
    this.unavailable = null;
    this.log?.info({ pid: proc.pid }, 'frame decoder started');
  }

  /** The next message from the helper: [header, payload], the payload in `into` when it has its size. */
  private next(timeoutMs: number, into?: DecodeRequest['into'], onTimeout?: () => void): Promise<[HelperHeader, Buffer]> {
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve: (h, p) => resolve([h, p]), reject, into };
      w.timer = setTimeout(() => {
        onTimeout?.();
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`the frame decoder did not answer in ${timeoutMs} ms; restarting it`));
        if (this.proc) this.kill(this.proc);
      }, timeoutMs);
      this.waiters.push(w);
      this.onData(Buffer.alloc(0));
    });
  }

  /**
   * Pipe chunks (64 KiB) are copied into one receive buffer, kept from message to message, and a
   * picture is copied out of it once, into the waiter's own buffer when it has one. Joining each
   * chunk onto what came before copied a decoded frame a dozen times over (at 64 cameras more of
   * the event loop than indexing); a new 0.7 MB buffer per picture, kept until the camera's next
   * sample, is old by then: garbage outside the heap that only a full collection frees.
   */
  private onData(d: Buffer): void {
    if (d.length) {
      if (this.rx.length < this.buffered + d.length) {
        const grown = Buffer.allocUnsafe(Math.max(this.buffered + d.length, this.rx.length * 2, 64 * 1024));
        this.rx.copy(grown, 0, 0, this.buffered);
        this.rx = grown;
      }
      d.copy(this.rx, this.buffered);
      this.buffered += d.length;
    }
    while (this.waiters.length && this.buffered >= this.needed) {
      const buf = this.rx;
      const n = buf.readUInt32BE(0);
      if (this.buffered < 4 + n) { this.needed = 4 + n; return; }
      let header: HelperHeader;
      try {
        header = JSON.parse(buf.subarray(4, 4 + n).toString()) as HelperHeader;
      } catch {
        this.failAll(new Error('the frame decoder wrote something unreadable'));
        if (this.proc) this.kill(this.proc);
        return;
      }
      const bytes = Number(header.bytes ?? 0);
      const end = 4 + n + bytes;
      if (this.buffered < end) { this.needed = end; return; }
      const w = this.waiters.shift()!;
      // copied out now: the receive buffer is written over by the next message
      const into = typeof w.into === 'function' ? w.into() : w.into;
      const payload = into?.length === bytes ? into : Buffer.allocUnsafe(bytes);
      buf.copy(payload, 0, 4 + n, end);
      buf.copyWithin(0, end, this.buffered);
      this.buffered -= end;
      this.needed = 4;
      clearTimeout(w.timer);
      w.resolve(header, payload);
    }
  }

  private failAll(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) { clearTimeout(w.timer); w.reject(err); }
  }

  private kill(proc: ChildProcess): void {
    killGroup(proc, 'SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const proc = this.proc;
    if (!proc) return;
    proc.stdin!.end();
    if (!(await waitForExit(this.exited!, 2000))) killGroup(proc, 'SIGKILL');
    await this.exited;
  }
}
