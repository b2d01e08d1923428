/**
 * bench/gst-restarts: does a camera that keeps restarting grow the daemon?
 *
 * Restarts one GStreamer recording over and over in this Node process and follows the
 * process's RSS, in two ways:
 *
 * - child: the GStreamer backend as the daemon runs it (recorder/backends/gstreamer.ts: one
 *   gst-recorder.py child process per run);
 * - in-process: the pipeline inside Node through gstreamer-superficial, as the backend ran
 *   until 2026-12 (the baseline, measured in the same run; skipped when the addon is missing).
 *
 * Each in two scenarios: `media` (a real RTSP camera: start, wait for the first file to open,
 * stop with EOS) and `refused` (nothing listens: start, fail, stop), the camera that flaps.
 * Growth is the least-squares slope of RSS over restarts after a warm-up, in MB per 1000
 * restarts (and over the second half of the samples alone, which tells a plateau from a leak),
 * and what the whole slope makes after a month of one restart every 5 s.
 *
 * With --expose-gc (as below) a full garbage collection runs before each sample, so what grows
 * is what is kept, not garbage not yet collected.
 *
 *   npm run build && node --expose-gc dist/bench/gst-restarts.js [--restarts 2000] [--seconds 300] [--ways child,in-process] [--json FILE]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GstreamerBackend, gstreamerLaunch } from '../recorder/backends/gstreamer.js';
import { CameraSim } from '../test/support/camera-sim.js';
import { readRss } from './proc-tree.js';

const ROOT = dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');
const MB = 1024 * 1024;
const WARMUP = 20;
const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
/** RSS in bytes after a full collection (when exposed) */
const rss = () => { collect(); return readRss(process.pid); };
const MONTH_AT_5_S = (30 * 86_400) / 5;

const { values } = parseArgs({
  options: {
    restarts: { type: 'string', default: '2000' },
    ways: { type: 'string', default: 'child,in-process' },
    seconds: { type: 'string', default: '300' },
    json: { type: 'string' },
  },
});
const maxRestarts = Number(values.restarts);
const maxSeconds = Number(values.seconds);
if (!(maxRestarts > WARMUP) || !(maxSeconds > 0)) {
  console.error(`--restarts: more than ${WARMUP}; --seconds: a positive number`);
  process.exit(2);
}

/** One start-to-stop of a recording; resolves once everything it started is released. */
type Cycle = (url: string, staging: string) => Promise<void>;

const childCycle: Cycle = async (url, staging) => {
  const backend = new GstreamerBackend({ camera: 'soak', url, safeUrl: url, stagingDir: staging, segmentSeconds: 60, timeoutSeconds: 2 });
  const exited = new Promise<void>((resolve) => backend.once('exit', () => resolve()));
  const flowing = new Promise<void>((resolve) => backend.once('progress', () => resolve()));
  backend.start();
  await Promise.race([flowing, exited]);
  await backend.stop(2000);
  await exited;
};

/* The in-process baseline: the part of gstreamer-superficial the backend used. */
interface GstMessage { type: string; name?: string }
interface GstPipeline {
  play(): void; stop(): void; sendEOS(): void;
  pollBus(cb: (msg: GstMessage) => void): void;
  findChild(name: string): Record<string, unknown> | undefined;
  'auto-flush-bus': boolean;
}
type GstModule = { Pipeline: new (launch: string) => GstPipeline };

function loadSuperficial(): GstModule | undefined {
  try {
    return createRequire(import.meta.url)('gstreamer-superficial') as GstModule;
  } catch {
    return undefined;
  }
}

function inProcessCycle(gst: GstModule): Cycle {
  return async (url, staging) => {
    const pipeline = new gst.Pipeline(gstreamerLaunch({ segmentSeconds: 60, timeoutSeconds: 2 }));
    pipeline.findChild('src')!.location = url;
    pipeline.findChild('mux')!.location = join(staging, `${Date.now()}-%06d.mp4`);
    pipeline['auto-flush-bus'] = false;
    let opened = false;
    let wake: () => void = () => undefined;
    let done = false;
    const next = () => new Promise<void>((resolve) => { wake = resolve; });
    let waiting = next();
    pipeline.pollBus((msg) => {
      if (msg.type === 'element' && msg.name === 'splitmuxsink-fragment-opened') opened = true;
      if (msg.type === 'eos' || msg.type === 'error') done = true;
      wake();
    });
    pipeline.play();
    const deadline = Date.now() + 10_000;
    while (!opened && !done && Date.now() < deadline) {
      await Promise.race([waiting, new Promise((r) => setTimeout(r, 200))]);
      waiting = next();
    }
    if (opened && !done) {
      pipeline.sendEOS();
      const eosBy = Date.now() + 3000;
      while (!done && Date.now() < eosBy) {
        await Promise.race([waiting, new Promise((r) => setTimeout(r, 200))]);
        waiting = next();
      }
    }
    pipeline.stop();
    // the poller wakes once more on the NULL state change and returns its pool thread
    await new Promise((r) => setTimeout(r, 20));
  };
}

interface Result {
  way: string;
  scenario: string;
  restarts: number;
  seconds: number;
  rssStartMB: number;
  rssWarmMB: number;
  rssEndMB: number;
  mbPer1000: number;
  /** the slope over the second half of the samples: a plateau reads near 0, a leak does not */
  mbPer1000SecondHalf: number;
  monthAt5sMB: number;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den ? num / den : 0;
}

async function soak(way: string, scenario: string, cycle: Cycle, url: string): Promise<Result> {
  const staging = mkdtempSync(join(tmpdir(), `edge-nvr-bench-restarts-${way}-`));
  try {
    const rssStart = rss();
    const points: Array<[number, number]> = [];
    let rssWarm = rssStart;
    const t0 = performance.now();
    let i = 0;
    for (; i < maxRestarts && performance.now() - t0 < maxSeconds * 1000; i++) {
      await cycle(url, staging);
      // what the recordings wrote is not what is measured
      if (i % 25 === 0) { rmSync(staging, { recursive: true, force: true }); mkdirSync(staging); }
      if (i === WARMUP) rssWarm = rss();
      if (i >= WARMUP && i % 5 === 0) points.push([i, rss() / MB]);
      if (i % 100 === 0) process.stderr.write(`  ${way}/${scenario}: ${i} restarts, RSS ${(rss() / MB).toFixed(1)} MB\n`);
    }
    const perRestartMB = points.length > 2 ? slope(points) : NaN;
    const half = points.slice(Math.floor(points.length / 2));
    const secondHalfMB = half.length > 2 ? slope(half) : NaN;
    return {
      way, scenario, restarts: i, seconds: Math.round((performance.now() - t0) / 1000),
      rssStartMB: +(rssStart / MB).toFixed(1), rssWarmMB: +(rssWarm / MB).toFixed(1), rssEndMB: +(rss() / MB).toFixed(1),
      mbPer1000: +(perRestartMB * 1000).toFixed(2), mbPer1000SecondHalf: +(secondHalfMB * 1000).toFixed(2), monthAt5sMB: Math.round(perRestartMB * MONTH_AT_5_S),
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

const sim = await new CameraSim({ mounts: ['soak'], source: 'clip', width: 320, height: 180, fps: 15, gop: 15, bitrate: 300, exitWithParent: true }).start();
const refusedUrl = sim.url('soak').replace(/:\d+\//, ':9/'); // the discard port: nothing listens
const results: Result[] = [];
try {
  const gst = loadSuperficial();
  const ways: Array<[string, Cycle | undefined]> = [['child', childCycle], ['in-process', gst && inProcessCycle(gst)]];
  for (const [way, cycle] of ways) {
    if (!values.ways.split(',').includes(way)) continue;
    if (!cycle) {
      console.error(`${way}: gstreamer-superficial is not installed here; skipped`);
      continue;
    }
    for (const [scenario, url] of [['media', sim.url('soak')], ['refused', refusedUrl]] as const) {
      console.error(`${way}, ${scenario} ...`);
      results.push(await soak(way, scenario, cycle, url));
    }
  }
} finally {
  await sim.kill();
}

const date = new Date().toISOString();
console.log(`\nbench/gst-restarts ${date}: at most ${maxRestarts} restarts or ${maxSeconds} s per row${collect.name === 'gc' ? ', a full collection before each sample' : ' (without --expose-gc: garbage counts)'}; ${cpus().length} x ${cpus()[0]?.model}\n`);
console.log('| recorder | camera | restarts | seconds | Node RSS MB start / after 20 / end | growth MB per 1000 restarts | second half | a month of one restart every 5 s |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.way} | ${r.scenario} | ${r.restarts} | ${r.seconds} | ${r.rssStartMB} / ${r.rssWarmMB} / ${r.rssEndMB} | ${r.mbPer1000} | ${r.mbPer1000SecondHalf} | ${r.monthAt5sMB} MB |`);
}
const out = values.json ?? join(ROOT, 'bench', 'results', `gst-restarts-${date.slice(0, 10)}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date, command: `node dist/bench/gst-restarts.js ${process.argv.slice(2).join(' ')}`.trim(), maxRestarts, maxSeconds, results }, null, 2) + '\n');
console.log(`\nresults: ${out}`);
process.exit(0);
