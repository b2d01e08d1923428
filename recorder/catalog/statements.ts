import type Database from 'better-sqlite3';

const byDb = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * A statement prepared once per connection: for what runs per segment, per camera or per event
 * (preparing took a fifth of the Node process's catalog time at 64 cameras, and 0.9 s of the
 * event loop's first 20 s at start-up). Only for statements used with get, run or all: one
 * changed by raw() or pluck(), or iterated, is prepared where it is used.
 */
export function prepared(db: Database.Database, sql: string): Database.Statement {
  let statements = byDb.get(db);
  if (!statements) byDb.set(db, statements = new Map<string, Database.Statement>());
  let stmt = statements.get(sql);
  if (!stmt) statements.set(sql, stmt = db.prepare(sql));
  return stmt;
}
