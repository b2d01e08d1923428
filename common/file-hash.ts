import { createHash } from 'node:crypto';
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
