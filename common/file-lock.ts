/**
 * A read-modify-write of a file shared by processes (`edge-nvr user` run twice at once), made one
 * at a time. Without it each run read the file, added its change and renamed its copy over the
 * other's: six `user add` at once each said "added" and one user was left (an outside probe).
 *
 * The lock is the kernel's, as the daemon's own (daemon/instance-lock.ts): an fcntl write lock on
 * `<file>.lock`, taken through SQLite (Node has no flock or fcntl), which the kernel drops when
 * the process dies, however it dies. No stale lock is left to take over, and no pid that may by
 * now belong to another process is read.
 */
import Database from 'better-sqlite3';
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Another process held the lock for longer than a change of the file takes. */
export class FileLockBusy extends Error {}

/**
 * The lock file, made as `write` makes the file it guards: mode 0600, never through a symbolic
 * link (root would have chowned what the link named), and, made by root, owned by its
 * directory's owner, so that the service user may take it next.
 */
function makeLockFile(path: string): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${path} is not a regular file; remove it`);
    fchmodSync(fd, 0o600);
    if (process.getuid?.() === 0) {
      const owner = statSync(dirname(path));
      fchownSync(fd, owner.uid, owner.gid);
    }
  } finally {
    closeSync(fd);
  }
}

/** Runs `change` holding the lock on `lockPath`, waiting up to `waitMs` for another holder to finish. */
export function withFileLock<T>(lockPath: string, waitMs: number, change: () => T): T {
  makeLockFile(lockPath);
  const db = new Database(lockPath, { timeout: waitMs });
  try {
    try {
      // an exclusive transaction takes the write lock and ROLLBACK gives it back; nothing is written
      // to the file. Not `locking_mode = EXCLUSIVE`: that mode keeps every lock it took, so a
      // waiter that had its read lock before a holder asked for the write lock kept it while it
      // waited, and the two waited on each other until one gave up ("held for more than 30 s"
      // with every change taking milliseconds: six `user add` at once on a loaded machine)
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new FileLockBusy(`another process holds ${lockPath} for more than ${waitMs / 1000} s; nothing changed, try again`);
      throw err;
    }
    try {
      return change();
    } finally {
      db.exec('ROLLBACK');
    }
  } finally {
    db.close();
  }
}
