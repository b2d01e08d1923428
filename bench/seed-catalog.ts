import { Catalog } from '../recorder/catalog/catalog.js';
import { chainHash, GENESIS } from '../recorder/catalog/hash-chain.js';

/**
 * A catalog of `rows` chained segment rows for benchmarks: `cameras` cameras recording side by
 * side in segments of `segmentMs`, ending now (files absent: only the catalog is measured).
 */
export function seedCatalog(dataDir: string, rows: number, cameras = 16, segmentMs = 60_000): { catalog: Catalog; now: number; cameras: string[] } {
  const catalog = Catalog.open(dataDir);
  const names = Array.from({ length: cameras }, (_, i) => `cam${i + 1}`);
  const perCamera = Math.ceil(rows / names.length);
  const now = Date.now();
  const start0 = now - perCamera * segmentMs;
  const insert = catalog.db.prepare(`INSERT INTO segments (id, camera, start_ms, end_ms, bytes, path, sha256, prev_hash, chain_hash, indexed_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  let prev = GENESIS;
  let id = 0;
  const sha = 'ab'.repeat(32);
  catalog.db.transaction(() => {
    for (let k = 0; k < perCamera && id < rows; k++) {
      for (const camera of names) {
        if (id >= rows) break;
        id++;
        const start = start0 + k * segmentMs;
        const row = { id, camera, start_ms: start, end_ms: start + segmentMs, bytes: 30_000_000, path: `recordings/${camera}/x/${start}.mp4`, sha256: sha };
        const hash = chainHash(prev, row);
        insert.run(id, camera, row.start_ms, row.end_ms, row.bytes, row.path, sha, prev, hash, now);
        prev = hash;
      }
    }
  })();
  return { catalog, now, cameras: names };
}
