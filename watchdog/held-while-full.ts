/**
 * What the catalog could not take while the data disk was full, kept for the next start.
 *
 * On a disk filled to the last byte (by something else, or by recordings still under the legal
 * minimum, which retention may not delete), SQLite cannot write a camera's `disk_full` gap nor the
 * daemon's sign of life. The supervisor keeps the gap in memory until the catalog has room; a
 * daemon stopped or killed before then lost it, and the next start called the whole time
 * `daemon_down` from the last sign of life written before the disk filled (an outside probe).
 *
 * This file's bytes are written while there is room, and later written over in place, which a full
 * disk cannot refuse (its blocks are already the file's: not on a copy-on-write file system). It
 * holds the gaps still unwritten, the last sign of life that could not be written, and whether
 * the clean stop could not be recorded; `openDaemonGaps` puts them into the catalog at the next
 * start and empties it.
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileDurably } from '../common/durable-write.js';

export const HELD_FILE = 'catalog.held';
/** 64 cameras with a gap each, their details cut to DETAIL_CHARS, fit with room to spare */
const HELD_BYTES = 64 * 1024;
const DETAIL_CHARS = 300;

export interface HeldGap { start_ms: number; cause: string; detail: string | null }
export interface HeldState {
  /** a sign of life the catalog refused (ms) */
  alive_ms?: number;
  /** the clean stop the catalog refused */
  stopped?: boolean;
  gaps: Record<string, HeldGap>;
}

const empty = (): HeldState => ({ gaps: {} });

export class HeldWhileFull {
  private state: HeldState = empty();
  private readonly path: string;
  private failing = false;

  constructor(dataDir: string, private readonly log?: Logger) {
    this.path = join(dataDir, HELD_FILE);
  }

  /** What the last run held (read before `prepare`, which empties it). */
  static read(dataDir: string): HeldState {
    try {
      const text = readFileSync(join(dataDir, HELD_FILE), 'utf8').trim();
      if (!text) return empty();
      const parsed = JSON.parse(text) as Partial<HeldState>;
      return { ...parsed, gaps: parsed.gaps && typeof parsed.gaps === 'object' ? parsed.gaps : {} };
    } catch {
      return empty(); // none, or torn by a power cut: nothing can be claimed from it
    }
  }

  /** Makes the file its full size while there is room (emptied when it exists). Never throws. */
  prepare(): void {
    try {
      if (statSync(this.path, { throwIfNoEntry: false })?.size === HELD_BYTES) return this.write();
      writeFileDurably(this.path, Buffer.alloc(HELD_BYTES, 0x20), { mode: 0o600 });
    } catch (err) {
      this.log?.warn({ err, path: this.path }, 'cannot make the file that keeps what a full disk holds back; a full disk\'s gaps may read as the daemon\'s');
    }
  }

  gap(camera: string, gap: HeldGap | undefined): void {
    if (gap) {
      this.state.gaps[camera] = { ...gap, detail: gap.detail?.slice(0, DETAIL_CHARS) ?? null };
      // a sign of life too: a kill before the next one (every 10 s) left the gap ending where
      // the last one the catalog took was, before the disk filled, and it was dropped (an outside probe)
      this.state.alive_ms = Math.max(this.state.alive_ms ?? 0, Date.now());
    } else if (this.state.gaps[camera]) delete this.state.gaps[camera];
    else return;
    this.write();
  }

  alive(atMs: number): void {
    this.state.alive_ms = atMs;
    this.write();
  }

  stopped(atMs: number): void {
    this.state.alive_ms = atMs;
    this.state.stopped = true;
    this.write();
  }

  /** Over the file's own bytes, never past them; a file that could not be made keeps nothing. */
  private write(): void {
    const text = JSON.stringify(this.state);
    if (Buffer.byteLength(text) > HELD_BYTES) return void this.log?.error({ path: this.path }, 'what the full disk holds back does not fit its file');
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'r+');
      if (statSync(this.path).size !== HELD_BYTES) return;
      const buf = Buffer.alloc(HELD_BYTES, 0x20);
      buf.write(text);
      writeSync(fd, buf, 0, HELD_BYTES, 0);
      fdatasyncSync(fd);
      this.failing = false;
    } catch (err) {
      // once per run of failures: a read-only disk refuses this too, at every sign of life
      if (!this.failing) this.log?.warn({ err, path: this.path }, 'cannot keep what the full disk holds back');
      this.failing = true;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
