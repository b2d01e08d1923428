/**
 * bench/node-floor: what a Node process costs before it records anything. Interleaved, `--runs`
 * times each: a bare `node` waiting on a timer, and `edge-nvr run` with one camera configured and
 * disabled (no recorder, no view watching: the daemon's own start-up, modules and catalog), of
 * this build and, with `--baseline-cli`, of another build (each with its own unit's environment).
 * Each is read `--settle` seconds after it started: VmRSS, RssAnon (heaps, malloc) and RssFile
 * (the node binary's and libraries' pages it touched). Prints medians and this build's ratio to
 * the baseline's. See bench/README.md, "Node RSS at 16 cameras: the floor".
 *
 *   npm run build && node dist/bench/node-floor.js --baseline-cli /tmp/base/dist/daemon/cli.js
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { unitEnvironment } from './unit-env.js';
import { median } from './stats.js';
import { nodeLayout, residentSplit, type ResidentSplit } from './smaps-split.js';

const ROOT = dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');
const CLI = join(ROOT, 'dist', 'daemon', 'cli.js');

interface Reading { rss: number; anon: number; file: number; split?: ResidentSplit }

const LAYOUT = nodeLayout();

const kb = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) / 1024;

/** Starts `argv`, reads its memory after `settleS`, stops it (SIGTERM, then SIGKILL). */
async function reading(argv: string[], env: NodeJS.ProcessEnv, settleS: number): Promise<Reading> {
  const p = spawn(process.execPath, argv, { env, stdio: 'ignore' });
  const closed = new Promise((r) => p.once('close', r));
  await new Promise((r) => setTimeout(r, settleS * 1000));
  let status = '';
  let split: ResidentSplit | undefined;
  try {
    status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
    split = residentSplit(p.pid!, LAYOUT);
  } catch { /* exited: NaN below */ }
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 20_000);
  await closed;
  clearTimeout(killer);
  if (!status) throw new Error(`${argv.join(' ')} exited before it was measured`);
  return { rss: kb(status, 'VmRSS'), anon: kb(status, 'RssAnon'), file: kb(status, 'RssFile'), split };
}

function daemonArgs(cli: string, dir: string): string[] {
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'box:', '  id: floor-box', 'storage:', `  path: ${join(dir, 'data')}`, '  free_space_floor_mb: 0', 'log:', '  level: warn',
    'cameras:', '  - id: cam01', '    enabled: false', '    source:', '      type: rtsp', '      url: rtsp://127.0.0.1:9/none',
  ].join('\n') + '\n');
  return [cli, 'run', '--config', config];
}


async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, settle: { type: 'string', default: '8' }, 'baseline-cli': { type: 'string' } } });
  const runs = Number(values.runs), settle = Number(values.settle);
  const subjects: Array<{ name: string; argv: (dir: string) => string[]; env: NodeJS.ProcessEnv }> = [
    { name: 'bare node (a timer)', argv: () => ['-e', 'setInterval(() => {}, 1000)'], env: { ...process.env, ...unitEnvironment(CLI) } },
    ...(values['baseline-cli'] ? [{ name: 'daemon, no camera recorded (baseline build)', argv: (d: string) => daemonArgs(values['baseline-cli']!, d), env: { ...process.env, ...unitEnvironment(values['baseline-cli']) } }] : []),
    { name: 'daemon, no camera recorded (this build)', argv: (d: string) => daemonArgs(CLI, d), env: { ...process.env, ...unitEnvironment(CLI) } },
  ];
  const got = new Map<string, Reading[]>(subjects.map((s) => [s.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const s of subjects) {
      const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-floor-'));
      try {
        got.get(s.name)!.push(await reading(s.argv(dir), s.env, settle));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const med = (name: string) => {
    const r = got.get(name)!;
    return { rss: median(r.map((x) => x.rss)), anon: median(r.map((x) => x.anon)), file: median(r.map((x) => x.file)), range: [Math.min(...r.map((x) => x.rss)), Math.max(...r.map((x) => x.rss))] };
  };
  const f = (x: number) => x.toFixed(1);
  const f1 = f;
  console.log(`\nbench/node-floor: ${runs} interleaved runs each, read ${settle} s after start (MiB, medians; RSS range in brackets)\n`);
  console.log('| process | VmRSS | RssAnon | RssFile |\n|---|---:|---:|---:|');
  for (const s of subjects) {
    const m = med(s.name);
    console.log(`| ${s.name} | ${f(m.rss)} (${f(m.range[0]!)}-${f(m.range[1]!)}) | ${f(m.anon)} | ${f(m.file)} |`);
  }
  console.log('\nBy mapping (bench/smaps-split; medians, MiB): the node binary by section, the other files, anonymous memory\n');
  console.log('| process | node: code (.text) | ICU data | other .rodata | symbol tables | rest | other files | malloc main arena | other anonymous |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of subjects) {
    const r = got.get(s.name)!.map((x) => x.split).filter((x): x is ResidentSplit => !!x);
    const m = (f: (x: ResidentSplit) => number) => f1(median(r.map(f)));
    console.log(`| ${s.name} | ${m((x) => x.node.text)} | ${m((x) => x.node.icuData)} | ${m((x) => x.node.rodata)} | ${m((x) => x.node.symbols)} | ${m((x) => x.node.other)} | ${m((x) => x.files.reduce((a, [, v]) => a + v, 0))} | ${m((x) => x.anon.brkHeap)} | ${m((x) => x.anon.other)} |`);
  }
  if (values['baseline-cli']) {
    const a = med(subjects.at(-1)!.name), b = med(subjects[1]!.name);
    console.log(`\nthis build / baseline build: VmRSS ${(a.rss / b.rss).toFixed(2)}, RssAnon ${(a.anon / b.anon).toFixed(2)}`);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
