/**
 * bench/catalog-memory: what SQLite's page cache costs a long-running daemon, and what capping it
 * costs the catalog's calls. better-sqlite3 is built with a 16 MB cache per connection; the
 * catalog sets PAGE_CACHE_KIB (recorder/catalog/catalog.ts).
 *
 * A catalog of --days x --cameras of 60 s segments (files absent), then:
 * - memory: in a fresh process per setting (interleaved, --runs each), the catalog opened as the
 *   daemon opens it, its RssAnon before and after one pass over every row (what background
 *   verification's rolling pass and a retention sweep read over time) and a count per camera;
 * - CPU: two copies of the catalog, one per setting, call by call in turn (--calls): a camera-day's
 *   listing, a health report's continuity (recordedMs of every camera), one new segment per camera.
 *
 *   npm run build && node dist/bench/catalog-memory.js [--cameras 16] [--days 15] [--runs 3] [--calls 300]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Catalog, CATALOG_FILE, PAGE_CACHE_KIB } from '../recorder/catalog/catalog.js';
import { DAY_MS } from '../watchdog/retention.js';
import { median } from './stats.js';
import { buildCatalog } from './synthetic-catalog.js';

/** better-sqlite3's build default (its SQLITE_DEFAULT_CACHE_SIZE), what every connection had before */
const BUILT_IN_KIB = 16_000;
const SETTINGS = [BUILT_IN_KIB, PAGE_CACHE_KIB];

const rssAnonMB = () => Number(/^RssAnon:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;

function open(dir: string, kib: number): Catalog {
  const c = Catalog.open(dir);
  c.db.pragma(`cache_size = -${kib}`);
  return c;
}

/** The child: one pass over the catalog at one setting, RssAnon before and after (MB) on stdout. */
function child(dir: string, kib: number, cameras: number): void {
  const c = open(dir, kib);
  const before = rssAnonMB();
  let rows = 0;
  const it = c.db.prepare('SELECT * FROM segments').iterate();
  while (!it.next().done) rows++;
  for (let k = 1; k <= cameras; k++) c.db.prepare('SELECT count(*) FROM segments WHERE camera = ?').get(`cam${k}`);
  const after = rssAnonMB();
  c.close();
  process.stdout.write(JSON.stringify({ rows, before, after }) + '\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      cameras: { type: 'string', default: '16' }, days: { type: 'string', default: '15' }, runs: { type: 'string', default: '3' },
      calls: { type: 'string', default: '300' }, child: { type: 'string' }, kib: { type: 'string' },
    },
  });
  const cameras = Number(values.cameras), days = Number(values.days), runs = Number(values.runs), calls = Number(values.calls);
  if (values.child) return child(values.child, Number(values.kib), cameras);

  const root = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-catalog-memory-'));
  try {
    const built = join(root, 'built');
    const names = Array.from({ length: cameras }, (_, i) => `cam${i + 1}`);
    const { catalog } = buildCatalog(built, cameras * days * (DAY_MS / 60_000), undefined, names);
    catalog.db.pragma('wal_checkpoint(TRUNCATE)');
    catalog.close();

    const grew = new Map<number, number[]>(SETTINGS.map((k) => [k, []]));
    let rows = 0;
    for (let r = 0; r < runs; r++) {
      for (const kib of r % 2 ? [...SETTINGS].reverse() : SETTINGS) {
        const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', built, '--kib', String(kib), '--cameras', String(cameras)], { encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
        const got = JSON.parse(p.stdout) as { rows: number; before: number; after: number };
        rows = got.rows;
        grew.get(kib)!.push(got.after - got.before);
      }
    }

    const cats = new Map<number, Catalog>();
    for (const kib of SETTINGS) {
      const d = join(root, `cpu-${kib}`);
      mkdirSync(d);
      copyFileSync(join(built, CATALOG_FILE), join(d, CATALOG_FILE));
      cats.set(kib, open(d, kib));
    }
    const span = cats.get(BUILT_IN_KIB)!.db.prepare('SELECT min(start_ms) AS a, max(end_ms) AS b FROM segments').get() as { a: number; b: number };
    let seed = 7;
    const random = () => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed / 2 ** 31; };
    const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
    const spent = new Map(SETTINGS.map((k) => [k, { listing: 0, report: 0, inserts: 0 }]));
    let now = span.b;
    for (let i = 0; i < calls; i++) {
      const camera = names[Math.floor(random() * cameras)]!;
      const from = span.a + Math.floor(random() * (span.b - span.a - DAY_MS));
      now += 2000;
      for (const kib of i % 2 ? [...SETTINGS].reverse() : SETTINGS) {
        const c = cats.get(kib)!, s = spent.get(kib)!;
        let t0 = cpuMs();
        c.segments(camera, from, from + DAY_MS);
        s.listing += cpuMs() - t0;
        t0 = cpuMs();
        for (const n of names) c.recordedMs(n, now - DAY_MS, now);
        s.report += cpuMs() - t0;
        t0 = cpuMs();
        for (const n of names) {
          c.addSegment({ camera: n, start_ms: now, end_ms: now + 2000, bytes: 250_000, path: `recordings/${n}/bench/${now}.mp4`, sha256: 'ab'.repeat(32), origin: 'recorded', clock_step_ms: null, provenance: null });
        }
        s.inserts += cpuMs() - t0;
      }
    }
    for (const c of cats.values()) c.close();

    const f = (x: number, d = 2) => x.toFixed(d);
    console.log(`\nbench/catalog-memory: ${cameras} cameras x ${days} days of 60 s segments (${rows} rows), ${runs} fresh processes per setting for memory, ${calls} calls each for CPU\n`);
    console.log('| page cache per connection | RssAnon grown by a pass over the catalog, MB (median; runs) | CPU ms: a camera-day listed | a health report (continuity of every camera) | one new segment per camera |');
    console.log('|---|---:|---:|---:|---:|');
    for (const kib of SETTINGS) {
      const g = grew.get(kib)!, s = spent.get(kib)!;
      const name = kib === BUILT_IN_KIB ? `${kib} KiB (better-sqlite3's build default: before)` : `${kib} KiB (PAGE_CACHE_KIB: now)`;
      console.log(`| ${name} | ${f(median(g), 1)} (${g.map((x) => f(x, 1)).join(', ')}) | ${f(s.listing / calls)} | ${f(s.report / calls)} | ${f(s.inserts / calls)} |`);
    }
    const a = spent.get(PAGE_CACHE_KIB)!, b = spent.get(BUILT_IN_KIB)!;
    console.log(`\nnow / before: RssAnon grown ${f(median(grew.get(PAGE_CACHE_KIB)!) / median(grew.get(BUILT_IN_KIB)!))}, CPU listing ${f(a.listing / b.listing)}, report ${f(a.report / b.report)}, inserts ${f(a.inserts / b.inserts)}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main();
