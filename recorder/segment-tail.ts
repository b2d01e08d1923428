import { EventEmitter } from 'node:events';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { boxHeader, parseMoof, parseMoov, type FragmentSample, type VideoTrack } from './mp4-fragments.js';
import { parseStagedName } from './segment-store.js';

export interface TailFragment {
  samples: number;
  /** media seconds the fragment covers */
  durationS: number;
}

export interface TailKeyframe {
  track: VideoTrack;
  /** the sample as stored: length-prefixed NAL units, decoded with `track.config` */
  data: Buffer;
  /** wall-clock ms when it was read (one fragment after it was recorded, at most) */
  atMs: number;
}

interface SegmentTailEvents {
  track: [VideoTrack];
  fragment: [TailFragment];
  keyframe: [TailKeyframe];
}

export interface SegmentTailOptions {
  /** look for new data every this many ms; 0: only when told (`written`, `closed`) */
  pollMs?: number;
  /** asked once per fragment that holds a keyframe: read it or not */
  wantKeyframe: () => boolean;
  /**
   * Asked when told `written`: true while no keyframe will be wanted soon, only the track and the
   * fragments' frame counts, which keep: the file is then read at most every IDLE_READ_MS instead
   * of at every report (one read of a few seconds instead of one a second). Absent: every report.
   */
  mayWait?: () => boolean;
  onError?: (err: Error) => void;
}

interface Open {
  name: string;
  fh: FileHandle;
  pos: number;
  /** the file's size when last read */
  size: number;
  track: VideoTrack | null;
  pending: FragmentSample[] | null;
  /** fragments that end before this were written before we looked: history, not sampled */
  historyEnd: number;
}

/** what one read of a growing file takes at most: a second of a 4 Mbit/s camera, and more */
const READ_CHUNK = 512 * 1024;
/** growing files read at once, every camera's together: libuv's other pool threads stay free for indexing (fsyncs, hashing) */
const READS_AT_ONCE = 2;
const readBuffers: Buffer[] = [];
const readWaiters: Array<() => void> = [];
let readsNow = 0;

/** Runs `work` with one of READS_AT_ONCE reused buffers (no buffer allocated per read, nor per camera). */
async function withReadBuffer<T>(work: (buf: Buffer) => Promise<T>): Promise<T> {
  while (readsNow >= READS_AT_ONCE) await new Promise<void>((resolve) => readWaiters.push(resolve));
  readsNow++;
  const buf = readBuffers.pop() ?? Buffer.allocUnsafe(READ_CHUNK);
  try {
    return await work(buf);
  } finally {
    readBuffers.push(buf);
    readsNow--;
    readWaiters.shift()?.();
  }
}

/** a file the recorder was said to be writing that did not grow over this many `written` calls: look for a newer one */
const STALE_WRITES = 3;
/**
 * How long a `written` may go unread while nothing but the track and the frame rate is wanted
 * (`mayWait`): what changes in that time waits at most this long to be seen (a new stream shape,
 * the measured frame rate over its 10 s window). At 64 cameras a read at every report was a third
 * of the Node process's CPU in recording alone (bench/README.md).
 */
const IDLE_READ_MS = 5000;

/**
 * Follows a camera's recording as it grows, read-only: the newest file in its staging dir is
 * read fragment by fragment, never blocking or slowing the recorder (it only reads what the
 * recorder has already written, from the page cache). It reports the stream's track (codec,
 * size), each fragment's sample count and length (the measured frame rate), and, when asked,
 * one keyframe's bytes. A file that leaves staging (committed) is finished from its open
 * descriptor, so no fragment is missed across a segment boundary.
 *
 * When to look: told by the recorder (`written`: it reported media progress, about once a
 * second; `closed`: it closed a segment), or, without a recorder to tell it, every `pollMs`.
 * Told, it lists the staging dir only when it has no file open or the open one stopped growing
 * (a recorder killed before it reported its last segment); after a close it opens the next
 * sequence number of the same run directly. At 64 cameras listing and polling every camera's
 * dir twice a second was a tenth of the daemon's event loop.
 */
export class SegmentTail extends EventEmitter<SegmentTailEvents> {
  private timer?: NodeJS.Timeout;
  private cur?: Open;
  private polling = false;
  private again = false;
  private stopped = false;
  /** staged names the recorder said it closed, not yet finished here */
  private readonly closedNames = new Set<string>();
  /** `written` calls in a row that found the open file no larger */
  private unchanged = 0;
  private listings = 0;
  private looks = 0;
  private lastLookMs = 0;
  /** the newest wanted keyframe of the read under way: offered when the read ends, so a read that caught up on several fragments offers its newest */
  private newestKey?: TailKeyframe;

  constructor(readonly dir: string, private readonly opts: SegmentTailOptions) {
    super();
  }

  /** how many times the staging dir was listed (tests, benchmarks) */
  get dirListings(): number {
    return this.listings;
  }

  start(): void {
    this.stopped = false;
    const every = this.opts.pollMs ?? 500;
    if (every > 0) this.timer = setInterval(() => void this.poll(), every);
    void this.poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.polling) await new Promise((r) => setTimeout(r, 20));
    await this.close();
  }

  /** how many times the growing file was looked at (tests, benchmarks) */
  get fileLooks(): number {
    return this.looks;
  }

  /**
   * The recorder reported media written: read what is new, or, while nothing is wanted soon
   * (`mayWait`), only every IDLE_READ_MS. A file that did not grow at the last look is looked at
   * again at once: the recorder may have moved on to a file it did not report (STALE_WRITES).
   */
  written(): void {
    if (this.cur && this.unchanged === 0 && Date.now() - this.lastLookMs < IDLE_READ_MS && this.opts.mayWait?.()) return;
    void this.poll();
  }

  /** The recorder closed this staged file: finish it, then follow the next. */
  closed(stagedPath: string): void {
    this.closedNames.add(basename(stagedPath));
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true; // told while reading: read once more after
      return;
    }
    this.polling = true;
    try {
      do {
        this.again = false;
        await this.step();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.opts.onError?.(err as Error);
    } finally {
      this.polling = false;
    }
  }

  private async step(): Promise<void> {
    const told = (this.opts.pollMs ?? 500) === 0;
    if (this.cur && this.closedNames.has(this.cur.name)) {
      // finish what the recorder completed in the closed file, then open its successor by name
      const done = this.cur;
      await this.read(done);
      await this.close();
      this.closedNames.delete(done.name);
      const p = parseStagedName(done.name);
      // followed without a pause: what the successor already holds is news, not history
      if (p) await this.openFile(`${p.runStartMs}-${String(p.seq + 1).padStart(6, '0')}.mp4`, true);
    }
    if (!told || !this.cur || this.unchanged >= STALE_WRITES) {
      this.unchanged = 0;
      const newest = await this.newestStaged();
      if (this.cur && newest !== this.cur.name) {
        await this.read(this.cur);
        await this.close();
      }
      if (!this.cur && newest) await this.openFile(newest);
    }
    if (this.cur) {
      this.looks++;
      this.lastLookMs = Date.now();
      const grew = await this.read(this.cur);
      this.unchanged = grew ? 0 : this.unchanged + 1;
    }
    // names closed before we ever opened them are history
    if (this.closedNames.size > 4) this.closedNames.clear();
  }

  private async newestStaged(): Promise<string | undefined> {
    this.listings++;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return undefined;
    }
    let best: { name: string; run: number; seq: number } | undefined;
    for (const name of names) {
      const p = parseStagedName(name);
      if (p && (!best || p.runStartMs > best.run || (p.runStartMs === best.run && p.seq > best.seq))) best = { name, run: p.runStartMs, seq: p.seq };
    }
    return best?.name;
  }

  private async openFile(name: string, continued = false): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(`${this.dir}/${name}`, 'r');
    } catch {
      return; // committed between the listing and the open
    }
    const size = (await fh.stat()).size;
    this.cur = { name, fh, pos: 0, size: 0, track: null, pending: null, historyEnd: continued ? 0 : size };
  }

  private async close(): Promise<void> {
    const cur = this.cur;
    this.cur = undefined;
    await cur?.fh.close().catch(() => undefined);
  }

  /**
   * Walks the complete top-level boxes after `pos`, reading the file in big chunks (one read for
   * what a camera wrote in a second, usually; its size from how much the read returned, no
   * fstat): what is incomplete waits for the next look. True when the file grew. The newest
   * wanted keyframe it found is offered at the end: a read catching up on several fragments
   * (`mayWait`) offers the newest picture, not the first.
   */
  private async read(f: Open): Promise<boolean> {
    try {
      return await this.readBoxes(f);
    } finally {
      const key = this.newestKey;
      this.newestKey = undefined;
      if (key && !this.stopped) this.emit('keyframe', key);
    }
  }

  private readBoxes(f: Open): Promise<boolean> {
    return withReadBuffer(async (buf) => {
      let grew = false;
      while (!this.stopped) {
        const { bytesRead } = await f.fh.read(buf, 0, buf.length, f.pos);
        const full = bytesRead === buf.length;
        // a read that did not fill the buffer ended at the end of the file
        if (full || f.pos + bytesRead > f.size) grew = true;
        if (!full) f.size = f.pos + bytesRead;
        const chunk = buf.subarray(0, bytesRead);
        let at = 0;
        while (chunk.length - at >= 8) {
          const h = boxHeader(chunk, at);
          if (!h) break; // a 64-bit size cut by the chunk: read again from here
          // a box running to the end of the file (mdat of a non-fragmented writer) cannot be followed
          if (h.size < h.headerSize || !Number.isFinite(h.size)) return grew;
          const boxEnd = at + h.size;
          if (boxEnd > chunk.length && !(await this.complete(f, f.pos + boxEnd, full))) break;
          if (h.type === 'moov' || h.type === 'moof') {
            if (boxEnd > chunk.length) {
              if (at > 0) break; // read again from its start
              return grew; // a box larger than the read buffer: not a stream this can follow
            }
            const payload = chunk.subarray(at + h.headerSize, boxEnd);
            if (h.type === 'moov') {
              f.track = parseMoov(payload);
              if (f.track) this.emit('track', f.track);
            } else if (f.track) {
              f.pending = parseMoof(payload, f.pos + at, f.track);
            }
          } else if (h.type === 'mdat' && f.pending && f.track) {
            await this.fragment(f, f.track, f.pending, f.pos + boxEnd, { from: f.pos, bytes: chunk });
            f.pending = null;
          }
          at = boxEnd;
        }
        f.pos += at;
        if (!full || at === 0) return grew;
      }
      return grew;
    });
  }

  /** Whether the file holds `end` bytes: known from a read that stopped short, else asked. */
  private async complete(f: Open, end: number, readWasFull: boolean): Promise<boolean> {
    if (!readWasFull) return end <= f.size;
    f.size = (await f.fh.stat()).size;
    return end <= f.size;
  }

  private async fragment(f: Open, track: VideoTrack, samples: FragmentSample[], end: number, read: { from: number; bytes: Buffer }): Promise<void> {
    let ticks = 0;
    for (const s of samples) ticks += s.duration;
    this.emit('fragment', { samples: samples.length, durationS: track.timescale ? ticks / track.timescale : 0 });
    if (end <= f.historyEnd) return;
    const key = samples.find((s) => s.keyframe);
    if (!key || !this.opts.wantKeyframe()) return;
    const at = key.offset - read.from;
    // copied out of the shared read buffer, or read on its own when the chunk did not hold it
    let data: Buffer;
    if (at >= 0 && at + key.size <= read.bytes.length) {
      data = Buffer.from(read.bytes.subarray(at, at + key.size));
    } else {
      data = Buffer.alloc(key.size);
      const { bytesRead } = await f.fh.read(data, 0, key.size, key.offset);
      if (bytesRead !== key.size) return;
    }
    this.newestKey = { track, data, atMs: Date.now() };
  }
}
