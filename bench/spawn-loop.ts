/**
 * bench/spawn-loop: how long starting recorders holds the daemon's event loop, Node's
 * child_process.spawn (what the backends did before S11) against the spawner
 * (recorder/backends/spawner.ts), in the same process, rounds alternating in order.
 *
 * Each round starts `--children` recorder-like children one a turn of the loop, as the daemon
 * does at start-up, each as the ffmpeg backend starts it (setpriv --pdeathsig, its own process
 * group, stdout, stderr and fd 3 read): `sleep 30` stands in for ffmpeg, so the figures are the
 * spawning alone. The process holds `--ballast-mb` of touched memory first, so that a fork copies
 * page tables of a daemon's size (its RSS is 90-130 MB at 64 cameras). Figures per round: the
 * time spent inside the spawn calls (the loop can do nothing else then), the longest the loop
 * went without a turn (a 1 ms interval's largest gap), the wall time until every child runs, and
 * the process's CPU. The spawner's own start (once per daemon) is timed apart.
 *
 *   node dist/bench/spawn-loop.js [--children 64] [--rounds 3] [--ballast-mb 100] [--json FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { withParentDeathSignal } from '../recorder/backends/orphans.js';
import { killGroup } from '../recorder/backends/process-group.js';
import { spawnRecorder, type SpawnedChild } from '../recorder/backends/spawner.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    children: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    'ballast-mb': { type: 'string', default: '100' },
    json: { type: 'string' },
  },
});
const CHILDREN = Number(values.children);
const ROUNDS = Number(values.rounds);

const ballast = Buffer.alloc(Number(values['ballast-mb']) * 1024 * 1024, 1);

type Way = 'spawn' | 'spawner';
interface Round { way: Way; inSpawnMs: number; longestGapMs: number; allRunningMs: number; cpuMs: number }

function startOne(way: Way): { child: ChildProcess | SpawnedChild; running: Promise<unknown> } {
  const [command, args] = withParentDeathSignal('sleep', ['30']);
  if (way === 'spawn') {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    for (const s of [child.stdout, child.stderr, child.stdio[3] as NodeJS.ReadableStream]) s?.resume();
    return { child, running: once(child, 'spawn') };
  }
  const child = spawnRecorder(command, args, ['null', 'socket', 'socket', 'socket']);
  const running = once(child, 'spawn').then(() => { for (const s of child.stdio.slice(1)) s?.resume(); });
  return { child, running };
}

async function round(way: Way): Promise<Round> {
  let longestGapMs = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
  }, 1);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let inSpawnMs = 0;
  const started: Array<{ child: ChildProcess | SpawnedChild; running: Promise<unknown> }> = [];
  for (let i = 0; i < CHILDREN; i++) {
    const before = performance.now();
    started.push(startOne(way));
    inSpawnMs += performance.now() - before;
    await new Promise((r) => setImmediate(r)); // one a turn, as the daemon starts its cameras
  }
  await Promise.all(started.map((s) => s.running));
  const allRunningMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(ticker);
  longestGapMs = Math.max(longestGapMs, performance.now() - last);
  const exits = started.map((s) => once(s.child, 'close'));
  for (const s of started) killGroup(s.child, 'SIGKILL');
  await Promise.all(exits);
  return { way, inSpawnMs, longestGapMs, allRunningMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

// the spawner's own start, once per daemon
const coldT0 = performance.now();
const warm = spawnRecorder('true', [], ['null', 'null', 'null']);
const coldInCallMs = performance.now() - coldT0;
await once(warm, 'exit');
const coldRunningMs = performance.now() - coldT0;

const rounds: Round[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const way of (r % 2 === 0 ? ['spawn', 'spawner'] : ['spawner', 'spawn']) as Way[]) rounds.push(await round(way));
}
const med = (way: Way, key: keyof Omit<Round, 'way'>) => round1(median(rounds.filter((r) => r.way === way).map((r) => r[key])));
console.log(`bench/spawn-loop: ${CHILDREN} children a round, ${ROUNDS} rounds each way (alternating), ballast ${values['ballast-mb']} MB (RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB)`);
console.log(`spawner start (once): ${round1(coldInCallMs)} ms in the call, ${round1(coldRunningMs)} ms until its first child ran\n`);
console.log('| way | in spawn calls ms | longest loop gap ms | until all run ms | Node CPU ms |');
console.log('|---|---:|---:|---:|---:|');
for (const way of ['spawn', 'spawner'] as Way[]) {
  console.log(`| ${way === 'spawn' ? 'child_process.spawn' : 'spawner'} (median of ${ROUNDS}) | ${med(way, 'inSpawnMs')} | ${med(way, 'longestGapMs')} | ${med(way, 'allRunningMs')} | ${med(way, 'cpuMs')} |`);
}
console.log(`\nratios spawner / spawn: in spawn calls ${ratio(med('spawner', 'inSpawnMs'), med('spawn', 'inSpawnMs'))}, longest gap ${ratio(med('spawner', 'longestGapMs'), med('spawn', 'longestGapMs'))}, until all run ${ratio(med('spawner', 'allRunningMs'), med('spawn', 'allRunningMs'))}, Node CPU ${ratio(med('spawner', 'cpuMs'), med('spawn', 'cpuMs'))}`);
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), command: process.argv.slice(1).join(' '), children: CHILDREN, ballastMB: Number(values['ballast-mb']), spawnerStart: { inCallMs: coldInCallMs, untilFirstChildMs: coldRunningMs }, rounds }, null, 1)}\n`);
}
ballast.fill(0);
