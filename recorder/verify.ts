import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Catalog } from './catalog/catalog.js';
import { chainHash, GENESIS, sha256File } from './catalog/hash-chain.js';
import { RECORDINGS_DIR } from './segment-store.js';

export interface VerifyFinding {
  kind: 'modified' | 'missing' | 'inserted' | 'chain';
  path?: string;
  segment?: number;
  camera?: string;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  /** rows in the chain */
  chainLength: number;
  /** files hashed */
  filesChecked: number;
  /** rows whose files retention (or an operator) removed on purpose */
  deleted: Array<{ segment: number; camera: string; path: string; atMs: number | null; note: string | null }>;
  findings: VerifyFinding[];
  chainHead: string;
}

/**
 * Proves the recordings are what was recorded:
 * - the chain: every row's prev_hash is the row before's chain_hash and its chain_hash matches
 *   its fields, so a row altered, inserted or removed in the catalog breaks it;
 * - every live row's file exists and hashes to the catalogued sha256 (modified, missing);
 * - no segment file exists that the catalog does not know (inserted).
 * Rows marked deleted (by retention) keep their chain entry and are listed, not failed.
 */
export async function verifyRecordings(dataDir: string, catalog: Catalog, opts: { camera?: string } = {}): Promise<VerifyReport> {
  const findings: VerifyFinding[] = [];
  const deleted: VerifyReport['deleted'] = [];
  const known = new Set<string>();
  let prev = GENESIS;
  let expectedId = 1;
  let chainLength = 0;
  let filesChecked = 0;

  for (const row of catalog.iterateChain()) {
    chainLength++;
    known.add(row.path);
    if (row.id !== expectedId) {
      findings.push({ kind: 'chain', segment: row.id, camera: row.camera, path: row.path, detail: `segment #${expectedId}${row.id > expectedId + 1 ? `..#${row.id - 1}` : ''} removed from the catalog` });
    }
    if (row.prev_hash !== prev) {
      findings.push({ kind: 'chain', segment: row.id, camera: row.camera, path: row.path, detail: `segment #${row.id} does not follow the row before it in the hash chain` });
    } else if (chainHash(prev, row) !== row.chain_hash) {
      findings.push({ kind: 'chain', segment: row.id, camera: row.camera, path: row.path, detail: `catalog row of segment #${row.id} was altered` });
    }
    prev = row.chain_hash;
    expectedId = row.id + 1;

    if (opts.camera && row.camera !== opts.camera) continue;
    if (row.state === 'deleted') {
      deleted.push({ segment: row.id, camera: row.camera, path: row.path, atMs: row.state_at_ms, note: row.state_note });
      continue;
    }
    const abs = join(dataDir, row.path);
    if (!existsSync(abs)) {
      findings.push({ kind: 'missing', segment: row.id, camera: row.camera, path: row.path, detail: row.state === 'missing' ? `missing since ${new Date(row.state_at_ms ?? 0).toISOString()}` : 'file not found' });
      continue;
    }
    filesChecked++;
    const actual = await sha256File(abs);
    if (actual !== row.sha256) {
      findings.push({ kind: 'modified', segment: row.id, camera: row.camera, path: row.path, detail: `sha256 ${actual.slice(0, 16)}… differs from the catalogued ${row.sha256.slice(0, 16)}…` });
    }
  }

  for (const rel of segmentFilesOnDisk(dataDir, opts.camera)) {
    if (!known.has(rel)) findings.push({ kind: 'inserted', path: rel, camera: rel.split('/')[1], detail: `${statSync(join(dataDir, rel)).size} bytes not in the catalog` });
  }
  return { ok: findings.length === 0, chainLength, filesChecked, deleted, findings, chainHead: prev };
}

/** Every file under recordings/, except the backends' staging dirs (open segments). */
function segmentFilesOnDisk(dataDir: string, camera?: string): string[] {
  const root = join(dataDir, RECORDINGS_DIR);
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (e.name !== '.staging') walk(join(dir, e.name));
      } else {
        out.push(relative(dataDir, join(dir, e.name)));
      }
    }
  };
  walk(camera ? join(root, camera) : root);
  return out.sort();
}
