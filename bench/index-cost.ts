/**
 * bench/index-cost: the CPU one indexed segment costs the daemon's process, through the real
 * SegmentStore and Catalog (hash, fsyncs, rename, hash-chained row), apart from recording.
 *
 * N cameras each close a segment every `--every-ms` (64 cameras of 2 s segments: 32 a second);
 * each segment is a real file of `--kb` KB written into the camera's staging dir just before it is
 * committed, as a recorder would. The figures are the process's CPU (every thread: the event loop
 * and libuv's pool, which fsyncs and reads) and the event loop's own CPU (/proc/thread-self),
 * per segment, with the writing of the files subtracted (measured apart, the same files written
 * and not committed). A baseline build's SegmentStore can be run in the same invocation
 * (`--baseline DIR`: its dist/), interleaved round by round, and the ratio printed.
 *
 *   node dist/bench/index-cost.js [--cameras 64] [--segments 20] [--kb 250] [--every-ms 2000] [--rounds 3] [--baseline /tmp/base/dist]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { median } from './stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));

interface Built {
  Catalog: { open(dir: string): { close(): void } };
  SegmentStore: new (dir: string, catalog: unknown, log: unknown) => { commit(seg: unknown): Promise<unknown>; drain(): Promise<void> };
  stagingDir(dataDir: string, camera: string): string;
}

async function load(dist: string): Promise<Built> {
  const catalog = await import(join(dist, 'recorder', 'catalog', 'catalog.js')) as { Catalog: Built['Catalog'] };
  const store = await import(join(dist, 'recorder', 'segment-store.js')) as { SegmentStore: Built['SegmentStore']; stagingDir: Built['stagingDir'] };
  return { Catalog: catalog.Catalog, SegmentStore: store.SegmentStore, stagingDir: store.stagingDir };
}

function mainThreadCpuMs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]) / 1e6;
}
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Cost { processMs: number; mainMs: number; segments: number; wallS: number }

/** One run: `cameras` x `segments`, a tick every everyMs / cameras (cameras close in turn). */
async function run(b: Built | null, o: { cameras: number; segments: number; kb: number; everyMs: number }): Promise<Cost> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-index-cost-'));
  try {
    const catalog = b?.Catalog.open(dir);
    const store = b ? new b.SegmentStore(dir, catalog, pino({ level: 'warn' })) : null;
    const staging = (cam: string) => join(dir, 'recordings', cam, '.staging');
    const cams = Array.from({ length: o.cameras }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
    for (const c of cams) mkdirSync(staging(c), { recursive: true });
    const body = Buffer.alloc(o.kb * 1024, 7);
    const runStart = Date.now();
    const t0 = { p: processCpuMs(), m: mainThreadCpuMs(), w: performance.now() };
    const pending: Array<Promise<unknown>> = [];
    const tickMs = o.everyMs / o.cameras;
    let n = 0;
    for (let s = 0; s < o.segments; s++) {
      for (const c of cams) {
        const name = `${runStart}-${String(s).padStart(6, '0')}.mp4`;
        const stagedPath = join(staging(c), name);
        body.writeUInt32BE(n++, 0); // every file its own bytes
        writeFileSync(stagedPath, body);
        const startMs = runStart + s * o.everyMs;
        if (store) pending.push(store.commit({ camera: c, stagedPath, startMs, endMs: startMs + o.everyMs }));
        const due = t0.w + n * tickMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else await new Promise((r) => setImmediate(r));
      }
    }
    await Promise.all(pending);
    await store?.drain();
    const cost = { processMs: processCpuMs() - t0.p, mainMs: mainThreadCpuMs() - t0.m, segments: n, wallS: (performance.now() - t0.w) / 1000 };
    catalog?.close();
    return cost;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({
  options: {
    cameras: { type: 'string', default: '64' }, segments: { type: 'string', default: '20' }, kb: { type: 'string', default: '250' },
    'every-ms': { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' }, baseline: { type: 'string' },
  },
});
const o = { cameras: Number(values.cameras), segments: Number(values.segments), kb: Number(values.kb), everyMs: Number(values['every-ms']) };
const builds: Array<[string, Built | null]> = [['writing only (subtracted)', null], ['this build', await load(join(HERE, '..'))]];
if (values.baseline) builds.splice(1, 0, ['baseline build', await load(values.baseline)]);
const totals = new Map<string, Cost[]>();
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, b] of builds) {
    const c = await run(b, o);
    totals.set(name, [...(totals.get(name) ?? []), c]);
    console.error(`round ${r + 1} ${name}: process ${c.processMs.toFixed(0)} ms, event loop ${c.mainMs.toFixed(0)} ms, ${c.segments} segments, ${c.wallS.toFixed(1)} s`);
  }
}
const per = (name: string, k: 'processMs' | 'mainMs') => median(totals.get(name)!.map((c) => c[k] / c.segments));
const write = { p: per('writing only (subtracted)', 'processMs'), m: per('writing only (subtracted)', 'mainMs') };
console.log(`\nbench/index-cost: ${o.cameras} cameras, a ${o.kb} KB segment each every ${o.everyMs} ms, ${o.segments} each, median of ${values.rounds} rounds (interleaved)\n`);
console.log('| build | CPU ms per segment, process | event loop | ratio to baseline (process / event loop) |\n|---|---:|---:|---:|');
const base = values.baseline ? { p: per('baseline build', 'processMs') - write.p, m: per('baseline build', 'mainMs') - write.m } : undefined;
for (const [name] of builds.slice(1)) {
  const p = per(name, 'processMs') - write.p;
  const m = per(name, 'mainMs') - write.m;
  console.log(`| ${name} | ${p.toFixed(3)} | ${m.toFixed(3)} | ${base ? `${(p / base.p).toFixed(2)} / ${(m / base.m).toFixed(2)}` : '-'} |`);
}
console.log(`\n(writing the files alone: ${write.p.toFixed(3)} ms per segment, subtracted)`);
