/**
 * The one walker of every chained log (segments, ledger, audit log), a pure function over rows:
 * it imports nothing but the genesis constant, so `verify`, the background verifier, the audit
 * log, the benchmarks and an offline evidence verifier all walk chains the same way.
 *
 * A chain is rows with contiguous ids from 1, each carrying the hash of the row before
 * (`prev`) and its own (`hash`), which `recompute(row, prev)` must reproduce. The walker names:
 * - `removed`: ids missing between two rows (or before the first);
 * - `inserted`: a row whose `prev` is not the hash of the row before it (a row put in, or the
 *   rows before it replaced);
 * - `altered`: a row whose fields no longer give its hash.
 * After a broken link it carries on from the row's own hash, so one edit is one finding.
 */
import { GENESIS } from './hash-chain.js';

export interface ChainLink {
  id: number;
  prev: string;
  hash: string;
}

export interface ChainProblem {
  id: number;
  kind: 'removed' | 'inserted' | 'altered';
  detail: string;
}

export interface ChainWalk {
  /** rows seen */
  entries: number;
  /** the last row's id (the chain's length when nothing was removed); 0 when empty */
  length: number;
  /** the last row's hash; GENESIS when empty */
  head: string;
  problems: ChainProblem[];
  /** the hash of each row whose id was asked for in `at` */
  at: Map<number, string>;
}

export interface WalkOptions {
  /** what a row is called in problems: "segment", "ledger entry", "audit entry" */
  noun?: string;
  /** ids whose hashes to report (anchors, checkpoints) */
  at?: Iterable<number>;
  /** keep at most this many problems (the count goes on) */
  maxProblems?: number;
}

/** Walks a chain one row at a time (the background verifier feeds it as it reads). */
export class ChainWalker<R> {
  private prev = GENESIS;
  private expected = 1;
  private readonly wanted: Set<number>;
  private readonly noun: string;
  private readonly max: number;
  readonly result: ChainWalk = { entries: 0, length: 0, head: GENESIS, problems: [], at: new Map() };
  problemCount = 0;

  constructor(private readonly link: (row: R) => ChainLink, private readonly recompute: (row: R, prev: string) => string, opts: WalkOptions = {}) {
    this.wanted = new Set(opts.at ?? []);
    this.noun = opts.noun ?? 'entry';
    this.max = opts.maxProblems ?? 10_000;
  }

  /** Resume after a row already walked (its id and hash). */
  resumeAfter(id: number, hash: string): this {
    this.expected = id + 1;
    this.prev = hash;
    return this;
  }

  step(row: R): ChainProblem[] {
    const { id, prev, hash } = this.link(row);
    const found: ChainProblem[] = [];
    const n = this.noun;
    if (id !== this.expected) {
      found.push({ id, kind: 'removed', detail: id > this.expected ? `${n} #${this.expected}${id > this.expected + 1 ? `..#${id - 1}` : ''} removed` : `${n} #${id} out of order` });
    }
    if (prev !== this.prev) found.push({ id, kind: 'inserted', detail: `${n} #${id} does not follow the ${n} before it` });
    else if (this.recompute(row, prev) !== hash) found.push({ id, kind: 'altered', detail: `${n} #${id} was altered` });
    const r = this.result;
    r.entries++;
    r.length = id;
    r.head = hash;
    if (this.wanted.has(id)) r.at.set(id, hash);
    this.prev = hash;
    this.expected = id + 1;
    this.problemCount += found.length;
    for (const p of found) if (r.problems.length < this.max) r.problems.push(p);
    return found;
  }
}

export function walkChain<R>(rows: Iterable<R>, link: (row: R) => ChainLink, recompute: (row: R, prev: string) => string, opts: WalkOptions = {}): ChainWalk {
  const w = new ChainWalker(link, recompute, opts);
  for (const row of rows) w.step(row);
  return w.result;
}

/** Rows of a table in id order, fetched a page at a time, so no statement stays open while the
 * caller works (better-sqlite3 allows no other statement during an iteration). */
export function* paged<R extends { id: number }>(fetch: (afterId: number, limit: number) => R[], pageSize = 2000): Generator<R> {
  let after = 0;
  for (;;) {
    const rows = fetch(after, pageSize);
    yield* rows;
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.id;
  }
}
