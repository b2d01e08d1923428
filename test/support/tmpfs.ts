import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', data]);
  t.teardown(() => {
    try { execFileSync('umount', ['-l', data]); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, data };
}
