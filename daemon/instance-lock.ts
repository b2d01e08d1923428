/**
 * One daemon per data dir. Two daemons recording into the same directory would each recover the
 * other's open segments, prune each other's files and interleave the hash chain, so the second
 * one must refuse to start, whatever happened to the first (a kill -9 leaves a stale pid file).
 *
 * The daemon holds an exclusive lock on `<data>/daemon.lock` for as long as it runs: an fcntl
 * write lock, taken through SQLite's exclusive locking mode (Node has no flock or fcntl of its
 * own), which the kernel drops when the process dies, however it dies. The kernel also says who
 * holds it (/proc/locks), which is how `reload` and `status` find the daemon: not by a pid file
 * that may name a process that has nothing to do with edge-nvr by now.
 */
import Database from 'better-sqlite3';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { permissionDenied } from '../common/read-file.js';

export const LOCK_FILE = 'daemon.lock';

export class DataDirLocked extends Error {
  constructor(readonly dataDir: string, readonly holder: number | undefined) {
    super(`another edge-nvr daemon${holder ? ` (pid ${holder})` : ''} is recording into ${dataDir}; refusing to start a second one on the same data dir`);
    this.name = 'DataDirLocked';
  }
}

export class InstanceLock {
  private constructor(private readonly db: Database.Database) {}

  /** Takes the data dir's lock, or throws DataDirLocked naming the daemon that holds it. */
  static acquire(dataDir: string): InstanceLock {
    const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // the first write takes the lock; EXCLUSIVE mode keeps it until the connection closes
      db.exec('BEGIN EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER, since_ms INTEGER)');
      db.prepare('DELETE FROM holder').run();
      db.prepare('INSERT INTO holder VALUES (?, ?)').run(process.pid, Date.now());
      db.exec('COMMIT');
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirLocked(dataDir, lockHolder(dataDir));
      throw err;
    }
    return new InstanceLock(db);
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}

/** st_dev as the kernel prints it in /proc/locks: "MAJOR:MINOR" in hex (glibc's major()/minor()). */
function deviceOf(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** The pid of the process holding `<data>/daemon.lock`, from the kernel's lock table; undefined when none does; PermissionDenied when this user may not look. */
export function lockHolder(dataDir: string): number | undefined {
  let id: string;
  try {
    const st = statSync(join(dataDir, LOCK_FILE), { bigint: true });
    id = `${deviceOf(st.dev)}:${st.ino}`;
  } catch (err) {
    // a data dir this user may not look into hides the lock of a daemon that runs: `reload` said
    // "no edge-nvr daemon is running" (an outside probe); ENOENT alone means there is none
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw permissionDenied(dataDir);
    return undefined;
  }
  let table: string;
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 16931 fe:00:2146635 1073741824 1073742335"
    const f = line.trim().split(/\s+/);
    if (f[1] === 'POSIX' && f[3] === 'WRITE' && f[5] === id) return Number(f[4]);
  }
  return undefined;
}
