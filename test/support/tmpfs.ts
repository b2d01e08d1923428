import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CAN_MOUNT = process.getuid?.() === 0;
export const NEEDS_ROOT = CAN_MOUNT ? false : 'mounting a tmpfs needs root';

/**
 * A data dir on a tmpfs of `sizeMb`, under a fresh temp dir (outside tap's fixture dir, which
 * tap would try to remove before the mount is gone). `dir` is what writeConfig takes.
 */
export function tmpfsDataDir(t: { teardown(fn: () => void): void }, sizeMb: number, prefix: string): { dir: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), `edge-nvr-${prefix}-`));
  const data = join(dir, 'data');
  mkdirSync(data);
  // mode 0700: a tmpfs root is 1777, writable by all, and the daemon refuses such a data dir
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', data]);
  t.teardown(() => {
    try { execFileSync('umount', ['-l', data]); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, data };
}

export const MB = 2 ** 20;

async function available(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Grows `file` (another program's, on the data disk) until the disk has `leaveBytes` available, give or take a MiB; resolves to what is left. */
export async function fillUntil(dir: string, file: string, leaveBytes: number): Promise<number> {
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(MB, 7);
  try {
    while ((await available(dir)) > leaveBytes + MB) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return available(dir);
}
