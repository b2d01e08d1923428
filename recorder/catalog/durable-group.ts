import type { Catalog } from './catalog.js';

interface Waiting {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Durable writes that arrive in the same turn of the event loop, committed as one: a single
 * transaction under Catalog.durably(), so one WAL fsync for all of them instead of one each (on
 * a new box every camera's first stream is pinned with an audit entry within the start-up's
 * first seconds: 64 fsyncs on the event loop, 1.4 s of its first 20 on a loaded 2-core box).
 * Each write runs in a savepoint of its own, so one that throws is rolled back alone and only
 * its caller hears of it. Every caller hears back after the commit has returned, that is after
 * the fsync: nothing is acted on before it is on the disk, and nothing reads the rows before
 * then either (they are not committed). A crash before the commit leaves none of the group.
 */
export class DurableGroup {
  private waiting: Waiting[] = [];

  constructor(private readonly catalog: Catalog) {}

  /** Runs `write` (catalog writes, no awaits) with the others of this turn; resolves once they are durable. */
  add<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.push({ write, resolve: resolve as (v: unknown) => void, reject }) === 1) setImmediate(() => this.commit());
    });
  }

  private commit(): void {
    const group = this.waiting.splice(0);
    const db = this.catalog.db;
    let outcomes: Array<{ value: unknown } | { err: unknown }>;
    try {
      outcomes = this.catalog.durably(() => db.transaction(() => group.map(({ write }) => {
        try {
          return { value: db.transaction(write)() }; // nested: a savepoint
        } catch (err) {
          return { err };
        }
      })).immediate());
    } catch (err) {
      for (const w of group) w.reject(err);
      return;
    }
    group.forEach((w, i) => {
      const o = outcomes[i]!;
      if ('err' in o) w.reject(o.err);
      else w.resolve(o.value);
    });
  }
}
