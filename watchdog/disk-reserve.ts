/**
 * A few megabytes the catalog can always have back. On a data disk filled to the last byte by
 * something else, SQLite cannot write the transaction that records a deletion, so retention
 * could free nothing, and a daemon restarted then could not even write its start: it exited at
 * once, again and again under systemd, and never recorded again until someone freed space by
 * hand (an outside probe). The box keeps RESERVE_BYTES in a file of its own while there is
 * room, and removes it when the disk is nearly full, before the catalog's next write: at start,
 * before anything is written, and before each retention sweep that can delete for space. It
 * comes back once the disk has the floor and twice the reserve free again. Retention counts it
 * as the box's own bytes.
 */
import { closeSync, existsSync, fsyncSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export const RESERVE_FILE = 'catalog.reserve';
export const RESERVE_BYTES = 4 * 2 ** 20;
/** free space under which the catalog's next transactions may not fit: the reserve goes */
const NEARLY_FULL_BYTES = 2 * 2 ** 20;
const CHUNK = Buffer.alloc(64 * 1024);

const available = (dir: string) => { const s = statfsSync(dir); return s.bavail * s.bsize; };

/** Removes the reserve when the data disk is nearly full; true when it did. Never throws. */
export function releaseReserveIfFull(dataDir: string, log?: Logger): boolean {
  const path = join(dataDir, RESERVE_FILE);
  try {
    if (!existsSync(path)) return false;
    const free = available(dataDir);
    if (free >= NEARLY_FULL_BYTES) return false;
    unlinkSync(path);
    log?.warn({ availableBytes: free, reserveBytes: RESERVE_BYTES }, 'the data disk is full: its reserve is released, so the catalog can record what retention deletes');
    return true;
  } catch (err) {
    log?.error({ err }, 'cannot release the data disk\'s reserve');
    return false;
  }
}

/** Makes the reserve again when it is missing and the disk has the floor and twice the reserve free. Never throws. */
export function keepReserve(dataDir: string, floorBytes: number, log?: Logger): void {
  const path = join(dataDir, RESERVE_FILE);
  let fd: number | undefined;
  try {
    if (existsSync(path) || available(dataDir) < floorBytes + 2 * RESERVE_BYTES) return;
    // written, not sized: a sparse file would give nothing back
    fd = openSync(path, 'wx', 0o600);
    for (let n = 0; n < RESERVE_BYTES; n += CHUNK.length) writeSync(fd, CHUNK);
    fsyncSync(fd);
  } catch (err) {
    log?.warn({ err }, 'cannot keep the data disk\'s reserve; tried again at the next sweep');
    try { if (fd !== undefined) unlinkSync(path); } catch { /* never made */ }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
