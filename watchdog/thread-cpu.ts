import { readFileSync } from 'node:fs';

type ThreadCpuUsage = () => { user: number; system: number };

/** Node 22.?+/23.9+: the calling thread's own user and system time, in µs */
const threadCpuUsage = (process as unknown as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage;

/**
 * The calling thread's CPU time so far, in ms, or null where no clock of its own can be read.
 *
 * In a worker thread `process.cpuUsage()` is the whole process's, and wall time counts the time
 * the thread waited for a core: on a busy box that is several times the work itself. Newer Node
 * versions read the thread's own clock (`process.threadCpuUsage()`); on Node 20, Linux gives each
 * thread's time on a CPU in nanoseconds in /proc/thread-self/schedstat (first field). The kernel
 * brings that figure up to date at scheduler ticks and switches, so a reading may be a few ms
 * behind: one job's cost is off by up to a tick either way, a median of several is not.
 */
export function threadCpuMs(): number | null {
  if (threadCpuUsage) {
    const u = threadCpuUsage.call(process);
    return (u.user + u.system) / 1000;
  }
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]);
    return Number.isFinite(ns) ? ns / 1e6 : null;
  } catch {
    return null;
  }
}
