import { settleWithin } from '../../common/deadlines.js';

/** What the queue asks of the segment store: is a closed segment waiting, and when are those waiting now indexed. */
export interface IndexingState {
  /** how long the oldest closed segment not yet in the catalog has waited (ms; 0 when none) */
  readonly waitingMs: number;
  /** resolves once every commit asked for so far is in the catalog (or failed) */
  drain(): Promise<void>;
}

/**
 * One queue for every recorder's spawn, indexing first. A spawn blocks the event loop for the
 * fork and the wait for the child's exec (50-80 ms each on a loaded 2-core box), and a closed
 * segment needs about ten turns of the loop (pool trips) between its end and its row: at
 * start-up, with 64 recorders spawned one after another while the first cameras' segments
 * already close, each of those turns waited behind a spawn. So before each spawn the queue gives
 * the loop a turn and, when a closed segment is waiting for the catalog, waits until the commits
 * waiting then are indexed (not those that arrive meanwhile) — but never longer than `boundMs`
 * after the spawn was asked for. Every camera asks at its start, so none starts more than
 * `boundMs` later than it would without the queue (besides the spawns ahead of it, as before).
 */
export class SpawnQueue {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly indexing: IndexingState, readonly boundMs: number) {}

  /**
   * Runs `spawn` once the spawns asked for before it have run and the segments waiting then are
   * indexed, or `boundMs` after this call, whichever is first. Nothing else of the queue runs
   * between the wait and `spawn`.
   */
  run<T>(spawn: () => T): Promise<T> {
    const askedAt = performance.now();
    const turn = this.tail.then(() => this.clear(askedAt)).then(spawn);
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private async clear(askedAt: number): Promise<void> {
    // one turn of the loop between two spawns, as the daemon gave before the queue
    await new Promise((resolve) => setImmediate(resolve));
    const left = this.boundMs - (performance.now() - askedAt);
    if (left <= 0 || this.indexing.waitingMs === 0) return;
    await settleWithin(this.indexing.drain(), left, undefined);
  }
}
