import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let pdeathsigSupported: boolean | undefined;

/**
 * The command that starts a recording child so the kernel signals it when the daemon dies,
 * even by kill -9 (setpriv --pdeathsig, util-linux). Without it, ffmpeg in its own process
 * group would outlive the daemon and keep writing into staging while the restarted daemon
 * recovers the same files. setpriv execs in place, so the pid is ffmpeg's own.
 */
export function withParentDeathSignal(command: string, args: string[], signal = 'TERM'): [string, string[]] {
  pdeathsigSupported ??= (() => {
    try {
      return execFileSync('setpriv', ['--help'], { encoding: 'utf8' }).includes('--pdeathsig');
    } catch {
      return false;
    }
  })();
  return pdeathsigSupported ? ['setpriv', ['--pdeathsig', signal, command, ...args]] : [command, args];
}

/**
 * Kills processes left over from an earlier run that still write into `dir` (a staging dir: an
 * argument that is the dir, as the GStreamer child's, or a path inside it, as ffmpeg's output
 * pattern): the belt to setpriv's braces, for systems without it. Another camera's dir that only
 * shares a prefix (cam1, cam10) is not a match. Linux /proc only; elsewhere a no-op.
 */
export function killOrphansWriting(dir: string): number[] {
  const inside = `${dir.replace(/\/+$/, '')}/`;
  const killed: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return killed;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!args.some((a) => `${a}/`.includes(inside))) continue;
      process.kill(Number(pid), 'SIGKILL');
      killed.push(Number(pid));
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}
