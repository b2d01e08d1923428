/**
 * bench/durability: what durability costs on the data disk, against a baseline in the same run.
 *
 * 1. Acknowledged writes: the same catalog insert with the catalog's synchronous=NORMAL (the
 *    baseline) and inside Catalog.durably() (synchronous=FULL: one WAL fsync per commit), as
 *    holds, audit entries, nonces and deletions now are; plus appendAudit itself.
 * 2. Segment commits: the real SegmentStore (fsyncs the two directories a rename changes, a parent
 *    only for a directory new to the process) against the commit as it was before (every
 *    directory from the hour up to recordings/, plus staging, on every commit), replicated below
 *    as the baseline. Each runs in a child process under `strace -c`, which counts its fsync
 *    calls; the times come from a second run without strace.
 *
 *   npm run build && node dist/bench/durability.js [--dir DIR] [--writes 300] [--commits 300]
 *
 * --dir: where the catalogs and segments go (default: a temporary dir under $TMPDIR); give a
 * directory on the box's data disk (an SD card, an SSD) to measure that disk.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { appendAudit } from '../recorder/catalog/audit-log.js';
import { Catalog } from '../recorder/catalog/catalog.js';
import { sha256File } from '../common/file-hash.js';
import { RECORDINGS_DIR, SegmentStore, segmentPath, stagingDir } from '../recorder/segment-store.js';

const SELF = fileURLToPath(import.meta.url);
const { values } = parseArgs({
  options: {
    dir: { type: 'string' }, writes: { type: 'string', default: '300' }, commits: { type: 'string', default: '300' },
    child: { type: 'string' }, json: { type: 'string' },
  },
});
const base = values.dir ?? tmpdir();
const WRITES = Number(values.writes);
const COMMITS = Number(values.commits);
/** a small segment file's worth of bytes: the commit's hashing is not what is measured */
const SEGMENT_BYTES = 64 * 1024;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function timeEach(n: number, fn: (i: number) => void): { p50: number; p99: number; perS: number } {
  const ms: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn(i);
    ms.push(performance.now() - t0);
  }
  const total = performance.now() - start;
  ms.sort((a, b) => a - b);
  return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), perS: (n / total) * 1000 };
}

/* ------------------------------------------------------------------ 2: one commit policy, in a child */

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** The segment commit as it was before this change (every level, every time): the baseline. */
async function commitEveryLevel(dataDir: string, catalog: Catalog, stagedPath: string, camera: string, startMs: number): Promise<void> {
  const rel = segmentPath(camera, startMs);
  const abs = join(dataDir, rel);
  fsyncPath(stagedPath);
  const sha256 = await sha256File(stagedPath);
  const bytes = statSync(stagedPath).size;
  mkdirSync(dirname(abs), { recursive: true });
  renameSync(stagedPath, abs);
  for (let d = dirname(abs); d.length >= join(dataDir, RECORDINGS_DIR).length; d = dirname(d)) fsyncPath(d);
  fsyncPath(dirname(stagedPath));
  catalog.addSegment({ camera, start_ms: startMs, end_ms: startMs + 2000, bytes, path: rel, sha256, origin: 'recorded' });
}

async function child(policy: 'every-level' | 'store'): Promise<void> {
  const dataDir = mkdtempSync(join(base, `edge-nvr-bench-commit-${policy}-`));
  try {
    const catalog = Catalog.open(dataDir);
    const store = new SegmentStore(dataDir, catalog, pino({ level: 'silent' }));
    const staging = stagingDir(dataDir, 'cam1');
    mkdirSync(staging, { recursive: true });
    const template = join(dataDir, 'template.mp4');
    writeFileSync(template, Buffer.alloc(SEGMENT_BYTES, 7));
    // 2 s segments over 4 hours' worth of start times: a new hour directory every 1800 commits
    // in real life; here one every COMMITS/4, so new directories are counted too
    const t0 = Date.parse('2026-12-01T08:00:00Z');
    const step = Math.floor((4 * 3_600_000) / COMMITS);
    const ms: number[] = [];
    for (let i = 0; i < COMMITS; i++) {
      const staged = join(staging, `${t0}-${String(i).padStart(6, '0')}.mp4`);
      copyFileSync(template, staged);
      const start = t0 + i * step;
      const before = performance.now();
      if (policy === 'store') await store.commit({ camera: 'cam1', stagedPath: staged, startMs: start, endMs: start + 2000 });
      else await commitEveryLevel(dataDir, catalog, staged, 'cam1', start);
      ms.push(performance.now() - before);
    }
    catalog.close();
    ms.sort((a, b) => a - b);
    process.stdout.write(JSON.stringify({ p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), mean: ms.reduce((s, x) => s + x, 0) / ms.length }) + '\n');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs a child once under strace -c (fsync count) and once without (times). */
function measureCommits(policy: 'every-level' | 'store'): { fsyncs: number; perCommit: number; p50: number; p99: number; mean: number } {
  const args = [SELF, '--child', policy, '--dir', base, '--commits', String(COMMITS)];
  const summary = join(base, `edge-nvr-bench-strace-${process.pid}-${policy}.txt`);
  execFileSync('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', summary, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const text = readFileSync(summary, 'utf8');
  rmSync(summary);
  const fsyncs = [...text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
  const times = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as { p50: number; p99: number; mean: number };
  return { fsyncs, perCommit: fsyncs / COMMITS, ...times };
}

/* ------------------------------------------------------------------ main */

async function main(): Promise<void> {
  if (values.child === 'store' || values.child === 'every-level') return child(values.child);
  const dir = mkdtempSync(join(base, 'edge-nvr-bench-durable-'));
  const results: Record<string, unknown> = { date: new Date().toISOString(), dir: base, writes: WRITES, commits: COMMITS };
  try {
    const catalog = Catalog.open(dir);
    const normal = timeEach(WRITES, (i) => catalog.addEvent('bench', null, { i }));
    const full = timeEach(WRITES, (i) => catalog.durably(() => catalog.addEvent('bench', null, { i })));
    const audit = timeEach(WRITES, (i) => appendAudit(catalog, { actor: 'bench', action: 'bench', details: { i } }));
    catalog.close();
    results.writes_ms = { normal, full, appendAudit: audit };
    const row = (name: string, r: { p50: number; p99: number; perS: number }) =>
      `| ${name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${Math.round(r.perS)} | ${(r.p50 / normal.p50).toFixed(1)} |`;
    console.log(`\n1. Acknowledged writes, ${WRITES} each, catalog in ${base}\n`);
    console.log('| write | p50 ms | p99 ms | per second | p50 ratio to NORMAL |\n|---|---:|---:|---:|---:|');
    console.log(row('event insert, synchronous=NORMAL (baseline)', normal));
    console.log(row('the same inside Catalog.durably() (FULL)', full));
    console.log(row('appendAudit (durable, hash-chained)', audit));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const before = measureCommits('every-level');
  const after = measureCommits('store');
  results.commits_measured = { every_level: before, store: after };
  console.log(`\n2. Segment commits, ${COMMITS} of ${SEGMENT_BYTES / 1024} KiB over 4 hour directories, in ${base}\n`);
  console.log('| commit | fsync + fdatasync calls | per commit | p50 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of [['every directory, every commit (baseline: the code before)', before], ['SegmentStore now', after]] as const) {
    console.log(`| ${name} | ${r.fsyncs} | ${r.perCommit.toFixed(2)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.mean.toFixed(2)} |`);
  }
  console.log(`\nfsyncs per commit: ${(after.perCommit / before.perCommit).toFixed(2)}x the baseline; mean commit time ${(after.mean / before.mean).toFixed(2)}x`);
  const out = values.json ?? join(dirname(SELF).replace(/\/dist\/bench$/, '/bench'), 'results', `durability-${new Date().toISOString().slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

await main();
