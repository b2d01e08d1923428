/**
 * bench/catalog: the catalog's time-range queries on a box that has been recording for a while.
 *
 * A catalog of --days days x --cameras cameras of 60 s segments (30 x 32: about 1.4 million
 * rows), then --queries random camera-days through the catalog's own API: `segments` (what
 * `edge-nvr recordings`, exports and the web view list) and `recordedMs` (continuity, in every
 * health report). Times are per call, in ms: p50, p99 and max. SQLite's query plan is printed
 * with them. The baseline, in the same run and interleaved query by query: a copy of the same
 * catalog as migration 9 left it, queried as the catalog did before migration 10.
 *
 *   npm run build && node dist/bench/catalog.js [--cameras 32] [--days 30] [--queries 2000] [--json FILE]
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CATALOG_FILE } from '../recorder/catalog/catalog.js';
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

  // The baseline, in the same run: a copy of this catalog as migration 9 left it (without
  // segments_camera_rows) queried as the catalog did before migration 10: SELECT * through
  // (camera, start_ms, id, end_ms) and the table, rows as better-sqlite3's objects.
  catalog.db.pragma('wal_checkpoint(TRUNCATE)');
  const beforePath = join(dir, 'before-migration-10.db');
  copyFileSync(join(dir, CATALOG_FILE), beforePath);
  const before = new Database(beforePath);
  before.exec('DROP INDEX segments_camera_rows');
  before.pragma('optimize');
  const beforeInRange = `start_ms < @to AND end_ms > @from
    AND start_ms >= @from - (SELECT coalesce(max(end_ms - start_ms), 0) FROM segments WHERE camera = @camera)`;
  const beforeSegments = before.prepare(`SELECT * FROM segments WHERE camera = @camera AND ${beforeInRange} ORDER BY start_ms, id`);
  const beforeRecorded = before.prepare(`SELECT coalesce(sum(min(end_ms, @to) - max(start_ms, @from)), 0) AS ms FROM segments
    WHERE camera = @camera AND ${beforeInRange}`);

  type Ask = { camera: string; from: number };
  type Timing = { p50: number; p99: number; max: number; cpuMs: number };
  /** Each ask through every variant in turn, so the machine's load falls on all of them alike. */
  const time = (variants: Array<(a: Ask) => unknown>): Timing[] => {
    for (const fn of variants) for (const a of asks.slice(0, 50)) fn(a); // warm the page cache like a running box
    const ms = variants.map(() => [] as number[]);
    const cpuMs = variants.map(() => 0);
    for (const a of asks) {
      variants.forEach((fn, i) => {
        const cpu0 = process.cpuUsage();
        const s = performance.now();
        fn(a);
        ms[i]!.push(performance.now() - s);
        const cpu = process.cpuUsage(cpu0);
        cpuMs[i]! += (cpu.user + cpu.system) / 1000;
      });
    }
    // CPU time per query (mean): what the query costs, whatever else the machine is doing
    return ms.map((xs, i) => ({ p50: +quantile(xs, 0.5).toFixed(3), p99: +quantile(xs, 0.99).toFixed(3), max: +Math.max(...xs).toFixed(3), cpuMs: +(cpuMs[i]! / asks.length).toFixed(3) }));
  };
  const day = ({ camera, from }: Ask) => ({ camera, from, to: from + DAY_MS });
  const [segments, segmentsBefore] = time([
    ({ camera, from }) => catalog.segments(camera, from, from + DAY_MS),
    (a) => beforeSegments.all(day(a)),
  ]) as [Timing, Timing];
  const returned = asks.reduce((n, { camera, from }) => n + catalog.segments(camera, from, from + DAY_MS).length, 0);
  const [recorded, recordedBefore] = time([
    ({ camera, from }) => catalog.recordedMs(camera, from, from + DAY_MS),
    (a) => beforeRecorded.get(day(a)),
  ]) as [Timing, Timing];
  // the same answers, or the comparison means nothing
  for (const a of asks.slice(0, 20)) {
    if (JSON.stringify(catalog.segments(a.camera, a.from, a.from + DAY_MS)) !== JSON.stringify(beforeSegments.all(day(a)))) throw new Error(`segments differ from the baseline's for ${a.camera} at ${a.from}`);
  }
  // its size without the pages the dropped index freed
  const beforeMB = (statSync(beforePath).size - Number(before.pragma('freelist_count', { simple: true })) * Number(before.pragma('page_size', { simple: true }))) / 2 ** 20;
  before.close();
  rmSync(beforePath);
  const explain = (sql: string) => (catalog.db.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .all({ camera: 'cam1', from: first, to: first + DAY_MS }) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  const plan = { segments: explain(catalog.segmentsQuery), recorded: explain(catalog.recordedQuery) };
  catalog.close();
  const fileMB = statSync(join(dir, CATALOG_FILE)).size / 2 ** 20;

  const date = new Date().toISOString();
  console.log(`\nbench/catalog ${date}: ${rows.toLocaleString('en')} segment rows (${cameras} cameras x ${days} days of 60 s segments), ${queries} random camera-days; ${cpus().length} x ${cpus()[0]?.model}\n`);
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '-');
  console.log('| query | catalog | p50 ms | p99 ms | max ms | CPU ms per query (mean) | CPU vs before |\n|---|---|---:|---:|---:|---:|---:|');
  const line = (what: string, who: string, t: Timing, base: Timing) => console.log(`| ${what} | ${who} | ${t.p50} | ${t.p99} | ${t.max} | ${t.cpuMs} | ${ratio(t.cpuMs, base.cpuMs)} |`);
  const segsWhat = `segments of one camera-day (${Math.round(returned / queries)} rows each)`;
  line(segsWhat, 'before migration 10 (baseline)', segmentsBefore, segmentsBefore);
  line(segsWhat, 'now', segments, segmentsBefore);
  line('recorded ms of one camera-day (continuity)', 'before migration 10 (baseline)', recordedBefore, recordedBefore);
  line('recorded ms of one camera-day (continuity)', 'now', recorded, recordedBefore);
  console.log(`\nplans:\n  segments: ${plan.segments}\n  recorded ms: ${plan.recorded}\n(building the catalog: ${buildS.toFixed(1)} s; ${CATALOG_FILE}: ${fileMB.toFixed(0)} MiB, ${Math.round(fileMB * 2 ** 20 / rows)} bytes per row; before migration 10: ${beforeMB.toFixed(0)} MiB)`);
  const out = values.json ?? join(ROOT, 'bench', 'results', `catalog-${date.slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date, command: `node dist/bench/catalog.js ${process.argv.slice(2).join(' ')}`.trim(), rows, cameras, days, queries, segments, recorded, segmentsBefore, recordedBefore, plan, buildS, fileMB: +fileMB.toFixed(1), beforeMB: +beforeMB.toFixed(1) }, null, 2) + '\n');
  console.log(`results: ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
