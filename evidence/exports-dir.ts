/**
 * What lies in `<data>/exports/`: redacted exports and snapshots (a file and its
 * `<file>.manifest.json`), evidence bundles (a directory with a signed manifest.json), and
 * anything else. One reading of the directory for `edge-nvr exports` and for retention's
 * `exports_max_days`, so the two never disagree about what an export is.
 *
 * An export being written has a name starting with "." and holding ".partial" (the egress gate's
 * and a bundle's `.<name>.partial-XXXXXX` directory; `.<name>.<pid>.partial` files of earlier
 * versions): listed as `incomplete`, never as a
 * finished export; a file nobody signed is `unsigned`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_SCHEMA, MANIFEST_FILE } from './bundle-format.js';
import { dirBytes, fileBytes } from '../common/disk-usage.js';

export const EXPORTS_DIR = 'exports';
const SIDE_MANIFEST = '.manifest.json';

export interface ExportEntry {
  name: string;
  /** relative to the data dir: what retention deletes and its ledger entry names */
  path: string;
  kind: 'export' | 'snapshot' | 'redact' | 'evidence' | 'unknown';
  state: 'complete' | 'incomplete' | 'unsigned';
  directory: boolean;
  /** the signed manifest's time, else the file's mtime */
  created_ms: number;
  camera: string | null;
  from_ms: number | null;
  to_ms: number | null;
  bytes: number;
  /** the export's id (export_id, bundle_id) when signed */
  id: string | null;
  /** a redacted export's side manifest, relative to the data dir */
  manifest: string | null;
}

/** `<data>/exports`: where the box writes exports, snapshots and bundles of its own. */
export function exportsDir(dataDir: string): string {
  return join(dataDir, EXPORTS_DIR);
}

export function listExports(dataDir: string): ExportEntry[] {
  const dir = exportsDir(dataDir);
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const out: ExportEntry[] = [];
  for (const name of names.sort()) {
    if (name.endsWith(SIDE_MANIFEST) && names.includes(name.slice(0, -SIDE_MANIFEST.length))) continue;
    const path = join(dir, name);
    let st;
    try { st = statSync(path); } catch { continue; }
    const base: ExportEntry = {
      name, path: `${EXPORTS_DIR}/${name}`, kind: 'unknown', state: 'unsigned', directory: st.isDirectory(), created_ms: Math.round(st.mtimeMs),
      camera: null, from_ms: null, to_ms: null, bytes: st.isDirectory() ? dirBytes(path) : st.size, id: null, manifest: null,
    };
    if (name.startsWith('.') && name.includes('.partial')) { out.push({ ...base, state: 'incomplete' }); continue; }
    if (st.isDirectory()) {
      const m = readJson(join(path, MANIFEST_FILE)) as { schema?: string; created_ms?: number; camera?: string; from_ms?: number; to_ms?: number; bundle_id?: string } | undefined;
      if (m?.schema === BUNDLE_SCHEMA) {
        out.push({ ...base, kind: 'evidence', state: 'complete', created_ms: m.created_ms ?? base.created_ms, camera: m.camera ?? null, from_ms: m.from_ms ?? null, to_ms: m.to_ms ?? null, id: m.bundle_id ?? null });
      } else out.push(base);
      continue;
    }
    const m = names.includes(name + SIDE_MANIFEST)
      ? readJson(join(dir, name + SIDE_MANIFEST)) as { kind?: ExportEntry['kind']; created?: string; camera?: string; from?: string; to?: string; export_id?: string } | undefined
      : undefined;
    if (!m) { out.push(base); continue; }
    const time = (s?: string) => (s && !Number.isNaN(Date.parse(s)) ? Date.parse(s) : null);
    out.push({
      ...base, kind: m.kind ?? 'unknown', state: 'complete', created_ms: time(m.created) ?? base.created_ms, camera: m.camera ?? null,
      from_ms: time(m.from), to_ms: time(m.to), id: m.export_id ?? null, manifest: `${EXPORTS_DIR}/${name}${SIDE_MANIFEST}`,
      bytes: base.bytes + fileBytes(join(dir, name + SIDE_MANIFEST)),
    });
  }
  return out;
}

function readJson(path: string): unknown {
  try { return JSON.parse(readFileSync(path, 'utf8')); } catch { return undefined; }
}

