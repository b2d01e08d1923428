/**
 * The catalog's range queries (`segments`, `recordedMs`: what `recordings`, exports, evidence and
 * every health report ask) answer exactly what a plain scan of the table answers, row for row and
 * key for key, while reading one index: a camera's rows side by side (migration 10), its longest
 * segment bounding the scan. Also on a catalog older than the indexes, opened read-only.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog, PAGE_CACHE_KIB, type SegmentRow } from '../../recorder/catalog/catalog.js';
import { migrate } from '../../recorder/catalog/migrations.js';

const T0 = Date.UTC(2026, 10, 1);
const CAMERAS = ['gate', 'yard', 'dock'];

/** Three cameras recording at once (rows interleave), segments of 2 s to 10 min, ties, a clock step, deletions, a missing file. */
function record(catalog: Catalog): void {
  let seed = 7;
  const random = () => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed / 2 ** 31; };
  const next = new Map(CAMERAS.map((c) => [c, T0]));
  for (let i = 0; i < 900; i++) {
    const camera = CAMERAS[i % CAMERAS.length]!;
    const start = next.get(camera)!;
    const length = i === 301 ? 600_000 : i % 7 === 0 ? 2_000 : 60_000 + Math.floor(random() * 1000);
    // a reconnect burst: two segments starting in the same millisecond
    const end = start + length;
    next.set(camera, i === 450 ? start : end + (i % 11 === 0 ? 5_000 : 0));
    catalog.addSegment({
      camera, start_ms: start, end_ms: end, bytes: 1000 + i, path: `recordings/${camera}/x/${start}-${i}.mp4`, sha256: 'cd'.repeat(32),
      origin: i % 13 === 0 ? 'recovered' : 'recorded', provenance: i % 5 === 0 ? '{"masks":"ab"}' : null, clock_step_ms: i === 600 ? 3_600_000 : null,
    });
  }
  const gate = catalog.segments('gate').slice(0, 20);
  catalog.markDeleted('gate', gate.slice(0, 10), { rule: 'max_days', note: 'older than 30 days', policy: { min_days: null, max_days: 30 }, holds_checked: [], clock: null });
  catalog.flagMissing(gate.slice(12, 14), 'file gone');
}

/** What a plain scan of the table says, without any index. */
function scanned(db: Database.Database, camera: string, from: number, to: number): SegmentRow[] {
  return db.prepare('SELECT * FROM segments NOT INDEXED WHERE camera = ? AND start_ms < ? AND end_ms > ? ORDER BY start_ms, id').all(camera, to, from) as SegmentRow[];
}

function ranges(): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const camera of [...CAMERAS, 'nobody']) {
    out.push([camera, 0, Number.MAX_SAFE_INTEGER]);
    for (let k = 0; k < 40; k++) {
      const from = T0 - 120_000 + k * 487_013;
      out.push([camera, from, from + 3_600_000], [camera, from, from + 1], [camera, from, from + 86_400_000]);
    }
  }
  return out;
}

t.test('segments and recordedMs answer what a scan of the table answers, from one index each', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  record(catalog);
  const scan = new Database(catalog.path, { readonly: true });
  t.teardown(() => scan.close());
  let rows = 0;
  let differing = 0;
  for (const [camera, from, to] of ranges()) {
    const want = scanned(scan, camera, from, to);
    const got = catalog.segments(camera, from, to);
    rows += got.length;
    // JSON too: `recordings --json` prints these objects, keys in table order
    if (JSON.stringify(got) !== JSON.stringify(want)) differing++;
    const ms = want.reduce((s, r) => s + Math.min(r.end_ms, to) - Math.max(r.start_ms, from), 0);
    if (catalog.recordedMs(camera, from, to) !== ms) differing++;
  }
  t.equal(differing, 0, 'every range: the same rows in the same order, the same keys, the same recorded ms');
  t.ok(rows > 5000, `the ranges returned rows (${rows})`);
  const long = catalog.segments('yard').find((r) => r.end_ms - r.start_ms === 600_000)!;
  t.ok(long, 'the 10 min segment is there');
  t.same(catalog.segments('yard', long.end_ms - 1000, long.end_ms).map((r) => r.id), [long.id], 'a segment that started long before the range is found by its end');
  t.same(catalog.segments('gate').filter((r) => r.state !== 'ok').map((r) => r.state), [...Array(10).fill('deleted'), 'missing', 'missing'], 'deleted and missing rows are listed with their state');

  const plan = (sql: string) => (catalog.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ camera: 'gate', from: T0, to: T0 + 86_400_000 }) as Array<{ detail: string }>).map((r) => r.detail);
  const segmentsPlan = plan(catalog.segmentsQuery);
  t.match(segmentsPlan[0], /^SEARCH segments USING COVERING INDEX segments_camera_rows \(camera=\? AND start_ms>\? AND start_ms<\?\)$/, 'a listing reads the rows index alone, never the table');
  t.ok(segmentsPlan.some((d) => /COVERING INDEX segments_camera_length \(camera=\?\)/.test(d)), 'its lower bound comes from the length index');
  t.notOk(segmentsPlan.some((d) => /TEMP B-TREE/.test(d)), 'no sort: the index is in order');
  t.match(plan(catalog.recordedQuery)[0], /^SEARCH segments USING COVERING INDEX segments_camera_start_end \(camera=\? AND start_ms>\? AND start_ms<\?\)$/, 'a sum reads the narrow index');
});

t.test('a catalog older than the range indexes, opened read-only, is listed the same way', async (t) => {
  const dir = t.testdir();
  mkdirSync(dir, { recursive: true });
  const current = Catalog.open(join(dir, 'now'));
  t.teardown(() => current.close());
  record(current);
  // schema 5: no clock_step_ms column, none of the range indexes; the same rows
  mkdirSync(join(dir, 'old'));
  const old = new Database(join(dir, 'old', 'catalog.db'));
  migrate(old, 5);
  const cols = 'id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, origin, state, state_at_ms, state_note, indexed_ms, provenance';
  old.exec(`ATTACH '${current.path}' AS cur; INSERT INTO segments (${cols}) SELECT ${cols} FROM cur.segments; DETACH cur`);
  old.close();
  const readOnly = Catalog.openReadOnly(join(dir, 'old'));
  t.teardown(() => readOnly.close());
  t.equal(readOnly.schemaVersion, 5);
  let differing = 0;
  for (const [camera, from, to] of ranges()) {
    const got = readOnly.segments(camera, from, to);
    if (JSON.stringify(got) !== JSON.stringify(scanned(readOnly.db, camera, from, to))) differing++;
    if (readOnly.recordedMs(camera, from, to) !== current.recordedMs(camera, from, to)) differing++;
  }
  t.equal(differing, 0, 'the same rows as its table holds them (no clock_step_ms key), the same recorded ms as the current catalog');
  // better-sqlite3 is built with a 16 MB page cache per connection, which a long-running daemon
  // fills reading through a large catalog: every connection the catalog opens has SQLite's 2 MB
  const raw = new Database(join(dir, 'old', 'catalog.db'), { readonly: true });
  t.equal(raw.pragma('cache_size', { simple: true }), -16_000, "the build's default, for a connection opened otherwise");
  raw.close();
  t.equal(PAGE_CACHE_KIB, 2000);
  for (const c of [current, readOnly]) t.equal(c.db.pragma('cache_size', { simple: true }), -PAGE_CACHE_KIB, `page cache ${PAGE_CACHE_KIB} KiB (${c === current ? 'read-write' : 'read-only'})`);
  t.notOk('clock_step_ms' in readOnly.segments('gate')[0]!, 'a column the old catalog lacks is not invented');
});
