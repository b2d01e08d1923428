import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrate, SCHEMA_VERSION } from '../../recorder/catalog/migrations.js';

/**
 * Migration numbers were handed to parallel work: a catalog can hold a higher one without a
 * lower one that landed later. Every migration not yet applied runs, not only those above the
 * newest applied.
 */
t.test('a migration numbered below the newest applied one still runs when it is missing', async (t) => {
  const db = new Database(join(t.testdir(), 'catalog.db'));
  t.teardown(() => db.close());
  migrate(db);
  const tables = () => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
  t.ok(tables().includes('view_references'), 'migration 5 made its tables');
  // a catalog that got 8 and 9 before 5 existed
  db.exec("DROP TABLE view_references; DROP TABLE camera_identity; DROP TABLE camera_view; DELETE FROM schema_version WHERE version = 5");
  t.notOk(tables().includes('view_references'));
  migrate(db);
  t.ok(tables().includes('view_references') && tables().includes('camera_identity') && tables().includes('camera_view'), 'migration 5 ran although 9 was applied');
  const versions = (db.prepare('SELECT version FROM schema_version ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
  t.same(versions.filter((v) => v === 5), [5], 'and is recorded once');
  t.equal(Math.max(...versions), SCHEMA_VERSION);
});
