import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ; 100 on every Linux we ship on). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  ppid: number;
  /** own user+system time, ticks */
  self: number;
  /** user+system time of children this process has waited for, ticks */
  reaped: number;
  /** start time after boot, ticks: with the pid, identifies one process across pid reuse */
  start: number;
  comm: string;
}

/** Each thread of a process and its CPU seconds so far (threads that ended are not listed). */
function threadTimes(pid: number): Array<{ pid: number; tid: number; cpuSeconds: number }> {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tids.map(Number).map((tid) => ({ pid, tid, cpuSeconds: (readStat(pid, tid)?.self ?? 0) / CLK_TCK }));
}

/** One /proc/<pid>/stat (or a thread's, `/proc/<pid>/task/<tid>/stat`), or null if the process is gone. */
export function readStat(pid: number, tid?: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may hold spaces and parentheses: the fields start after the last ')'
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3]
  const n = (field: number) => Number(f[field - 3]);
  return { pid, ppid: n(4), self: n(14) + n(15), reaped: n(16) + n(17), start: n(22), comm };
}

/** A "Name: N kB" line of a /proc/<pid> file, in bytes; 0 if unreadable (a zombie or a process that is gone). */
function procKb(pid: number, file: string, name: string): number {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** VmRSS in bytes. */
export function readRss(pid: number): number {
  return procKb(pid, 'status', 'VmRSS');
}

/**
 * Pss in bytes (proportional set size: shared pages divided among the processes that map them).
 * Summing RSS over N ffmpeg counts their shared libraries N times, summing PSS does not.
 */
export function readPss(pid: number): number {
  return procKb(pid, 'smaps_rollup', 'Pss');
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** The given roots and every live descendant of them. */
export function processTree(roots: number[]): ProcStat[] {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s); else children.set(s.ppid, [s]);
  }
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const out: ProcStat[] = [];
  const seen = new Set<number>();
  const queue = roots.map((r) => byPid.get(r)).filter((s): s is ProcStat => !!s);
  while (queue.length) {
    const s = queue.shift()!;
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    out.push(s);
    queue.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

export interface TreeSample {
  atMs: number;
  /** CPU seconds of everything in the tree so far (live processes plus the ones they reaped) */
  cpuSeconds: number;
  /** CPU seconds of the roots alone (for the daemon: the Node process itself) */
  rootSelfSeconds: number;
  /** CPU seconds of the roots' main threads (for the daemon: its event loop; the rest of
   * rootSelfSeconds is libuv's pool, V8's helpers and the view analysis thread) */
  rootMainThreadSeconds: number;
  rssBytes: number;
  pssBytes: number;
  rootRssBytes: number;
  pids: number;
}

export interface TreeMeasurement {
  /** CPU seconds from the roots' start to the last sample */
  cpuSeconds: number;
  rootSelfSeconds: number;
  rootMainThreadSeconds: number;
  peakRssBytes: number;
  /** the largest sum of Pss seen at a sample */
  peakPssBytes: number;
  /** CPU seconds of the tree over time (for rates after start-up) */
  cpu: Array<{ atMs: number; cpuSeconds: number }>;
  /** the roots' own RSS over time (for spotting growth) */
  rootRss: Array<{ atMs: number; bytes: number }>;
  /** most processes seen in the tree at once */
  maxPids: number;
  /** at the last sample, each thread of the roots with its CPU seconds, most first (the main thread's tid is its pid) */
  rootThreads: Array<{ pid: number; tid: number; cpuSeconds: number }>;
  samples: number;
  /** distinct processes ever seen in the tree (restarts show up here) */
  distinctProcesses: number;
}

/**
 * Samples a process tree from /proc every `intervalMs`: CPU time and RSS summed over the roots
 * and all their descendants. CPU is exact at each sample: for every live process in the tree,
 * its own time plus the time of the children it has reaped (a restarted ffmpeg's time lands in
 * the daemon's cutime/cstime when the daemon waits for it). RSS is the sum of VmRSS; the peak
 * is the largest sum seen at a sample.
 */
export class TreeSampler {
  private timer?: NodeJS.Timeout;
  private readonly startedMs = Date.now();
  private last?: TreeSample;
  private peakRss = 0;
  private peakPss = 0;
  private readonly cpu: Array<{ atMs: number; cpuSeconds: number }> = [];
  private maxPids = 0;
  private count = 0;
  private readonly rootRss: Array<{ atMs: number; bytes: number }> = [];
  private readonly seen = new Set<string>();
  /** last reading of each root: a root that exits mid-run keeps what it used */
  private lastThreads: TreeMeasurement['rootThreads'] = [];
  private readonly lastRootTicks = new Map<number, { self: number; total: number; main: number }>();

  constructor(private readonly roots: () => number[], private readonly intervalMs = 500) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): TreeSample {
    const roots = this.roots();
    const tree = processTree(roots);
    const rootSet = new Set(roots);
    let ticks = 0;
    let rootTicks = 0;
    let mainTicks = 0;
    const threads: TreeMeasurement['rootThreads'] = [];
    let rss = 0;
    let pss = 0;
    let rootRss = 0;
    for (const s of tree) {
      ticks += s.self + s.reaped;
      this.seen.add(`${s.pid}@${s.start}`);
      const r = readRss(s.pid);
      rss += r;
      pss += readPss(s.pid);
      if (rootSet.has(s.pid)) {
        const main = readStat(s.pid, s.pid)?.self ?? this.lastRootTicks.get(s.pid)?.main ?? 0;
        this.lastRootTicks.set(s.pid, { self: s.self, total: s.self + s.reaped, main });
        rootTicks += s.self;
        mainTicks += main;
        threads.push(...threadTimes(s.pid));
        rootRss += r;
      }
    }
    const live = new Set(tree.map((s) => s.pid));
    for (const [pid, t] of this.lastRootTicks) {
      if (live.has(pid)) continue;
      ticks += t.total;
      rootTicks += t.self;
      mainTicks += t.main;
    }
    if (threads.length) this.lastThreads = threads.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
    const atMs = Date.now() - this.startedMs;
    const sample: TreeSample = { atMs, cpuSeconds: ticks / CLK_TCK, rootSelfSeconds: rootTicks / CLK_TCK, rootMainThreadSeconds: mainTicks / CLK_TCK, rssBytes: rss, pssBytes: pss, rootRssBytes: rootRss, pids: tree.length };
    this.last = sample;
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakPss = Math.max(this.peakPss, pss);
    this.cpu.push({ atMs, cpuSeconds: sample.cpuSeconds });
    this.maxPids = Math.max(this.maxPids, tree.length);
    this.rootRss.push({ atMs, bytes: rootRss });
    this.count++;
    return sample;
  }

  /** Takes a final sample and stops. */
  stop(): TreeMeasurement {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const last = this.last!;
    return {
      cpuSeconds: last.cpuSeconds,
      rootSelfSeconds: last.rootSelfSeconds,
      rootMainThreadSeconds: last.rootMainThreadSeconds,
      rootThreads: this.lastThreads,
      peakRssBytes: this.peakRss,
      peakPssBytes: this.peakPss,
      cpu: this.cpu,
      rootRss: this.rootRss,
      maxPids: this.maxPids,
      samples: this.count,
      distinctProcesses: this.seen.size,
    };
  }
}

/** Every live descendant of `root` (not the root itself), deepest first. */
export function descendants(root: number): number[] {
  return processTree([root]).filter((s) => s.pid !== root).map((s) => s.pid).reverse();
}
