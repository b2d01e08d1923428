/**
 * bench/cpu-profile: where a V8 CPU profile's time went, per module and per function.
 *
 * Reads one or more `.cpuprofile` files (what `node --cpu-prof` writes: bench/record's
 * `--node-args="--cpu-prof --cpu-prof-dir=DIR"`) and prints, per file, the self time of each
 * module (the project's files by their path under the repository, node's own by `node:<name>`,
 * native code and V8's states by their names: garbage collector, idle, program) and, per
 * function, its self time and its total time (itself and everything it called, counted once per
 * sample however often it recurses). A profile samples wall time on its thread: on a loaded
 * machine preemption inflates every entry alike, so read the distribution, not the seconds.
 *
 *   node dist/bench/cpu-profile.js DIR/*.cpuprofile [--top 40] [--from S] [--to S] [--json FILE]
 *
 * `--from 20` leaves out the first 20 s (a 64-camera daemon's start-up: spawning, first pins).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface Entry { name: string; selfS: number; totalS?: number }
export interface ProfileSummary { file: string; seconds: number; modules: Entry[]; functions: Entry[] }

/** A script's URL as a short module name: `recorder/segment-store.js`, `node:fs/promises`, `better-sqlite3/...`. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const dist = path.lastIndexOf('/dist/');
  return dist >= 0 ? path.slice(dist + '/dist/'.length) : path;
}

function functionKey(f: CallFrame): string {
  const mod = moduleOf(f.url, f.functionName);
  const name = f.functionName || '(anonymous)';
  return f.url ? `${name} ${mod}:${f.lineNumber + 1}` : name;
}

/** `fromS`, `toS`: only the samples in this window of the profile (seconds from its start: leave the start-up out). */
export function summarise(file: string, profile: Profile, fromS = 0, toS = Infinity): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfMod = new Map<string, number>();
  const selfFn = new Map<string, number>();
  const totalFn = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
  const { samples, timeDeltas } = profile;
  let atUs = 0;
  let windowUs = 0;
  for (let i = 0; i < samples.length; i++) {
    atUs += timeDeltas[i] ?? 0;
    // a sample stands for the time until the next one (the last: the mean)
    const us = i + 1 < timeDeltas.length ? timeDeltas[i + 1]! : (profile.endTime - profile.startTime) / Math.max(1, samples.length);
    if (atUs < fromS * 1e6 || atUs >= toS * 1e6) continue;
    windowUs += us;
    const node = byId.get(samples[i]!);
    if (!node || us <= 0) continue;
    add(selfMod, moduleOf(node.callFrame.url, node.callFrame.functionName), us);
    add(selfFn, functionKey(node.callFrame), us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const key = functionKey(byId.get(id)!.callFrame);
      if (key === '(root)' || seen.has(key)) continue;
      seen.add(key);
      add(totalFn, key, us);
    }
  }
  const s = (us: number) => Math.round(us / 1e4) / 100;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    file,
    seconds: s(windowUs),
    modules: sorted(selfMod).map(([name, us]) => ({ name, selfS: s(us) })),
    functions: sorted(totalFn).map(([name, us]) => ({ name, selfS: s(selfFn.get(name) ?? 0), totalS: s(us) })),
  };
}

function print(sum: ProfileSummary, top: number): void {
  console.log(`\n${sum.file}: ${sum.seconds} s of samples\n`);
  console.log('| module | self s | % |\n|---|---:|---:|');
  for (const m of sum.modules.slice(0, top)) console.log(`| ${m.name} | ${m.selfS} | ${((m.selfS / sum.seconds) * 100).toFixed(1)} |`);
  console.log('\nby self time:\n| function | self s | total s |\n|---|---:|---:|');
  for (const f of [...sum.functions].sort((a, b) => b.selfS - a.selfS).slice(0, top)) console.log(`| ${f.name} | ${f.selfS} | ${f.totalS} |`);
  console.log('\nby total time:\n| function | self s | total s |\n|---|---:|---:|');
  for (const f of sum.functions.slice(0, top)) console.log(`| ${f.name} | ${f.selfS} | ${f.totalS} |`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '40' }, json: { type: 'string' }, from: { type: 'string', default: '0' }, to: { type: 'string', default: 'Infinity' } },
  });
  if (!positionals.length) {
    console.error('usage: node dist/bench/cpu-profile.js FILE.cpuprofile... [--top 40] [--from S] [--to S] [--json FILE]');
    process.exit(2);
  }
  const sums = positionals.map((f) => summarise(f, JSON.parse(readFileSync(f, 'utf8')) as Profile, Number(values.from), Number(values.to)));
  for (const sum of sums) print(sum, Number(values.top));
  if (values.json) writeFileSync(values.json, JSON.stringify(sums, null, 1));
}
