/**
 * Two versions of the egress gate side by side in one benchmark run: this checkout and a
 * baseline (by default `main`, the version before this branch), checked out with `git worktree`,
 * sharing this checkout's node_modules and models, built with tsc. Each redacts the same files
 * in a child process of its own (`redactFile`, as the CLI does), so their figures come from the
 * same machine at the same time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench -> repository root (also right when run from bench/ with tsx) */
export const ROOT = HERE.replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');

export interface Impl { label: string; root: string; cleanup(): void }

export function current(): Impl {
  return { label: `this checkout (${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain']) ? '+changes' : ''})`, root: ROOT, cleanup: () => {} };
}

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

/** `ref` checked out beside this one and built; removed by cleanup(). */
export function baseline(ref: string): Impl {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-baseline-'));
  rmSync(dir, { recursive: true });
  git(['worktree', 'add', '--detach', dir, ref]);
  const cleanup = () => { try { git(['worktree', 'remove', '--force', dir]); } catch { rmSync(dir, { recursive: true, force: true }); } };
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    if (!existsSync(join(dir, 'models', 'face_detection_back_256x256_barracuda.onnx'))) {
      rmSync(join(dir, 'models'), { recursive: true, force: true });
      symlinkSync(join(ROOT, 'models'), join(dir, 'models'));
    }
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  } catch (err) {
    cleanup();
    throw err;
  }
  return { label: `${ref} (${git(['rev-parse', '--short', 'HEAD'], dir)})`, root: dir, cleanup };
}

export interface Job { input: string; out: string }
export interface JobResult {
  input: string; out: string; frames: number; wall_s: number; node_cpu_s: number; children_cpu_s: number;
  /** the Node process's busiest threads over the job (name, CPU seconds), busiest first */
  busiest_threads?: Array<{ comm: string; cpu_s: number }>;
  /** the Node process's peak resident memory (VmHWM) by the job's end, MiB: one job a runner, so the job's peak or its model loading's */
  node_peak_rss_mb?: number;
  error?: string;
}

/** What `EDGE_NVR_REDACTION_PROFILE=1` made a version write to stderr: one line per video job (redaction/stage-timer.ts). */
export type StageProfile = Record<string, unknown>;

/**
 * The runner each version executes: its own dist/ egress gate, this checkout's CPU accounting
 * (bench/proc-tree.ts). Model loading happens before the clock starts (on the detection thread
 * too, where a version has one).
 */
const RUNNER = `
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [root, measure, jobsFile] = process.argv.slice(2);
const { redactFile, configuredDetectors, prepareDetectors } = await import(join(root, 'dist/redaction/egress.js'));
const { Catalog } = await import(join(root, 'dist/recorder/catalog/catalog.js'));
const { CLK_TCK, readStat } = await import(measure);
const { readdirSync } = await import('node:fs');
/** CPU seconds of each thread of this process so far, by thread id, with its name */
const threads = () => new Map(readdirSync('/proc/self/task').map((tid) => { const s = readStat(process.pid, Number(tid)); return [tid, { comm: s?.comm ?? '?', s: (s?.self ?? 0) / CLK_TCK }]; }));
const dataDir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-data-'));
const catalog = Catalog.open(dataDir);
// versions with a detection thread load its models there too
await (prepareDetectors ?? configuredDetectors)();
const cpu = () => { const s = readStat(process.pid); return { self: s.self / CLK_TCK, children: s.reaped / CLK_TCK }; };
for (const job of JSON.parse(readFileSync(jobsFile, 'utf8'))) {
  const t0 = performance.now(), c0 = cpu(), th0 = threads();
  try {
    const r = await redactFile({ catalog, dataDir }, { input: job.input, out: job.out, requester: 'bench', reason: 'bench' });
    const c1 = cpu();
    // the busiest threads of the job: on two idle cores no job ends before its busiest thread has run
    const busiest = [...threads()].map(([tid, t]) => ({ comm: t.comm, cpu_s: Number((t.s - (th0.get(tid)?.s ?? 0)).toFixed(2)) })).sort((a, b) => b.cpu_s - a.cpu_s).slice(0, 4);
    const hwm = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    process.stdout.write(JSON.stringify({ ...job, frames: r.frames, wall_s: (performance.now() - t0) / 1000, node_cpu_s: c1.self - c0.self, children_cpu_s: c1.children - c0.children, busiest_threads: busiest,
      node_peak_rss_mb: hwm ? Math.round(Number(hwm[1]) / 1024) : undefined }) + '\\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ ...job, frames: 0, wall_s: 0, node_cpu_s: 0, children_cpu_s: 0, error: String(err && err.message || err) }) + '\\n');
  }
}
catalog.close();
rmSync(dataDir, { recursive: true, force: true });
`;

/**
 * Runs the jobs in order with `impl`'s egress gate; one result per job. With `profiles`, the
 * versions that have the per-stage timer run with it, and its lines are collected there, in
 * job order (a version without it adds none).
 */
export async function runJobs(impl: Impl, jobs: Job[], work: string, profiles?: StageProfile[]): Promise<JobResult[]> {
  const runner = join(work, 'runner.mjs'), jobsFile = join(work, `jobs-${Date.now()}.json`);
  writeFileSync(runner, RUNNER);
  writeFileSync(jobsFile, JSON.stringify(jobs));
  const measure = join(ROOT, 'dist', 'bench', 'proc-tree.js');
  const env = profiles ? { ...process.env, EDGE_NVR_REDACTION_PROFILE: '1' } : process.env;
  const child = spawn(process.execPath, [runner, impl.root, measure, jobsFile], { env, stdio: ['ignore', 'pipe', profiles ? 'pipe' : 'inherit'] });
  let out = '', err = '';
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr?.on('data', (d) => { err += String(d); });
  const code = await new Promise<number | null>((res) => child.on('close', res));
  for (const line of err.split('\n')) {
    if (line.includes('"redaction_profile"')) profiles!.push(JSON.parse(line) as StageProfile);
    else if (line) process.stderr.write(line + '\n');
  }
  if (code !== 0) throw new Error(`${impl.label}: the runner exited ${code}`);
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as JobResult);
}
