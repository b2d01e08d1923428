/**
 * A small file written so that a power cut leaves either the old file or the whole new one, never
 * an empty or partial file: written under a temporary name in the same directory, fsynced, put in
 * place, then the directory fsynced. ext4's delayed allocation otherwise commits the new inode
 * before its data, and a crash soon after leaves a file of 0 bytes (an outside probe: the box's
 * signing key, empty after a disk fault 12 s after the first start, and verify failed for ever).
 */
import { closeSync, fchmodSync, fchownSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface DurableWriteOptions {
  mode?: number;
  /** fail with EEXIST when the file exists (two processes creating it at once keep the first one's), as writeFileSync's 'wx' does; else it is replaced whole */
  exclusive?: boolean;
  /** the file's owner (root writing a file the service must read) */
  owner?: { uid: number; gid: number };
}

export function writeFileDurably(path: string, data: string | Buffer, opts: DurableWriteOptions = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  // a file left there (by a write that died, or planted by the directory's owner) is removed, and
  // the new one created exclusively: opening it as it was kept its mode (a 0644 file left the users'
  // hashes readable by all) and followed a symbolic link (root wrote whatever file the link named)
  try { unlinkSync(tmp); } catch { /* none: as it should be */ }
  const mode = opts.mode ?? 0o644;
  const fd = openSync(tmp, 'wx', mode);
  try {
    fchmodSync(fd, mode); // whatever the umask
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
    if (opts.owner) fchownSync(fd, opts.owner.uid, opts.owner.gid);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* gone already */ }
    throw err;
  }
  closeSync(fd);
  try {
    // link() never replaces: the exclusive creation; rename() replaces atomically
    if (opts.exclusive) linkSync(tmp, path);
    else renameSync(tmp, path);
  } finally {
    try { unlinkSync(tmp); } catch { /* renamed away */ }
  }
  fsyncDir(dir);
}

/** fsyncs a directory: the entries made or renamed in it survive a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
