/**
 * bench/work-probe: how much work the daemon's main thread does, counted. Benchmark-only: loaded
 * into the daemon by `bench/record.ts --work-probe` (`node --import` of this file), never by the
 * product.
 *
 * Counts, from the moment it is loaded: every SQLite statement run (by its SQL, and how many
 * statements were prepared), every call of `node:fs` and `node:fs/promises` and of a FileHandle
 * (by name). At exit it writes them as JSON
 * to $EDGE_NVR_WORK_PROBE; bench/record divides them by the segments indexed.
 */
import { writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const OUT = process.env.EDGE_NVR_WORK_PROBE;

export interface WorkCounts {
  statements: Record<string, number>;
  prepared: number;
  fs: Record<string, number>;
}

if (OUT) {
  const counts: WorkCounts = { statements: {}, prepared: 0, fs: {} };
  const bump = (m: Record<string, number>, k: string) => { m[k] = (m[k] ?? 0) + 1; };
  const sqlKey = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 90);

  // better-sqlite3: the statement class's methods, and prepare
  const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
  const scratch = new Database(':memory:');
  const Statement = Object.getPrototypeOf(scratch.prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
  scratch.close();
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const orig = Statement[method]!;
    Statement[method] = function (this: { source: string }, ...args: unknown[]) {
      bump(counts.statements, sqlKey(this.source));
      return orig.apply(this, args);
    };
  }
  const DbProto = Database.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const prepare = DbProto.prepare!;
  DbProto.prepare = function (this: unknown, ...args: unknown[]) {
    counts.prepared++;
    return prepare.apply(this, args);
  };
  const pragma = DbProto.pragma!;
  DbProto.pragma = function (this: unknown, ...args: unknown[]) {
    bump(counts.statements, `PRAGMA ${String(args[0])}`);
    return pragma.apply(this, args);
  };

  // node:fs, node:fs/promises and FileHandle
  const wrapAll = (mod: Record<string, unknown>, prefix: string) => {
    for (const [name, fn] of Object.entries(mod)) {
      if (typeof fn !== 'function' || /^[A-Z]/.test(name) || name === 'promises') continue;
      mod[name] = function (this: unknown, ...args: unknown[]) {
        bump(counts.fs, `${prefix}${name}`);
        return (fn as (...a: unknown[]) => unknown).apply(this, args);
      };
    }
  };
  const fsMod = createRequire(import.meta.url)('node:fs') as Record<string, unknown>;
  const fspMod = fsMod.promises as Record<string, unknown>;
  // the FileHandle class, from a handle of this file's own directory
  const fh = await fsp.open('.', 'r');
  const FileHandle = Object.getPrototypeOf(fh) as Record<string, unknown>;
  await fh.close();
  for (const name of ['read', 'write', 'stat', 'sync', 'datasync', 'close', 'readFile', 'truncate']) {
    const orig = FileHandle[name] as (...a: unknown[]) => unknown;
    if (typeof orig !== 'function') continue;
    FileHandle[name] = function (this: unknown, ...args: unknown[]) {
      bump(counts.fs, `FileHandle.${name}`);
      return orig.apply(this, args);
    };
  }
  wrapAll(fspMod, 'promises.');
  wrapAll(fsMod, '');
  syncBuiltinESMExports();

  process.on('exit', () => {
    try { writeFileSync(OUT, JSON.stringify(counts)); } catch { /* the run's dir is gone */ }
  });
}
