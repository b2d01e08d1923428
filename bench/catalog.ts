/**
 * bench/catalog: the catalog's time-range queries on a box that has been recording for a while.
 *
 * A catalog of --days days x --cameras cameras of 60 s segments (30 x 32: about 1.4 million
 * rows), then --queries random camera-days through the catalog's own API: `segments` (what
 * `edge-nvr recordings`, exports and the web view list) and `recordedMs` (continuity, in every
 * health report). Times are per call, in ms: p50, p99 and max. SQLite's query plan is printed
 * with them.
 *
 *   npm run build && node dist/bench/catalog.js [--cameras 32] [--days 30] [--queries 2000] [--json FILE]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IN_RANGE } from '../recorder/catalog/catalog.js';
import { DAY_MS } from '../watchdog/retention.js';
import { buildCatalog } from './synthetic-catalog.js';

const ROOT = dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');
const { values } = parseArgs({
  options: {
    cameras: { type: 'string', default: '32' },
    days: { type: 'string', default: '30' },
    queries: { type: 'string', default: '2000' },
    json: { type: 'string' },
  },
});
const cameras = Number(values.cameras);
const days = Number(values.days);
const queries = Number(values.queries);
if (![cameras, days, queries].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('--cameras, --days and --queries: positive integers');
  process.exit(2);
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-catalog-'));
try {
  const rows = cameras * days * (DAY_MS / 60_000);
  const t0 = performance.now();
  const names = Array.from({ length: cameras }, (_, i) => `cam${i + 1}`);
  const { catalog, now } = buildCatalog(dir, rows, undefined, names);
  const buildS = (performance.now() - t0) / 1000;
  catalog.db.pragma('optimize');
  const first = now - days * DAY_MS;
  // a random camera and a random whole day of the recorded span (seeded: every run asks the same)
  let seed = 42;
  const random = () => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed / 2 ** 31; };
  const asks = Array.from({ length: queries }, () => ({
    camera: names[Math.floor(random() * names.length)]!,
    from: first + Math.floor(random() * (days - 1)) * DAY_MS + Math.floor(random() * DAY_MS),
  }));

  const time = (fn: (a: { camera: string; from: number }) => unknown) => {
    for (const a of asks.slice(0, 50)) fn(a); // warm the page cache like a running box
    const cpu0 = process.cpuUsage();
    const ms = asks.map((a) => {
      const s = performance.now();
      fn(a);
      return performance.now() - s;
    });
    const cpu = process.cpuUsage(cpu0);
    // CPU time per query (mean): what the query costs, whatever else the machine is doing
    const cpuMs = (cpu.user + cpu.system) / 1000 / asks.length;
    return { p50: +quantile(ms, 0.5).toFixed(3), p99: +quantile(ms, 0.99).toFixed(3), max: +Math.max(...ms).toFixed(3), cpuMs: +cpuMs.toFixed(3) };
  };
  const segments = time(({ camera, from }) => catalog.segments(camera, from, from + DAY_MS));
  const returned = asks.reduce((n, { camera, from }) => n + catalog.segments(camera, from, from + DAY_MS).length, 0);
  const recorded = time(({ camera, from }) => catalog.recordedMs(camera, from, from + DAY_MS));
  const plan = (catalog.db.prepare(`EXPLAIN QUERY PLAN SELECT * FROM segments WHERE camera = @camera AND ${IN_RANGE} ORDER BY start_ms, id`)
    .all({ camera: 'cam1', from: first, to: first + DAY_MS }) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  catalog.close();

  const date = new Date().toISOString();
  console.log(`\nbench/catalog ${date}: ${rows.toLocaleString('en')} segment rows (${cameras} cameras x ${days} days of 60 s segments), ${queries} random camera-days; ${cpus().length} x ${cpus()[0]?.model}\n`);
  console.log('| query | p50 ms | p99 ms | max ms | CPU ms per query (mean) |\n|---|---:|---:|---:|---:|');
  console.log(`| segments of one camera-day (${Math.round(returned / queries)} rows each) | ${segments.p50} | ${segments.p99} | ${segments.max} | ${segments.cpuMs} |`);
  console.log(`| recorded ms of one camera-day (continuity) | ${recorded.p50} | ${recorded.p99} | ${recorded.max} | ${recorded.cpuMs} |`);
  console.log(`\nplan: ${plan}\n(building the catalog: ${buildS.toFixed(1)} s)`);
  const out = values.json ?? join(ROOT, 'bench', 'results', `catalog-${date.slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date, command: `node dist/bench/catalog.js ${process.argv.slice(2).join(' ')}`.trim(), rows, cameras, days, queries, segments, recorded, plan, buildS }, null, 2) + '\n');
  console.log(`results: ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
