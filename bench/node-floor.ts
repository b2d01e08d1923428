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

const ROOT = dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');
const CLI = join(ROOT, 'dist', 'daemon', 'cli.js');

interface Reading { rss: number; anon: number; file: number }

const kb = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) / 1024;

/** Starts `argv`, reads its memory after `settleS`, stops it (SIGTERM, then SIGKILL). */
async function reading(argv: string[], env: NodeJS.ProcessEnv, settleS: number): Promise<Reading> {
  const p = spawn(process.execPath, argv, { env, stdio: 'ignore' });
  const closed = new Promise((r) => p.once('close', r));
  await new Promise((r) => setTimeout(r, settleS * 1000));
  let status = '';
  try { status = readFileSync(`/proc/${p.pid}/status`, 'utf8'); } catch { /* exited: NaN below */ }
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 20_000);
  await closed;
  clearTimeout(killer);
  if (!status) throw new Error(`${argv.join(' ')} exited before it was measured`);
  return { rss: kb(status, 'VmRSS'), anon: kb(status, 'RssAnon'), file: kb(status, 'RssFile') };
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
  console.log(`\nbench/node-floor: ${runs} interleaved runs each, read ${settle} s after start (MiB, medians; RSS range in brackets)\n`);
  console.log('| process | VmRSS | RssAnon | RssFile |\n|---|---:|---:|---:|');
  for (const s of subjects) {
    const m = med(s.name);
    console.log(`| ${s.name} | ${f(m.rss)} (${f(m.range[0]!)}-${f(m.range[1]!)}) | ${f(m.anon)} | ${f(m.file)} |`);
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
