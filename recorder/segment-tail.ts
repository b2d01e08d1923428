import { EventEmitter } from 'node:events';
import { open, readdir, type FileHandle } from 'node:fs/promises';
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
  pollMs?: number;
  /** asked once per fragment that holds a keyframe: read it or not */
  wantKeyframe: () => boolean;
  onError?: (err: Error) => void;
}

interface Open {
  name: string;
  fh: FileHandle;
  pos: number;
  track: VideoTrack | null;
  pending: FragmentSample[] | null;
  /** fragments that end before this were written before we looked: history, not sampled */
  historyEnd: number;
}

/**
 * Follows a camera's recording as it grows, read-only: the newest file in its staging dir is
 * read fragment by fragment, never blocking or slowing the recorder (it only reads what the
 * recorder has already written, from the page cache). It reports the stream's track (codec,
 * size), each fragment's sample count and length (the measured frame rate), and, when asked,
 * one keyframe's bytes. A file that leaves staging (committed) is finished from its open
 * descriptor, so no fragment is missed across a segment boundary.
 */
export class SegmentTail extends EventEmitter<SegmentTailEvents> {
  private timer?: NodeJS.Timeout;
  private cur?: Open;
  private polling = false;
  private stopped = false;
  private readonly header = Buffer.alloc(16);

  constructor(readonly dir: string, private readonly opts: SegmentTailOptions) {
    super();
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? 500);
    void this.poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.polling) await new Promise((r) => setTimeout(r, 20));
    await this.close();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const newest = await this.newestStaged();
      if (this.cur && newest !== this.cur.name) {
        // finish what the recorder completed in the old file, then move on
        await this.read(this.cur);
        await this.close();
      }
      if (!this.cur && newest) await this.openFile(newest);
      if (this.cur) await this.read(this.cur);
    } catch (err) {
      this.opts.onError?.(err as Error);
    } finally {
      this.polling = false;
    }
  }

  private async newestStaged(): Promise<string | undefined> {
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

  private async openFile(name: string): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(`${this.dir}/${name}`, 'r');
    } catch {
      return; // committed between the listing and the open
    }
    const size = (await fh.stat()).size;
    this.cur = { name, fh, pos: 0, track: null, pending: null, historyEnd: size };
  }

  private async close(): Promise<void> {
    const cur = this.cur;
    this.cur = undefined;
    await cur?.fh.close().catch(() => undefined);
  }

  /** Walks the complete top-level boxes after `pos`; an incomplete one waits for the next poll. */
  private async read(f: Open): Promise<void> {
    const size = (await f.fh.stat()).size;
    while (!this.stopped && size - f.pos >= 8) {
      const { bytesRead } = await f.fh.read(this.header, 0, 16, f.pos);
      const h = boxHeader(this.header.subarray(0, bytesRead));
      if (!h || h.size < h.headerSize) return;
      // a box running to the end of the file (mdat of a non-fragmented writer) cannot be followed
      if (!Number.isFinite(h.size) || f.pos + h.size > size) return;
      if (h.type === 'moov' || h.type === 'moof') {
        const payload = Buffer.alloc(h.size - h.headerSize);
        await f.fh.read(payload, 0, payload.length, f.pos + h.headerSize);
        if (h.type === 'moov') {
          f.track = parseMoov(payload);
          if (f.track) this.emit('track', f.track);
        } else if (f.track) {
          f.pending = parseMoof(payload, f.pos, f.track);
        }
      } else if (h.type === 'mdat' && f.pending && f.track) {
        await this.fragment(f, f.track, f.pending, f.pos + h.size);
        f.pending = null;
      }
      f.pos += h.size;
    }
  }

  private async fragment(f: Open, track: VideoTrack, samples: FragmentSample[], end: number): Promise<void> {
    const ticks = samples.reduce((sum, s) => sum + s.duration, 0);
    this.emit('fragment', { samples: samples.length, durationS: track.timescale ? ticks / track.timescale : 0 });
    if (end <= f.historyEnd) return;
    const key = samples.find((s) => s.keyframe);
    if (!key || !this.opts.wantKeyframe()) return;
    const data = Buffer.alloc(key.size);
    const { bytesRead } = await f.fh.read(data, 0, key.size, key.offset);
    if (bytesRead === key.size) this.emit('keyframe', { track, data, atMs: Date.now() });
  }
}
