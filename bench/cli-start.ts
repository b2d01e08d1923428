/**
 * How long an `edge-nvr` CLI call takes from spawn to exit, this build against a baseline build,
 * for the light commands people and the tests run most (`--help`, `status`, `verify`, `audit`,
 * `recordings`, `hold list` on a data dir), those that read a config (`status`, `verify`,
 * `recordings` given `--config`), and a daemon start (`run --config`, spawn to the
 * `edge-nvr running` log line: catalog open, recovery, recorders started; then SIGTERM).
 *
 *   npm run build && node dist/bench/cli-start.js --baseline-rev <commit> [--runs 15]
 *   node dist/bench/cli-start.js --baseline-cli /path/to/baseline/dist/daemon/cli.js
 *
 * `--baseline-rev` builds that commit's tree (git archive, this checkout's node_modules linked,
 * tsc) in a temporary directory. Runs are interleaved (round after round, each command on both
 * builds, the order alternating) so that a shared machine's load falls on both alike; the figures
 * are medians, with `node -e 0` as the floor no CLI call can go below. It also counts the modules
 * each command loads (a loader hook), which does not depend on the machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Catalog } from '../recorder/catalog/catalog.js';
import { CLI } from '../test/support/cli.js';
import { writeConfig } from '../test/support/daemon.js';
import { moduleTrace } from '../test/support/module-trace.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { 'baseline-cli': { type: 'string' }, 'baseline-rev': { type: 'string' }, runs: { type: 'string' }, out: { type: 'string' } } });
const runs = Number(values.runs ?? 15);
const work = mkdtempSync(join(tmpdir(), 'cli-start-'));

/** The repository root this bench runs from (dist/bench/cli-start.js or bench/cli-start.ts). */
const root = resolve(CLI, '../../..');

function baselineCli(): string {
  if (values['baseline-cli']) return resolve(values['baseline-cli']);
  if (!values['baseline-rev']) throw new Error('give --baseline-cli PATH (a built dist/daemon/cli.js) or --baseline-rev COMMIT');
  const tree = join(work, 'baseline');
  mkdirSync(tree);
  execFileSync('bash', ['-c', `git -C "${root}" archive "${values['baseline-rev']}" | tar -x -C "${tree}"`], { stdio: 'inherit' });
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
  process.stderr.write(`building ${values['baseline-rev']} in ${tree}\n`);
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: tree, stdio: 'inherit' });
  return join(tree, 'dist/daemon/cli.js');
}

function timed(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; code: number | null }> {
  return new Promise((done, fail) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, { stdio: 'ignore', env });
    child.on('error', fail);
    child.on('close', (code) => done({ ms: Number(process.hrtime.bigint() - start) / 1e6, code }));
  });
}

/** `run --config` from spawn to its `edge-nvr running` log line, then stopped with SIGTERM. */
function timedStart(cli: string, configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; code: number | null }> {
  return new Promise((done, fail) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [cli, 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'ignore'], env });
    let out = '';
    let ms: number | undefined;
    child.stdout.on('data', (d) => {
      out += String(d);
      if (ms === undefined && out.includes('edge-nvr running')) {
        ms = Number(process.hrtime.bigint() - start) / 1e6;
        child.kill('SIGTERM');
      }
    });
    child.on('error', fail);
    child.on('close', (code) => (ms === undefined ? fail(new Error(`${cli} run exited (${code}) before it was running`)) : done({ ms, code })));
  });
}


const baseline = baselineCli();
if (!existsSync(baseline)) throw new Error(`no baseline CLI at ${baseline}`);
const config = writeConfig(work, [{ id: 'gate', url: 'rtsp://127.0.0.1:9/none' }]);
const data = join(work, 'data');
Catalog.open(data).close();

const COMMANDS: Array<{ name: string; args: string[] }> = [
  { name: '--help', args: ['--help'] },
  { name: 'status --data', args: ['status', '--data', data] },
  { name: 'verify --data', args: ['verify', '--data', data] },
  { name: 'audit --data', args: ['audit', '--data', data] },
  { name: 'recordings --data', args: ['recordings', '--data', data] },
  { name: 'hold list --data', args: ['hold', 'list', '--data', data] },
  { name: 'status --config', args: ['status', '--config', config] },
  { name: 'verify --config', args: ['verify', '--config', config] },
  { name: 'recordings --config', args: ['recordings', '--config', config] },
];
/** a daemon start: its own config (and data dir) per build, so that neither sees the other's catalog */
const DAEMON = 'run --config (to running)';
const daemonConfigs = { baseline: writeConfig(join(work, 'run-baseline'), [{ id: 'gate', url: 'rtsp://127.0.0.1:9/none' }]),
  this: writeConfig(join(work, 'run-this'), [{ id: 'gate', url: 'rtsp://127.0.0.1:9/none' }]) };
const builds = [{ name: 'baseline', cli: baseline }, { name: 'this', cli: CLI }] as const;

// modules loaded: one traced call each
const modules: Record<string, Record<string, number>> = {};
for (const c of COMMANDS) {
  modules[c.name] = {};
  for (const b of builds) {
    const trace = moduleTrace(join(work, 'trace', b.name, c.name.replace(/\W+/g, '-')));
    await timed([b.cli, ...c.args], { ...process.env, NODE_OPTIONS: trace.nodeOptions });
    modules[c.name]![b.name] = trace.loaded().filter((u) => u.startsWith('file:')).length;
  }
}
modules[DAEMON] = {};
for (const b of builds) {
  const trace = moduleTrace(join(work, 'trace', b.name, 'run'));
  await timedStart(b.cli, daemonConfigs[b.name], { ...process.env, NODE_OPTIONS: trace.nodeOptions });
  modules[DAEMON][b.name] = trace.loaded().filter((u) => u.startsWith('file:')).length;
}

const NAMES = [...COMMANDS.map((c) => c.name), DAEMON];
const times: Record<string, Record<string, number[]>> = Object.fromEntries(NAMES.map((n) => [n, { baseline: [], this: [] }]));
const codes: Record<string, Record<string, Set<number | null>>> = Object.fromEntries(NAMES.map((n) => [n, { baseline: new Set(), this: new Set() }]));
const floor: number[] = [];
const load0 = loadavg()[0]!;
for (let round = 0; round < runs; round++) {
  floor.push((await timed(['-e', '0'])).ms);
  for (const c of COMMANDS) {
    const order = round % 2 ? [...builds].reverse() : builds;
    for (const b of order) {
      const r = await timed([b.cli, ...c.args]);
      times[c.name]![b.name]!.push(r.ms);
      codes[c.name]![b.name]!.add(r.code);
    }
  }
  for (const b of round % 2 ? [...builds].reverse() : builds) {
    const r = await timedStart(b.cli, daemonConfigs[b.name]);
    times[DAEMON]![b.name]!.push(r.ms);
    codes[DAEMON]![b.name]!.add(r.code);
  }
}
const load1 = loadavg()[0]!;

const rows = NAMES.map((name) => {
  const base = median(times[name]!.baseline!);
  const now = median(times[name]!.this!);
  const same = [...codes[name]!.baseline!].sort().join() === [...codes[name]!.this!].sort().join();
  return { command: name, baseline_ms: Math.round(base), this_ms: Math.round(now), ratio: Math.round((now / base) * 100) / 100,
    modules_baseline: modules[name]?.baseline ?? null, modules_this: modules[name]?.this ?? null, exit_codes: [...codes[name]!.this!], same_exit_codes: same };
});
const node0 = Math.round(median(floor));
const result = { at: new Date().toISOString(), machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, shared machine, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`,
  node: process.version, runs, baseline, node_e_0_ms: node0, rows };

console.log(`| command | baseline (ms) | this (ms) | ratio | modules loaded (baseline -> this) |`);
console.log(`|---|---|---|---|---|`);
for (const r of rows) console.log(`| \`${r.command}\` | ${r.baseline_ms} | ${r.this_ms} | **${r.ratio.toFixed(2)}** | ${r.modules_baseline === null ? '' : `${r.modules_baseline} -> ${r.modules_this}`} |`);
console.log(`| \`node -e 0\` (floor) | ${node0} | | | |`);
console.log(`\nmedians of ${runs} interleaved runs; ${result.machine}; node ${process.version}`);
const mismatched = rows.filter((r) => !r.same_exit_codes);
if (mismatched.length) console.log(`EXIT CODES DIFFER: ${mismatched.map((r) => r.command).join(', ')}`);
if (values.out) writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n');
rmSync(work, { recursive: true, force: true });
process.exitCode = mismatched.length ? 1 : 0;
