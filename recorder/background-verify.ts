/**
 * Background verification: a rolling pass over the segments chain that re-hashes every stored
 * file at a bounded read rate (`integrity.verify_read_mb_s`, small enough for an SD card, so it
 * never starves recording) and re-checks each row's link. What it finds is an
 * `integrity_violation` event (what, where), raised once per finding; a vanished file is also
 * flagged `missing` (with its ledger entry). Progress and the last full pass are kept in meta
 * `integrity.verify`, for MQTT health and `edge-nvr status`, and a restart resumes where the
 * pass was.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Catalog, SegmentRow } from './catalog/catalog.js';
import { ChainWalker } from './catalog/chain.js';
import { GENESIS, segmentHash } from './catalog/hash-chain.js';
import { sleepUnlessAborted } from '../common/deadlines.js';

export const VERIFY_META = 'integrity.verify';
const PAGE = 50;
const CHUNK = 256 * 1024;
const SAVE_EVERY_MS = 15_000;
const REPORTED_MAX = 1000;
const MISSING_AT_START_EVENTS = 100;

export interface VerifierProgress {
  rate_mb_s: number;
  pass_started_ms: number | null;
  /** the last segment id this pass got to */
  cursor: number;
  pass_segments: number;
  pass_bytes: number;
  last_full_pass_ms: number | null;
  last_full_pass_segments: number | null;
  last_full_pass_s: number | null;
  violations: number;
}

export interface Violation { what: 'modified' | 'missing' | 'chain'; segment: number; camera: string; path: string; detail: string }

export interface VerifierOptions {
  readMbPerS: number;
  onViolation: (v: Violation) => void;
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void; error(o: object, msg: string): void };
  /** the least time between the starts of two passes (default 10 min) */
  minPassMs?: number;
}


export class BackgroundVerifier {
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private progress: VerifierProgress;
  private readonly reported: Set<string>;
  private lastSave = 0;

  constructor(private readonly dataDir: string, private readonly catalog: Catalog, private readonly opts: VerifierOptions) {
    const saved = readProgress(catalog);
    this.progress = { ...(saved ?? emptyProgress()), rate_mb_s: opts.readMbPerS };
    this.reported = new Set(JSON.parse(catalog.getMeta(`${VERIFY_META}.reported`) ?? '[]') as string[]);
  }

  start(): this {
    if (this.opts.readMbPerS > 0) this.running ??= this.loop().catch((err: unknown) => this.opts.log.error({ err }, 'background verification stopped'));
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    if (this.catalog.db.open) this.save(true);
  }

  status(): VerifierProgress {
    return { ...this.progress };
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    const minPass = this.opts.minPassMs ?? 10 * 60_000;
    while (!signal.aborted) {
      const p = this.progress;
      if (p.pass_started_ms === null) {
        const wait = (p.last_full_pass_ms ?? 0) - (p.last_full_pass_s ?? 0) * 1000 + minPass - Date.now();
        if (wait > 0) await sleepUnlessAborted(Math.min(wait, minPass), signal);
        if (signal.aborted) return;
        Object.assign(p, { pass_started_ms: Date.now(), cursor: 0, pass_segments: 0, pass_bytes: 0 });
      }
      await this.pass(signal);
    }
  }

  /** Walks from the cursor to the end of the chain, then closes the pass. */
  private async pass(signal: AbortSignal): Promise<void> {
    const p = this.progress;
    const walker = new ChainWalker<SegmentRow>((r) => ({ id: r.id, prev: r.prev_hash, hash: r.chain_hash }),
      (r, prev) => segmentHash(prev, r, this.catalog.segmentsV2From), { noun: 'segment', maxProblems: 0 });
    const resumed = p.cursor > 0 ? this.catalog.segment(p.cursor) : undefined;
    if (resumed) walker.resumeAfter(resumed.id, resumed.chain_hash);
    else if (p.cursor > 0) walker.resumeAfter(p.cursor, GENESIS); // the row is gone: the next one is reported
    for (;;) {
      if (signal.aborted) return;
      // a page at a time, yielding between pages: a run of deleted rows hashes nothing but must
      // not hold the event loop either
      await new Promise((r) => setImmediate(r));
      const rows = this.catalog.segmentsAfter(p.cursor, PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (signal.aborted) return;
        for (const problem of walker.step(row)) this.violation({ what: 'chain', segment: row.id, camera: row.camera, path: row.path, detail: problem.detail });
        if (row.state === 'ok') await this.checkFile(row, signal);
        if (signal.aborted) return;
        p.cursor = row.id;
        p.pass_segments++;
        this.save(false);
      }
    }
    const now = Date.now();
    Object.assign(p, {
      last_full_pass_ms: now, last_full_pass_segments: p.pass_segments, last_full_pass_s: Math.round((now - (p.pass_started_ms ?? now)) / 1000),
      pass_started_ms: null,
    });
    this.opts.log.info({ segments: p.pass_segments, bytes: p.pass_bytes, seconds: p.last_full_pass_s }, 'background verification: full pass done');
    this.save(true);
  }

  /** Reads the file at the configured rate and compares its hash; a vanished one is flagged missing. */
  private async checkFile(row: SegmentRow, signal: AbortSignal): Promise<void> {
    const bytesPerMs = (this.opts.readMbPerS * 1e6) / 1000;
    let fh;
    try {
      fh = await open(join(this.dataDir, row.path), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return;
      // retention may have deleted it since the page was read
      const now = this.catalog.segment(row.id);
      if (now?.state !== 'ok') return;
      this.catalog.flagMissing([row], 'file not found by background verification');
      this.violation({ what: 'missing', segment: row.id, camera: row.camera, path: row.path, detail: 'the file is gone' });
      return;
    }
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    const started = performance.now();
    let read = 0;
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, read);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        read += bytesRead;
        this.progress.pass_bytes += bytesRead;
        const ahead = read / bytesPerMs - (performance.now() - started);
        if (ahead > 0) await sleepUnlessAborted(ahead, signal);
        if (signal.aborted) return;
      }
    } finally {
      await fh.close();
    }
    const sha = hash.digest('hex');
    if (sha !== row.sha256) {
      const now = this.catalog.segment(row.id);
      if (now?.state !== 'ok') return;
      this.violation({ what: 'modified', segment: row.id, camera: row.camera, path: row.path, detail: `sha256 ${sha.slice(0, 16)}… differs from the catalogued ${row.sha256.slice(0, 16)}…` });
    }
  }

  /**
   * Files found gone at start-up (recovery flagged them missing): the same event and count as
   * a file the pass finds gone. They had been a log line only, with status saying "0 violations"
   * (an outside probe). At most MISSING_AT_START_EVENTS events: a whole directory removed is
   * one log line and the count, not thousands of events.
   */
  missingAtStart(rows: SegmentRow[]): void {
    for (const row of rows.slice(0, MISSING_AT_START_EVENTS)) {
      this.violation({ what: 'missing', segment: row.id, camera: row.camera, path: row.path, detail: 'the file was gone at start-up' }, 'at start-up');
    }
    if (rows.length > MISSING_AT_START_EVENTS) {
      this.progress.violations += rows.length - MISSING_AT_START_EVENTS;
      this.opts.log.error({ missing: rows.length, events: MISSING_AT_START_EVENTS }, `${rows.length} catalogued segments were gone at start-up; events raised for the first ${MISSING_AT_START_EVENTS}`);
      this.save(true);
    }
  }

  private violation(v: Violation, found = 'by background verification'): void {
    const key = `${v.what}:${v.segment}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    while (this.reported.size > REPORTED_MAX) this.reported.delete(this.reported.values().next().value!);
    this.progress.violations++;
    this.opts.log.warn({ ...v }, `integrity violation found ${found}`);
    this.opts.onViolation(v);
    this.save(true);
  }

  private save(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastSave < SAVE_EVERY_MS) return;
    this.lastSave = now;
    try {
      this.catalog.db.transaction(() => {
        this.catalog.setMeta(VERIFY_META, JSON.stringify(this.progress));
        this.catalog.setMeta(`${VERIFY_META}.reported`, JSON.stringify([...this.reported]));
      }).immediate();
    } catch (err) {
      this.opts.log.warn({ err }, 'cannot save the background verification progress');
    }
  }
}

function emptyProgress(): VerifierProgress {
  return { rate_mb_s: 0, pass_started_ms: null, cursor: 0, pass_segments: 0, pass_bytes: 0, last_full_pass_ms: null, last_full_pass_segments: null, last_full_pass_s: null, violations: 0 };
}

/** The progress the daemon last saved (status reads it without a daemon). */
export function readProgress(catalog: Catalog): VerifierProgress | undefined {
  const v = catalog.getMeta(VERIFY_META);
  if (!v) return undefined;
  try { return { ...emptyProgress(), ...(JSON.parse(v) as Partial<VerifierProgress>) }; } catch { return undefined; }
}
