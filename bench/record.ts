/**
 * bench/record: what the edge-nvr daemon costs against plain ffmpeg, per backend.
 *
 * For each camera count N it records N simulated RTSP cameras, for the same D seconds and each
 * time from fresh simulators: with the daemon (`node dist/daemon/cli.js run`) once per backend,
 * and with N plain ffmpeg processes started with exactly the daemon's ffmpeg command line (no
 * Node, no catalog, no hashing). CPU time, RSS and PSS are summed over each process tree from
 * /proc; the simulator is measured apart and left out. Index lag is each catalogued segment's
 * `indexed_ms - end_ms`. See bench/README.md.
 *
 *   npm run bench:record -- --cameras 16,32,64 --seconds 30
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { groupBy } from '../common/group-by.js';
import type { BackendName } from '../recorder/backends/create.js';
import { ffmpegArgs } from '../recorder/backends/ffmpeg.js';
import { withParentDeathSignal } from '../recorder/backends/orphans.js';
import { CameraSim } from '../test/support/camera-sim.js';
import { CLK_TCK, descendants, TreeSampler, type TreeMeasurement } from './proc-tree.js';
import { unitEnvironment } from './unit-env.js';
import type { WorkCounts } from './work-probe.js';
import { LAYOUT_ENV, nodeLayout, type ResidentSplit } from './smaps-split.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench/record.js -> repository root (also right when run from bench/ with tsx) */
const ROOT = HERE.replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');
const CLI = join(ROOT, 'dist', 'daemon', 'cli.js');
/** real footage (people walking, 768x576) from Debian's opencv-doc, when installed */
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const BACKENDS: BackendName[] = ['ffmpeg', 'gstreamer'];

interface Options {
  cameras: number[];
  backends: BackendName[];
  source: 'clip' | 'live';
  clip?: string;
  seconds: number;
  width: number;
  height: number;
  fps: number;
  gop: number;
  bitrate: number;
  segmentSeconds: number;
  timeoutSeconds: number;
  mountsPerSim: number;
  keep: boolean;
  json?: string;
  nodeArgs: string[];
  /** another build's dist/daemon/cli.js, run as well, for before/after in one invocation */
  baselineCli?: string;
  /** load bench/memory-probe into the daemons: where the Node process's memory goes */
  memoryProbe: boolean;
  /** load bench/work-probe into the daemons: statements, file calls, log lines and events per segment */
  workProbe: boolean;
  /** false: every camera's tamper.enabled is false, to measure recording without view watching */
  viewWatching: boolean;
  /** watchdog.view_cpu_percent for the daemon (its default when absent) */
  viewCpuPercent?: number;
}

const USAGE = `usage: node dist/bench/record.js [options]
  --cameras 1,4,16     camera counts to measure; a count given again is another round (64,64,64:
                       plain ffmpeg and the daemon alternate, and the median ratio is printed)
  --backends ffmpeg,gstreamer   the daemon's backends to measure (each against plain ffmpeg)
  --seconds 30         recording time per run (each daemon and ffmpeg)
  --source clip        clip: footage encoded once, served to every camera without transcoding
                       (${VTEST} when installed, else a pattern); live: a pattern encoded per camera
  --clip FILE          the footage for --source clip
  --width 640 --height 360 --fps 15 --gop 15 --bitrate 1000 (kbit/s)   simulated cameras
  --segment-seconds 2  segment length (short, to exercise indexing)
  --mounts-per-sim 16  cameras per simulator process
  --keep               keep the temporary data dirs
  --json FILE          where to write the results (default bench/results/record-<date>.json)
  --node-args="..."    node arguments for the daemon, before its script (e.g. --cpu-prof --cpu-prof-dir=DIR)
  --baseline-cli FILE  also run the daemon of another build (its dist/daemon/cli.js: e.g. main in a
                       copy of the tree), before plain ffmpeg, and print this build against it
  --memory-probe       sample the daemon's memory from inside (process.memoryUsage, RssAnon/RssFile, V8
                       heaps of the main and the analysis thread: bench/memory-probe.ts) and print it
  --work-probe         count the daemon's work per indexed segment (SQLite statements, file calls, log lines,
                       events: bench/work-probe.ts) and print it
  --view-watching on   off: every camera's tamper.enabled false (recording alone, what view watching costs)
  --view-cpu-percent N the daemon's watchdog.view_cpu_percent (view watching's share of one core; default 12.8)`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      cameras: { type: 'string', default: '1,4,16' },
      backends: { type: 'string', default: BACKENDS.join(',') },
      source: { type: 'string', default: 'clip' },
      clip: { type: 'string' },
      seconds: { type: 'string', default: '30' },
      width: { type: 'string', default: '640' },
      height: { type: 'string', default: '360' },
      fps: { type: 'string', default: '15' },
      gop: { type: 'string', default: '15' },
      bitrate: { type: 'string', default: '1000' },
      'segment-seconds': { type: 'string', default: '2' },
      'mounts-per-sim': { type: 'string', default: '16' },
      keep: { type: 'boolean', default: false },
      json: { type: 'string' },
      'node-args': { type: 'string', default: '' },
      'baseline-cli': { type: 'string' },
      'memory-probe': { type: 'boolean', default: false },
      'work-probe': { type: 'boolean', default: false },
      'view-watching': { type: 'string', default: 'on' },
      'view-cpu-percent': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, v: string, min = 1): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name}: expected an integer >= ${min}, got "${v}"\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  const backends = values.backends.split(',').map((b) => b.trim());
  const unknown = backends.filter((b) => !BACKENDS.includes(b as BackendName));
  if (unknown.length || !['clip', 'live'].includes(values.source)) {
    console.error(`${unknown.length ? `--backends: expected ${BACKENDS.join(' or ')}, got "${unknown.join(',')}"` : `--source: expected clip or live, got "${values.source}"`}\n${USAGE}`);
    process.exit(2);
  }
  const share = values['view-cpu-percent'];
  if (share !== undefined && !(Number(share) >= 0.5 && Number(share) <= 100)) {
    console.error(`--view-cpu-percent: expected a percentage from 0.5 to 100, got "${share}"\n${USAGE}`);
    process.exit(2);
  }
  if (!['on', 'off'].includes(values['view-watching'])) {
    console.error(`--view-watching: expected on or off, got "${values['view-watching']}"\n${USAGE}`);
    process.exit(2);
  }
  return {
    cameras: values.cameras.split(',').map((c) => int('cameras', c.trim())),
    backends: backends as BackendName[],
    source: values.source as Options['source'],
    clip: values.source === 'clip' ? values.clip ?? (existsSync(VTEST) ? VTEST : undefined) : undefined,
    seconds: int('seconds', values.seconds, 5),
    width: int('width', values.width, 16),
    height: int('height', values.height, 16),
    fps: int('fps', values.fps),
    gop: int('gop', values.gop),
    bitrate: int('bitrate', values.bitrate, 16),
    segmentSeconds: int('segment-seconds', values['segment-seconds']),
    timeoutSeconds: 5,
    mountsPerSim: int('mounts-per-sim', values['mounts-per-sim']),
    keep: values.keep,
    json: values.json,
    nodeArgs: values['node-args'].split(' ').filter(Boolean),
    baselineCli: values['baseline-cli'],
    memoryProbe: values['memory-probe'],
    workProbe: values['work-probe'],
    viewWatching: values['view-watching'] === 'on',
    viewCpuPercent: share === undefined ? undefined : Number(share),
  };
}

// ---------------------------------------------------------------------------------------------
// Everything this benchmark starts, so that any way out (error, Ctrl-C) kills all of it.

const owned = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let keepTemp = false;

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** SIGKILL a child started detached: its descendants (found in /proc), then its group. */
function killTree(p: ChildProcess): void {
  if (!p.pid) return;
  for (const pid of descendants(p.pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
}

function cleanUp(): void {
  for (const p of owned) if (alive(p)) killTree(p);
  for (const sim of simulators) {
    try { process.kill(-sim.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
  simulators.clear();
  owned.clear();
  if (!keepTemp) for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', cleanUp);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping every process the benchmark started`);
    cleanUp();
    process.exit(130);
  });
}

function own(p: ChildProcess): ChildProcess {
  owned.add(p);
  p.once('close', () => owned.delete(p));
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(p: ChildProcess): Promise<void> {
  return alive(p) ? new Promise((r) => p.once('close', () => r())) : Promise.resolve();
}

/** Signals a detached child's group, waits up to `ms`, then kills what is left. */
async function stopGroup(p: ChildProcess, signal: NodeJS.Signals, ms: number): Promise<boolean> {
  if (!alive(p)) return true;
  try { process.kill(-p.pid!, signal); } catch { /* gone */ }
  const clean = await Promise.race([exited(p).then(() => true), sleep(ms).then(() => false)]);
  if (!clean) killTree(p);
  await exited(p);
  return clean;
}

// ---------------------------------------------------------------------------------------------
// Camera simulators

interface Sims {
  cams: CameraSim[];
  urls: string[];
  mounts: string[];
}

const simulators = new Set<CameraSim>();

async function startSimulators(n: number, o: Options): Promise<Sims> {
  const mounts = Array.from({ length: n }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
  const sims: Sims = { cams: [], urls: [], mounts };
  for (let i = 0; i < n; i += o.mountsPerSim) {
    const group = mounts.slice(i, i + o.mountsPerSim);
    const sim = new CameraSim({
      mounts: group, width: o.width, height: o.height, fps: o.fps, gop: o.gop, bitrate: o.bitrate,
      source: o.source, clip: o.clip, exitWithParent: true,
    });
    simulators.add(sim);
    sims.cams.push(await sim.start());
    for (const m of group) sims.urls.push(sim.url(m));
  }
  return sims;
}

async function stopSimulators(s: Sims): Promise<void> {
  await Promise.all(s.cams.map(async (c) => { await c.kill(); simulators.delete(c); }));
}

const simPids = (s: Sims) => s.cams.map((c) => c.pid!);

// ---------------------------------------------------------------------------------------------
// Whole-machine CPU, to show how much else ran while we measured (other people's tests, ...)

function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3]! + f[4]!;
  return (total - idle) / CLK_TCK;
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// One measured run

interface RunResult {
  cpuSeconds: number;
  /** the Node process alone (daemon runs only) */
  nodeCpuSeconds?: number;
  /** its main thread (the event loop) alone; the rest of nodeCpuSeconds is its other threads */
  nodeMainThreadCpuSeconds?: number;
  /** the Node process's busiest threads at the end, CPU s (`main` the event loop, others by tid) */
  nodeThreadsCpuSeconds?: Array<[string, number]>;
  peakRssMB: number;
  peakPssMB: number;
  /** % of one core used by the whole tree after the first WARM_MS (start-up and connect excluded) */
  steadyCorePercent: number;
  /** % of one core used by the whole tree over the run's second half: every recorder's start-up (64 probes take
   * several seconds of both cores) is over by then for the daemon, whose recorders start seconds later, and for plain ffmpeg alike */
  secondHalfCorePercent: number;
  /** the tree's CPU seconds every 5 s of the run (for rates over any window) */
  cpuSeriesBy5s: number[];
  nodeRssMB?: { warm: number; peak: number; end: number };
  /** the Node process's RSS every 5 s of the run, MB (for spotting growth) */
  nodeRssSeriesMB?: number[];
  /** --memory-probe: the daemon's own account, at its largest RSS and at the end, MB */
  memory?: MemoryAccount;
  segments: number;
  segmentsPerCamera: Record<string, number>;
  /** mean of recorded media seconds per camera */
  recordedSecondsPerCamera: number;
  processesSeen: number;
  simCpuPercent: number;
  otherCpuPercent: number;
  problems: string[];
  /** seconds from spawning the recorder(s) to the start of the earliest first segment */
  firstSegmentAfterS: number;
  /** seconds from spawning the daemon to its "edge-nvr running" (every camera started) */
  startedAfterS?: number;
  /** seconds from spawning the daemon to its last recorder spawned at start-up ("... recorder started" in its log; the spawns
   * wait in a queue, so "edge-nvr running" may come before them) */
  recordersSpawnedAfterS?: number;
  /** holes of more than 0.5 s between consecutive segments of one camera */
  holes: number;
  gaps?: Array<{ camera: string; cause: string; seconds: number | null }>;
  /** seconds from a segment's end to its row in the catalog, over the segments closed before the stop */
  indexLagS?: { p50: number; p99: number; max: number; segments: number };
  /** the same over the segments that ended after every camera had started ("edge-nvr running", and its recorder spawned) */
  steadyIndexLagS?: { p50: number; p99: number; max: number; segments: number };
  /** the same over each camera's first segment (at start-up, its dirs are made and fsynced) */
  firstSegmentIndexLagS?: { p50: number; p99: number; max: number; segments: number };
  /** the largest lag of the segments that ended in each 5 s after spawning the daemon (where the start-up's lag is) */
  indexLagMaxBy5sS?: number[];
  logWarnings?: string[];
  /** --work-probe: the daemon's work divided by the segments it indexed */
  work?: WorkPerSegment;
}

/** What bench/work-probe counted, per indexed segment (the whole run: start-up included). */
interface WorkPerSegment {
  segments: number;
  logLines: number;
  events: number;
  statements: number;
  prepared: number;
  fsCalls: number;
  /** the most frequent, per segment */
  topStatements: Array<[string, number]>;
  topFs: Array<[string, number]>;
}

interface ProbeLine {
  t: number; thread: number; heapTotal: number; heapUsed: number; heapLimit: number; external: number;
  rss?: number; arrayBuffers?: number; rssAnon?: number; rssFile?: number; onnxruntime?: boolean; threads?: number;
  split?: ResidentSplit;
}

/** What bench/memory-probe saw: the main thread at its largest RSS and at the end, the worker threads' largest heaps. */
interface MemoryAccount {
  atPeak: ProbeLine;
  atEnd: ProbeLine;
  /** the largest heapTotal of any worker thread (the view analysis thread), MB */
  workerHeapTotalPeak: number;
  workerHeapUsedPeak: number;
  /** the largest memory outside a worker thread's heap (its ArrayBuffers: pictures, scratch), MB */
  workerExternalPeak: number;
  onnxruntimeLoaded: boolean;
}

const PROBE = join(ROOT, 'dist', 'bench', 'memory-probe.js');
const WORK_PROBE = join(ROOT, 'dist', 'bench', 'work-probe.js');

function workPerSegment(path: string, segments: number, logLines: number, events: number): WorkPerSegment | undefined {
  if (!existsSync(path) || !segments) return undefined;
  const c = JSON.parse(readFileSync(path, 'utf8')) as WorkCounts;
  const per = (n: number) => round(n / segments, 2);
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const top = (m: Record<string, number>) => Object.entries(m).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, n]) => [k, per(n)] as [string, number]);
  return {
    segments, logLines: per(logLines), events: per(events), statements: per(sum(c.statements)), prepared: per(c.prepared), fsCalls: per(sum(c.fs)),
    topStatements: top(c.statements), topFs: top(c.fs),
  };
}

function memoryAccount(path: string): MemoryAccount | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ProbeLine);
  const main = lines.filter((l) => l.thread === 0 && l.rss !== undefined);
  const workers = lines.filter((l) => l.thread !== 0);
  if (!main.length) return undefined;
  return {
    atPeak: main.reduce((a, b) => (b.rss! > a.rss! ? b : a)),
    atEnd: main.at(-1)!,
    workerHeapTotalPeak: Math.max(0, ...workers.map((w) => w.heapTotal)),
    workerHeapUsedPeak: Math.max(0, ...workers.map((w) => w.heapUsed)),
    workerExternalPeak: Math.max(0, ...workers.map((w) => w.external)),
    onnxruntimeLoaded: main.some((l) => l.onnxruntime),
  };
}

interface Phase {
  roots: () => number[];
  measured: TreeMeasurement;
  simSeconds: number;
  otherSeconds: number;
}

/** Runs `seconds` of recording with samplers on the recorder tree and on the simulators. */
async function measure(roots: () => number[], sims: Sims, seconds: number, died?: Promise<unknown>): Promise<Phase> {
  const busy0 = machineBusySeconds();
  const self0 = selfCpuSeconds();
  const simSampler = new TreeSampler(() => simPids(sims)).start();
  const simStart = simSampler.sample().cpuSeconds;
  const sampler = new TreeSampler(roots).start();
  await Promise.race([sleep(seconds * 1000), died ?? new Promise(() => undefined)]);
  const measured = sampler.stop();
  const simSeconds = simSampler.stop().cpuSeconds - simStart;
  const otherSeconds = machineBusySeconds() - busy0 - measured.cpuSeconds - simSeconds - (selfCpuSeconds() - self0);
  return { roots, measured, simSeconds, otherSeconds };
}

interface Span { camera: string; start: number; end: number }

/** Holes of more than 0.5 s between one camera's consecutive segments (ms spans). */
function countHoles(spans: Span[], problems: string[]): number {
  const byCamera = new Map<string, Span[]>();
  for (const s of spans) byCamera.set(s.camera, [...(byCamera.get(s.camera) ?? []), s]);
  let holes = 0;
  for (const [camera, list] of byCamera) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      const hole = list[i]!.start - list[i - 1]!.end;
      if (hole > 500) {
        holes++;
        problems.push(`${camera}: ${round(hole / 1000, 1)} s hole between segments ${i} and ${i + 1}`);
      }
    }
  }
  return holes;
}

/** Every .mp4 under `dir`, relative to its parent (so paths read recordings/<camera>/...). */
function mp4Files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.mp4')) out.push(p.slice(dirname(dir).length + 1));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const MB = 1024 * 1024;
/** what "steady" leaves out: Node, the catalog, RTSP connects, the first segment; at 64 cameras the recorders' start-up lasts longer (the second half has none of it) */
const WARM_MS = 5000;

/** % of one core the tree used from `fromMs` into the run to its last sample */
function corePercentFrom(m: TreeMeasurement, fromMs: number): number {
  const from = m.cpu.find((c) => c.atMs >= fromMs);
  const to = m.cpu.at(-1);
  if (!from || !to || to.atMs <= from.atMs) return NaN;
  return ((to.cpuSeconds - from.cpuSeconds) / ((to.atMs - from.atMs) / 1000)) * 100;
}
const steadyCorePercent = (m: TreeMeasurement, seconds: number) => corePercentFrom(m, Math.min(WARM_MS, (seconds * 1000) / 3));
const secondHalfCorePercent = (m: TreeMeasurement, seconds: number) => corePercentFrom(m, (seconds * 1000) / 2);
const by5s = <T extends { atMs: number }>(xs: T[]): T[] => xs.filter((r, i) => i === 0 || Math.floor(r.atMs / 5000) > Math.floor(xs[i - 1]!.atMs / 5000));
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function daemonConfig(dir: string, urls: string[], mounts: string[], backend: BackendName, o: Options): string {
  const lines = [
    'box:', '  id: bench-box',
    'storage:', `  path: ${join(dir, 'data')}`, '  free_space_floor_mb: 0',
    'log:', '  level: info',
    ...(o.viewCpuPercent === undefined ? [] : ['watchdog:', `  view_cpu_percent: ${o.viewCpuPercent}`]),
    'cameras:',
    ...urls.flatMap((url, i) => [
      `  - id: ${mounts[i]}`,
      '    source:', '      type: rtsp', `      url: ${url}`,
      '    record:', `      backend: ${backend}`, `      segment_seconds: ${o.segmentSeconds}`, `      timeout_seconds: ${o.timeoutSeconds}`,
      ...(o.viewWatching ? [] : ['    tamper:', '      enabled: false', '      reason: "bench: recording alone, without view watching"']),
    ]),
  ];
  const path = join(dir, 'config.yaml');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The q-quantile of `xs` (nearest rank). */
function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function runDaemon(n: number, backend: BackendName, o: Options, cli = CLI): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `edge-nvr-bench-daemon-${backend}-${n}-`));
  tempDirs.add(dir);
  const sims = await startSimulators(n, o);
  const problems: string[] = [];
  try {
    const config = daemonConfig(dir, sims.urls, sims.mounts, backend, o);
    const logPath = join(dir, 'daemon.log');
    const logFd = openSync(logPath, 'w');
    // the log goes straight to a file, as it would to journald: the benchmark reads no pipe
    const spawnedMs = Date.now();
    const probePath = join(dir, 'memory-probe.jsonl');
    const workPath = join(dir, 'work-probe.json');
    const env = {
      ...process.env, ...unitEnvironment(cli), ...(o.memoryProbe ? { EDGE_NVR_MEMORY_PROBE: probePath, [LAYOUT_ENV]: JSON.stringify(nodeLayout()) } : {}), ...(o.workProbe ? { EDGE_NVR_WORK_PROBE: workPath } : {}),
    };
    const nodeArgs = [...o.nodeArgs, ...(o.memoryProbe ? ['--import', PROBE] : []), ...(o.workProbe ? ['--import', WORK_PROBE] : [])];
    const daemon = own(spawn(process.execPath, [...nodeArgs, cli, 'run', '--config', config], { detached: true, stdio: ['ignore', logFd, logFd], env }));
    closeSync(logFd);
    const phase = await measure(() => [daemon.pid!], sims, o.seconds, exited(daemon));
    if (!alive(daemon)) problems.push(`daemon exited during the run (${daemon.exitCode ?? daemon.signalCode})`);
    const stopAtMs = Date.now();
    const clean = await stopGroup(daemon, 'SIGTERM', 20000);
    if (!clean) problems.push('daemon did not stop within 20 s of SIGTERM; killed');
    else if (daemon.exitCode !== 0) problems.push(`daemon exited with ${daemon.exitCode ?? daemon.signalCode} after SIGTERM`);
    await stopSimulators(sims);

    // What the daemon indexed (after its clean stop, which finalises the open segments)
    const dbPath = join(dir, 'data', 'catalog.db');
    if (!existsSync(dbPath)) throw new Error(`the daemon wrote no catalog at ${dbPath}; log:\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare("SELECT camera, COUNT(*) AS n, SUM(end_ms - start_ms) AS ms FROM segments WHERE origin = 'recorded' GROUP BY camera").all() as Array<{ camera: string; n: number; ms: number }>;
    const spans = db.prepare('SELECT camera, start_ms AS start, end_ms AS end FROM segments ORDER BY camera, start_ms').all() as Span[];
    const indexedPaths = new Set((db.prepare('SELECT path FROM segments').all() as Array<{ path: string }>).map((r) => r.path));
    const gaps = db.prepare("SELECT camera, cause, start_ms, end_ms FROM gaps WHERE cause != 'daemon_stopped' ORDER BY id").all() as Array<{ camera: string; cause: string; start_ms: number; end_ms: number | null }>;
    const events = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    const lagRows = db.prepare("SELECT camera, start_ms, end_ms, (indexed_ms - end_ms) / 1000.0 AS s FROM segments WHERE origin = 'recorded' AND indexed_ms < ?").all(stopAtMs) as Array<{ camera: string; start_ms: number; end_ms: number; s: number }>;
    const firstOfCamera = new Map<string, { start_ms: number; s: number }>();
    for (const r of lagRows) if ((firstOfCamera.get(r.camera)?.start_ms ?? Infinity) > r.start_ms) firstOfCamera.set(r.camera, r);
    const lagBy5s: number[] = [];
    for (const r of lagRows) {
      const i = Math.max(0, Math.floor((r.end_ms - spawnedMs) / 5000));
      lagBy5s[i] = Math.max(lagBy5s[i] ?? 0, r.s);
    }
    db.close();
    const logLines = readFileSync(logPath, 'utf8').split('\n');
    const runningAtMs = logLines.map((l) => /"time":(\d+).*"msg":"edge-nvr running"/.exec(l)?.[1]).find(Boolean);
    // the first run of each camera's recorder (a restart later is not the start-up)
    const spawnedAt = new Map<string, number>();
    for (const l of logLines) {
      const m = /"time":(\d+).*"camera":"([^"]+)".*"msg":"(?:ffmpeg|gstreamer) recorder started"/.exec(l);
      if (m && !spawnedAt.has(m[2]!)) spawnedAt.set(m[2]!, Number(m[1]));
    }
    const lagStats = (xs: number[]) => ({ p50: round(quantile(xs, 0.5)), p99: round(quantile(xs, 0.99)), max: round(Math.max(...xs)), segments: xs.length });
    const perCamera: Record<string, number> = Object.fromEntries(sims.mounts.map((m) => [m, 0]));
    let ms = 0;
    for (const r of rows) { perCamera[r.camera] = r.n; ms += r.ms; }
    const segments = rows.reduce((a, r) => a + r.n, 0);
    const holes = countHoles(spans, problems);
    const onDisk = mp4Files(join(dir, 'data', 'recordings'));
    const staged = onDisk.filter((f) => f.includes('/.staging/'));
    const unindexed = onDisk.filter((f) => !f.includes('/.staging/') && !indexedPaths.has(f));
    if (staged.length) problems.push(`${staged.length} segment(s) left in staging after a clean stop: ${staged.slice(0, 3).join(', ')}`);
    if (unindexed.length) problems.push(`${unindexed.length} segment file(s) on disk but not in the catalog: ${unindexed.slice(0, 3).join(', ')}`);
    const firstSegmentAfterS = spans.length ? round((Math.min(...spans.map((x) => x.start)) - spawnedMs) / 1000, 1) : NaN;

    // Every warning and error the daemon logged (pino: level 40 warn, 50 error, 60 fatal)
    const logWarnings: string[] = [];
    for (const line of readFileSync(logPath, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as { level?: number; msg?: string; camera?: string; why?: string; reason?: string };
        if ((e.level ?? 0) >= 40) logWarnings.push(`${e.level} ${e.camera ?? ''} ${e.msg ?? ''} ${e.reason ?? e.why ?? ''}`.replace(/\s+/g, ' ').trim());
      } catch {
        logWarnings.push(`(not JSON) ${line.slice(0, 200)}`);
      }
    }
    const rss = phase.measured.rootRss.filter((r) => r.bytes > 0);
    const warm = rss.find((r) => r.atMs >= 5000) ?? rss[0];
    const nodeRssMB = rss.length
      ? { warm: round(warm!.bytes / MB, 1), peak: round(Math.max(...rss.map((r) => r.bytes)) / MB, 1), end: round(rss.at(-1)!.bytes / MB, 1) }
      : undefined;
    return {
      cpuSeconds: round(phase.measured.cpuSeconds),
      nodeCpuSeconds: round(phase.measured.rootSelfSeconds),
      nodeMainThreadCpuSeconds: round(phase.measured.rootMainThreadSeconds),
      nodeThreadsCpuSeconds: phase.measured.rootThreads.slice(0, 8).map((th) => [th.tid === th.pid ? 'main' : String(th.tid), round(th.cpuSeconds)]),
      peakRssMB: round(phase.measured.peakRssBytes / MB, 1),
      peakPssMB: round(phase.measured.peakPssBytes / MB, 1),
      steadyCorePercent: round(steadyCorePercent(phase.measured, o.seconds), 1),
      secondHalfCorePercent: round(secondHalfCorePercent(phase.measured, o.seconds), 1),
      cpuSeriesBy5s: by5s(phase.measured.cpu).map((c) => round(c.cpuSeconds, 1)),
      nodeRssMB,
      nodeRssSeriesMB: by5s(rss).map((r) => round(r.bytes / MB, 1)),
      memory: o.memoryProbe ? memoryAccount(probePath) : undefined,
      segments,
      segmentsPerCamera: perCamera,
      recordedSecondsPerCamera: round(ms / 1000 / n, 1),
      firstSegmentAfterS,
      startedAfterS: runningAtMs ? round((Number(runningAtMs) - spawnedMs) / 1000, 1) : undefined,
      recordersSpawnedAfterS: spawnedAt.size ? round((Math.max(...spawnedAt.values()) - spawnedMs) / 1000, 1) : undefined,
      holes,
      // the daemon, N ffmpeg and (on this system) nothing else; more means restarts or helpers
      processesSeen: phase.measured.distinctProcesses,
      simCpuPercent: round((phase.simSeconds / o.seconds) * 100, 1),
      otherCpuPercent: round((phase.otherSeconds / o.seconds) * 100, 1),
      problems,
      gaps: gaps.map((g) => ({ camera: g.camera, cause: g.cause, seconds: g.end_ms === null ? null : round((g.end_ms - g.start_ms) / 1000, 1) })),
      indexLagS: lagStats(lagRows.map((r) => r.s)),
      // once every camera had started: after "edge-nvr running" and after the last recorder's spawn
      steadyIndexLagS: lagStats(lagRows.filter((r) => runningAtMs && r.end_ms > Math.max(Number(runningAtMs), ...spawnedAt.values())).map((r) => r.s)),
      firstSegmentIndexLagS: lagStats([...firstOfCamera.values()].map((r) => r.s)),
      indexLagMaxBy5sS: Array.from(lagBy5s, (x) => round(x ?? 0, 2)),
      logWarnings,
      work: o.workProbe ? workPerSegment(workPath, segments, readFileSync(logPath, 'utf8').split('\n').filter(Boolean).length, events) : undefined,
    };
  } finally {
    await stopSimulators(sims);
  }
}

async function runBaseline(n: number, o: Options): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `edge-nvr-bench-plain-ffmpeg-${n}-`));
  tempDirs.add(dir);
  const sims = await startSimulators(n, o);
  const problems: string[] = [];
  try {
    const segs = new Map<string, Span[]>();
    const spawnedMs = Date.now();
    const firstAt = new Map<string, number>();
    const tails = new Map<string, string[]>();
    const procs: ChildProcess[] = [];
    for (const [i, url] of sims.urls.entries()) {
      const camera = sims.mounts[i]!;
      const stagingDir = join(dir, 'recordings', camera);
      mkdirSync(stagingDir, { recursive: true });
      const args = ffmpegArgs({ camera, url, safeUrl: url, stagingDir, segmentSeconds: o.segmentSeconds, timeoutSeconds: o.timeoutSeconds }, Date.now());
      // the same setpriv wrapper as the daemon (it execs in place), so ffmpeg dies with us
      const [cmd, argv] = withParentDeathSignal('ffmpeg', args);
      const p = own(spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }));
      procs.push(p);
      segs.set(camera, []);
      tails.set(camera, []);
      createInterface({ input: p.stdout! }).on('line', (line) => {
        const [name, start, end] = line.split(',');
        if (!name || start === undefined || end === undefined) return;
        // holes are counted on the media timeline: any anchor will do
        if (!firstAt.has(camera)) firstAt.set(camera, Date.now() - Number(end) * 1000);
        const base = firstAt.get(camera)!;
        segs.get(camera)!.push({ camera, start: base + Number(start) * 1000, end: base + Number(end) * 1000 });
      });
      createInterface({ input: p.stderr! }).on('line', (line) => {
        const t = tails.get(camera)!;
        t.push(line);
        if (t.length > 5) t.shift();
      });
      (p.stdio[3] as NodeJS.ReadableStream).resume(); // -progress: read and dropped
    }
    const phase = await measure(() => procs.map((p) => p.pid!), sims, o.seconds);
    for (const [i, p] of procs.entries()) {
      if (!alive(p)) problems.push(`ffmpeg for ${sims.mounts[i]} exited during the run (${p.exitCode ?? p.signalCode}): ${tails.get(sims.mounts[i]!)!.at(-1) ?? ''}`);
    }
    // SIGINT, as the daemon stops them: ffmpeg closes and reports the open segment
    const clean = await Promise.all(procs.map((p) => stopGroup(p, 'SIGINT', 5000)));
    if (clean.some((c) => !c)) problems.push(`${clean.filter((c) => !c).length} ffmpeg ignored SIGINT for 5 s; killed`);
    await stopSimulators(sims);
    const perCamera: Record<string, number> = {};
    let seconds = 0;
    for (const [camera, list] of segs) {
      perCamera[camera] = list.length;
      seconds += list.reduce((a, s) => a + (s.end - s.start), 0) / 1000;
      const files = readdirSync(join(dir, 'recordings', camera)).filter((f) => f.endsWith('.mp4')).length;
      if (files !== list.length) problems.push(`${camera}: ffmpeg reported ${list.length} segments, ${files} files on disk`);
    }
    return {
      cpuSeconds: round(phase.measured.cpuSeconds),
      peakRssMB: round(phase.measured.peakRssBytes / MB, 1),
      peakPssMB: round(phase.measured.peakPssBytes / MB, 1),
      steadyCorePercent: round(steadyCorePercent(phase.measured, o.seconds), 1),
      secondHalfCorePercent: round(secondHalfCorePercent(phase.measured, o.seconds), 1),
      cpuSeriesBy5s: by5s(phase.measured.cpu).map((c) => round(c.cpuSeconds, 1)),
      segments: Object.values(perCamera).reduce((a, b) => a + b, 0),
      segmentsPerCamera: perCamera,
      recordedSecondsPerCamera: round(seconds / n, 1),
      firstSegmentAfterS: firstAt.size ? round((Math.min(...firstAt.values()) - spawnedMs) / 1000, 1) : NaN,
      holes: countHoles([...segs.values()].flat(), problems),
      processesSeen: phase.measured.distinctProcesses,
      simCpuPercent: round((phase.simSeconds / o.seconds) * 100, 1),
      otherCpuPercent: round((phase.otherSeconds / o.seconds) * 100, 1),
      problems,
    };
  } finally {
    await stopSimulators(sims);
  }
}

// ---------------------------------------------------------------------------------------------

interface Row {
  cameras: number;
  ffmpeg: RunResult;
  /** by backend, and `<backend> (baseline build)` for --baseline-cli */
  daemons: Record<string, RunResult>;
}

const fmt = (x: number | undefined, d: number) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : '-');

/** The headline: per camera count, plain ffmpeg and the daemon on each backend. */
function table(rows: Row[]): string {
  const head = [
    '| cameras | recorder | CPU s | CPU ratio | steady % core/cam | steady CPU ratio | second-half CPU ratio | PSS MB/cam | Node RSS MB warm / peak | gaps | holes | index lag s p50 / p99 / max | once all started: p99 / max | segments |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const body: string[] = [];
  for (const r of rows) {
    const base = r.ffmpeg;
    const line = (name: string, x: RunResult) => {
      const rss = x.nodeRssMB ? `${fmt(x.nodeRssMB.warm, 1)} / ${fmt(x.nodeRssMB.peak, 1)}` : '-';
      const lag = x.indexLagS ? `${fmt(x.indexLagS.p50, 2)} / ${fmt(x.indexLagS.p99, 2)} / ${fmt(x.indexLagS.max, 2)}` : '-';
      const steady = x.steadyIndexLagS ? `${fmt(x.steadyIndexLagS.p99, 2)} / ${fmt(x.steadyIndexLagS.max, 2)}` : '-';
      body.push(`| ${r.cameras} | ${name} | ${fmt(x.cpuSeconds, 2)} | ${fmt(x.cpuSeconds / base.cpuSeconds, 2)} | ${fmt(x.steadyCorePercent / r.cameras, 2)}`
        + ` | ${fmt(x.steadyCorePercent / base.steadyCorePercent, 2)} | ${fmt(x.secondHalfCorePercent / base.secondHalfCorePercent, 2)} | ${fmt(x.peakPssMB / r.cameras, 1)} | ${rss} | ${x.gaps?.length ?? '-'} | ${x.holes} | ${lag} | ${steady} | ${x.segments} |`);
    };
    line('plain ffmpeg', base);
    for (const [b, x] of Object.entries(r.daemons)) line(`daemon, ${b}`, x);
  }
  return [...head, ...body].join('\n');
}

function detailTable(rows: Row[]): string {
  const head = [
    '| cameras | recorder | Node CPU s (event loop) | Node RSS MB warm / peak / end | peak PSS MB | peak RSS MB | recorded s/cam | first segment after s | every camera started after s (running / last recorder spawned) | processes seen | simulator % core | other load % core |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const body: string[] = [];
  for (const r of rows) {
    for (const [name, x] of [['plain ffmpeg', r.ffmpeg], ...Object.entries(r.daemons).map(([b, d]) => [`daemon, ${b}`, d])] as Array<[string, RunResult]>) {
      const rss = x.nodeRssMB ? `${x.nodeRssMB.warm} / ${x.nodeRssMB.peak} / ${x.nodeRssMB.end}` : '-';
      const node = x.nodeCpuSeconds === undefined ? '-' : `${fmt(x.nodeCpuSeconds, 2)} (${fmt(x.nodeMainThreadCpuSeconds, 2)})`;
      body.push(`| ${r.cameras} | ${name} | ${node} | ${rss} | ${x.peakPssMB} | ${x.peakRssMB} | ${x.recordedSecondsPerCamera} | ${x.firstSegmentAfterS} | ${x.startedAfterS ?? '-'} / ${x.recordersSpawnedAfterS ?? '-'} | ${x.processesSeen} | ${x.simCpuPercent} | ${x.otherCpuPercent} |`);
    }
  }
  return [...head, ...body].join('\n');
}

/**
 * A camera count given more than once (`--cameras 64,64,64`) is measured in rounds, plain ffmpeg
 * and the daemon alternating: plain ffmpeg's own CPU moves by about a tenth between identical
 * runs, so one round's ratio is read to a tenth; the median of several, closer.
 */
function roundsTable(rows: Row[]): string | undefined {
  const counts = groupBy(rows, (r) => r.cameras);
  if (![...counts.values()].some((g) => g.length > 1)) return undefined;
  const lines = ['| cameras | recorder | rounds | CPU ratio by round | median | steady CPU ratio: median | second-half CPU ratio: median |', '|---:|---|---:|---|---:|---:|---:|'];
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
  for (const [n, group] of counts) {
    if (group.length < 2) continue;
    for (const b of Object.keys(group[0]!.daemons)) {
      const runs = group.filter((r) => r.daemons[b]);
      const ratios = runs.map((r) => r.daemons[b]!.cpuSeconds / r.ffmpeg.cpuSeconds);
      const steady = runs.map((r) => r.daemons[b]!.steadyCorePercent / r.ffmpeg.steadyCorePercent);
      const half = runs.map((r) => r.daemons[b]!.secondHalfCorePercent / r.ffmpeg.secondHalfCorePercent);
      lines.push(`| ${n} | daemon, ${b} | ${runs.length} | ${ratios.map((x) => fmt(x, 2)).join(', ')} | ${fmt(median(ratios), 2)} | ${fmt(median(steady), 2)} | ${fmt(median(half), 2)} |`);
    }
  }
  return lines.join('\n');
}

/** This build's daemon against the baseline build's, run in the same invocation: ratios (this / baseline). */
function againstBaseline(rows: Row[], backends: BackendName[]): string {
  const lines = ['| cameras | backend | index lag p50 / p99 / max: this build (s) | baseline build (s) | p99 ratio | Node CPU s ratio | event loop CPU s ratio | Node CPU per segment ratio | CPU s ratio | Node RSS peak ratio |', '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const lag = (x: RunResult) => (x.indexLagS ? `${fmt(x.indexLagS.p50, 2)} / ${fmt(x.indexLagS.p99, 2)} / ${fmt(x.indexLagS.max, 2)}` : '-');
  for (const r of rows) {
    for (const b of backends) {
      const now = r.daemons[b], before = r.daemons[`${b} (baseline build)`];
      if (!now || !before) continue;
      lines.push(`| ${r.cameras} | ${b} | ${lag(now)} | ${lag(before)} | ${fmt((now.indexLagS?.p99 ?? NaN) / (before.indexLagS?.p99 ?? NaN), 2)}`
        + ` | ${fmt((now.nodeCpuSeconds ?? NaN) / (before.nodeCpuSeconds ?? NaN), 2)} | ${fmt((now.nodeMainThreadCpuSeconds ?? NaN) / (before.nodeMainThreadCpuSeconds ?? NaN), 2)}`
        + ` | ${fmt(((now.nodeCpuSeconds ?? NaN) / now.segments) / ((before.nodeCpuSeconds ?? NaN) / before.segments), 2)} | ${fmt(now.cpuSeconds / before.cpuSeconds, 2)} | ${fmt((now.nodeRssMB?.peak ?? NaN) / (before.nodeRssMB?.peak ?? NaN), 2)} |`);
    }
  }
  return lines.join('\n');
}

/** --work-probe: the daemon's work per indexed segment, and its most frequent statements and file calls. */
function workTable(rows: Row[]): string {
  const out = [
    '| cameras | daemon | segments | log lines | events | SQLite statements (prepared) | file calls |',
    '|---:|---|---:|---:|---:|---:|---:|',
  ];
  const detail: string[] = [];
  for (const r of rows) {
    for (const [b, x] of Object.entries(r.daemons)) {
      const w = x.work;
      if (!w) continue;
      out.push(`| ${r.cameras} | ${b} | ${w.segments} | ${w.logLines} | ${w.events} | ${w.statements} (${w.prepared}) | ${w.fsCalls} |`);
      detail.push(`\n${r.cameras} cameras, ${b}, per segment:`);
      for (const [k, n] of w.topStatements) detail.push(`  ${String(n).padStart(6)}  ${k}`);
      for (const [k, n] of w.topFs) detail.push(`  ${String(n).padStart(6)}  fs ${k}`);
    }
  }
  return [...out, ...detail].join('\n');
}

/** --memory-probe: the daemon's memory from inside, at its largest RSS (MB). */
function memoryTable(rows: Row[]): string {
  const lines = [
    '| cameras | daemon | RSS at peak | RssAnon | RssFile | V8 heap total / used (main) | external | of which ArrayBuffers | analysis thread heap total / used / external (peak) | onnxruntime mapped | RSS at end |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const r of rows) {
    for (const [name, x] of Object.entries(r.daemons)) {
      const m = x.memory;
      if (!m) continue;
      const p = m.atPeak;
      lines.push(`| ${r.cameras} | ${name} | ${p.rss} | ${p.rssAnon} | ${p.rssFile} | ${p.heapTotal} / ${p.heapUsed} | ${p.external} | ${p.arrayBuffers} | ${m.workerHeapTotalPeak} / ${m.workerHeapUsedPeak} / ${m.workerExternalPeak} | ${m.onnxruntimeLoaded ? 'yes' : 'no'} | ${m.atEnd.rss} |`);
    }
  }
  lines.push('', '| cameras | daemon | at | node: code (.text) / ICU data / other .rodata / symbols / rest | other files (largest) | malloc main arena | other anonymous | V8 heap total / used | external |', '|---:|---|---|---:|---|---:|---:|---:|---:|');
  for (const r of rows) {
    for (const [name, x] of Object.entries(r.daemons)) {
      for (const [at, p] of [['peak', x.memory?.atPeak], ['end', x.memory?.atEnd]] as const) {
        const s = p?.split;
        if (!s) continue;
        const files = s.files.slice(0, 4).map(([f, v]) => `${f.replace(/^.*\//, '')} ${v}`).join(', ');
        lines.push(`| ${r.cameras} | ${name} | ${at} | ${s.node.text} / ${s.node.icuData} / ${s.node.rodata} / ${s.node.symbols} / ${s.node.other} | ${files} | ${s.anon.brkHeap} | ${s.anon.other} | ${p.heapTotal} / ${p.heapUsed} | ${p.external} |`);
      }
    }
  }
  return lines.join('\n');
}

function ffmpegVersion(): string {
  try {
    return execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

function machine(): Record<string, string | number> {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    nproc: cpus().length,
    cpu: model,
    memoryGB: round(Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024 / 1024, 1),
    ffmpeg: ffmpegVersion(),
    node: process.version,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  keepTemp = o.keep;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
  const started = new Date();
  const m = machine();
  console.error(`bench/record: cameras ${o.cameras.join(',')}, backends ${o.backends.join(',')}, ${o.seconds} s each, simulator ${o.width}x${o.height} @ ${o.fps} fps, ${o.bitrate} kbit/s, gop ${o.gop}; ${m.nproc} x ${m.cpu}`);
  const rows: Row[] = [];
  const failures: string[] = [];
  const report = (n: number, who: string, r: RunResult) => {
    const lag = r.indexLagS ? `, index lag p99 ${r.indexLagS.p99} s (first segments ${r.firstSegmentIndexLagS?.p99} s; largest by 5 s: ${r.indexLagMaxBy5sS?.join(' ')})` : '';
    console.error(`[${n} camera(s)]   ${who}: ${r.cpuSeconds} CPU s, PSS ${r.peakPssMB} MB, ${r.segments} segments${lag}, simulator ${r.simCpuPercent} % core`);
    const empty = Object.entries(r.segmentsPerCamera).filter(([, c]) => c === 0).map(([cam]) => cam);
    if (empty.length) failures.push(`${n} camera(s), ${who}: no segments for ${empty.join(', ')}`);
    for (const p of r.problems) console.error(`[${n} camera(s)]   ${who} problem: ${p}`);
    if (r.nodeThreadsCpuSeconds) console.error(`[${n} camera(s)]   ${who} busiest threads, CPU s: ${r.nodeThreadsCpuSeconds.map(([t, s]) => `${t} ${s}`).join(', ')}`);
    for (const w of r.logWarnings ?? []) console.error(`[${n} camera(s)]   ${who} log: ${w}`);
  };
  for (const n of o.cameras) {
    const daemons: Row['daemons'] = {};
    // plain ffmpeg between the daemons, so that a change in the machine's other load shows
    for (const [i, backend] of o.backends.entries()) {
      if (o.baselineCli) {
        console.error(`[${n} camera(s)] daemon of the baseline build, ${backend} backend ...`);
        daemons[`${backend} (baseline build)`] = await runDaemon(n, backend, o, o.baselineCli);
        report(n, `daemon ${backend} (baseline build)`, daemons[`${backend} (baseline build)`]!);
      }
      if (i === 1 || o.backends.length === 1) {
        console.error(`[${n} camera(s)] plain ffmpeg ...`);
        rows.push({ cameras: n, ffmpeg: await runBaseline(n, o), daemons });
        report(n, 'plain ffmpeg', rows.at(-1)!.ffmpeg);
      }
      console.error(`[${n} camera(s)] daemon, ${backend} backend ...`);
      daemons[backend] = await runDaemon(n, backend, o);
      report(n, `daemon ${backend}`, daemons[backend]!);
    }
  }
  const inputs = { ...o, json: undefined, keep: undefined, nodeArgs: o.nodeArgs.length ? o.nodeArgs : undefined };
  const what = o.source === 'clip' ? `footage encoded once (${o.clip ?? 'a pattern'})` : 'a pattern encoded per camera';
  console.log(`\nbench/record ${started.toISOString()}: ${o.seconds} s per run, simulator ${what}, ${o.width}x${o.height} @ ${o.fps} fps, ${o.bitrate} kbit/s, gop ${o.gop}, segments of ${o.segmentSeconds} s${o.viewWatching ? '' : ', view watching off'}${o.viewCpuPercent === undefined ? '' : `, view_cpu_percent ${o.viewCpuPercent}`}\n`);
  console.log(table(rows));
  const rounds = roundsTable(rows);
  if (rounds) console.log(`\n${rounds}`);
  console.log('');
  console.log(detailTable(rows));
  if (o.baselineCli) console.log(`\n${againstBaseline(rows, o.backends)}`);
  if (o.memoryProbe) console.log(`\n${memoryTable(rows)}`);
  if (o.workProbe) console.log(`\n${workTable(rows)}`);
  const date = started.toISOString().slice(0, 10);
  const out = o.json ?? join(ROOT, 'bench', 'results', `record-${date}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: started.toISOString(), command: `node dist/bench/record.js ${process.argv.slice(2).join(' ')}`.trim(), machine: m, inputs, rows, failures }, null, 2) + '\n');
  console.log(`\nresults: ${out}`);
  if (failures.length) {
    console.error(`\nFAILED: a recorder wrote nothing:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
}).finally(cleanUp);
