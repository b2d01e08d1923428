/**
 * Reading a file someone names (a config's secret, a users file, a manifest, a key, anchors): the
 * one way it is done, bounded. readFileSync reads whatever is there: a FIFO waited for a writer
 * forever (`user add --users FIFO` hung), and /dev/zero grew a string until the process died in
 * C++ (`audit --manifest /dev/zero`: std::bad_alloc, exit 134; an outside probe). Only node:
 * imports, so the offline verifier may use it on a laptop.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Why a file cannot be used, in words, without its path (the caller names it); `code`: the OS error's, when one was the reason. */
export class FileUnreadable extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** A PEM key: a few KB at most; 64 KiB leaves room for any key and a certificate chain beside it. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * A manifest, a bundle's JSON, a file of anchors (one checkpoint a line, kept for years): tens of
 * MB for the largest real ones; past this it is no such file, and reading it whole would only
 * exhaust memory.
 */
export const MAX_RECORD_FILE_BYTES = 256 * 1024 * 1024;

/** An OS error in words: its code and what it means. */
export function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a parent is not a directory',
  };
  return e.code ? `${e.code}: ${reasons[e.code] ?? e.message}` : String(e.message ?? err);
}

/** A size in words: 1 MiB, 64 KiB, 1500 bytes. */
function size(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/**
 * A plain file's bytes, whole, up to `maxBytes`. Links are followed (secret managers use them);
 * opened without blocking, so a FIFO is refused rather than waited on. `what`: what such a file is,
 * for the refusal of one too big ("not a secret or certificate file"). Throws FileUnreadable.
 */
export function readRegularFile(path: string, maxBytes: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new FileUnreadable(osReason(err), (err as NodeJS.ErrnoException).code);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileUnreadable(st.isDirectory() ? 'a directory, not a file' : st.isFIFO() ? 'a FIFO, not a file: reading it would wait for a writer' : 'a device or socket, not a file');
    if (st.size > maxBytes) throw new FileUnreadable(`${st.size} bytes, more than ${size(maxBytes)}: ${what}`);
    // a file growing while it is read is read up to the limit and no further
    const buf = Buffer.alloc(Math.min(st.size, maxBytes));
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } catch (err) {
    throw err instanceof FileUnreadable ? err : new FileUnreadable(osReason(err), (err as NodeJS.ErrnoException).code);
  } finally {
    closeSync(fd);
  }
}

/** This user may not read what is there: a runtime failure (exit 1), never "absent". */
export class PermissionDenied extends Error {}

/** The one answer when this user may not look into a directory: what is there is not "absent". */
export function permissionDenied(dir: string): PermissionDenied {
  return new PermissionDenied(`cannot look into ${dir}: permission denied; run the command as the service user or root (the data dir is the service's alone)`);
}
