/**
 * A catalog of N segment rows for benchmarks (16 cameras unless named, 60 s segments, files absent so only
 * the catalog's own work is timed), chained with the catalog's own formula.
 */
import { Catalog } from '../recorder/catalog/catalog.js';
import { GENESIS, segmentHash } from '../recorder/catalog/hash-chain.js';

export const BENCH_CAMERAS = Array.from({ length: 16 }, (_, i) => `cam${i + 1}`);

export function buildCatalog(dataDir: string, n: number, bytes = 30_000_000, cameras = BENCH_CAMERAS): { catalog: Catalog; now: number } {
  const catalog = Catalog.open(dataDir);
  const perCamera = Math.ceil(n / cameras.length);
  const now = Date.now();
  const start0 = now - perCamera * 60_000;
  const insert = catalog.db.prepare(`INSERT INTO segments (id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, indexed_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  let prev = GENESIS;
  let id = 0;
  const sha = 'ab'.repeat(32);
  catalog.db.transaction(() => {
    for (let k = 0; k < perCamera && id < n; k++) {
      for (const camera of cameras) {
        if (id >= n) break;
        id++;
        const start = start0 + k * 60_000;
        const row = { id, camera, start_ms: start, end_ms: start + 60_000, bytes, path: `recordings/${camera}/x/${start}.mp4`, sha256: sha };
        const hash = segmentHash(prev, row, catalog.segmentsV2From);
        insert.run(id, camera, row.start_ms, row.end_ms, row.bytes, row.path, sha, prev, hash, now);
        prev = hash;
      }
    }
  })();
  catalog.recountLiveBytes();
  return { catalog, now };
}
