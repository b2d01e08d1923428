import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kills a child started `detached` (its own process group) and everything in that group; resolves once it exited. */
export async function killDetached(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* already gone */ }
  await exited;
}

export interface ProcInfo { pid: number; ppid: number; state: string; cmdline: string }

/** Every process whose command line mentions `marker` (a test's data dir), with its state. */
export function processesMentioning(marker: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (cmdline.includes(marker)) out.push({ pid: Number(pid), ppid: Number(ppid), state: state!, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/**
 * Zombie descendants of `parentPid`: its children, and theirs (the recorders are the children of
 * the daemon's spawner, recorder/backends/spawner.ts, which must reap them).
 */
export function zombiesOf(parentPid: number): number[] {
  const procs = new Map<number, { state: string; ppid: number }>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(pid), { state: fields[0]!, ppid: Number(fields[1]) });
    } catch {
      // gone
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = procs.get(pid)?.ppid; p !== undefined && p > 1; p = procs.get(p)?.ppid) if (p === parentPid) return true;
    return false;
  };
  return [...procs].filter(([pid, { state }]) => state === 'Z' && descends(pid)).map(([pid]) => pid);
}
