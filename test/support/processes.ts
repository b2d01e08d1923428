import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kills a child started `detached` (its own process group) and everything in that group; resolves once it exited. */
export async function killDetached(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* already gone */ }
  await exited;
}

export interface ProcInfo { pid: number; state: string; cmdline: string }

/** Every process whose command line mentions `marker` (a test's data dir), with its state. */
export function processesMentioning(marker: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (cmdline.includes(marker)) out.push({ pid: Number(pid), state, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Zombie children of `parentPid`. */
export function zombiesOf(parentPid: number): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === parentPid) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}
