import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Big reads: a segment of a few hundred KB is one trip to libuv's pool, not one per 64 KiB. */
const CHUNK = 1 << 20;

/**
 * Read buffers handed back after use. A fresh 1 MiB buffer per file is memory outside the heap
 * that only a full garbage collection frees: at 64 cameras of 2 s segments (32 files a second)
 * it was a large share of the daemon's collections. A few are kept; more are made when more
 * hashes run at once.
 */
const spare: Buffer[] = [];
const SPARE_MAX = 4;

/** sha256 of an open file's bytes from its start, and how many there were. */
export async function sha256Handle(fh: FileHandle): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const buf = spare.pop() ?? Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
      // a regular file reads short only at its end: no second trip to the pool to be told so
      if (bytesRead < CHUNK) break;
    }
  } finally {
    if (spare.length < SPARE_MAX) spare.push(buf);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** sha256 of a file's bytes, streamed: segments, exports and evidence bundles alike. */
export async function sha256File(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    return (await sha256Handle(fh)).sha256;
  } finally {
    await fh.close();
  }
}

/** A recording's place holds something other than a plain file: a link, a directory, a FIFO, a device. */
export class NotRegularFileError extends Error {
  constructor(readonly path: string, readonly what: string) {
    super(`${path} is not a regular file (${what} in its place)`);
  }
}

/**
 * Opens a file that must be a plain file of this box, for reading: not followed through a
 * symbolic link (a segment replaced by a link to /dev/zero made `evidence` write without end),
 * and never blocking on a FIFO (`verify` hung on one). Anything else throws NotRegularFileError.
 */
export async function openRegularFile(path: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new NotRegularFileError(path, 'a symbolic link');
    throw err;
  }
  const st = await fh.stat();
  if (st.isFile()) return fh;
  await fh.close();
  throw new NotRegularFileError(path, st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device');
}

/** sha256 of a recording that must be a plain file (see openRegularFile), and its size. */
export async function sha256RegularFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const fh = await openRegularFile(path);
  try {
    return await sha256Handle(fh);
  } finally {
    await fh.close();
  }
}
