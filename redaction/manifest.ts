import { createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { boxKey, KEY_FILE } from '../common/box-key.js';
import { canonicalJson } from '../common/canonical-json.js';
import { sha256File } from '../common/file-hash.js';

export interface Manifest {
  schema: 'edge-nvr/manifest/1';
  kind: 'export' | 'snapshot' | 'redact';
  export_id: string;
  box_id: string;
  created: string;
  requester: string;
  reason: string;
  camera?: string;
  from?: string;
  to?: string;
  sources: Array<{ path: string; sha256: string; segment_id?: number; start?: string; end?: string }>;
  settings: Record<string, unknown>;
  detectors: Array<{ name: string; version: string }>;
  encoder: string;
  frames: number;
  blanked_frames: number;
  boxes: Record<string, number>;
  detections: Record<string, number>;
  output: { file: string; sha256: string; bytes: number };
  public_key: string;
  signature?: string;
}

export const manifestPath = (out: string) => `${out}.manifest.json`;

export function signManifest(m: Manifest, dataDir: string): Manifest {
  const { privateKey, publicPem } = boxKey(dataDir);
  const body = { ...m, public_key: publicPem, signature: undefined };
  return { ...body, signature: sign(null, Buffer.from(canonicalJson(body)), privateKey).toString('base64') };
}

export interface ManifestCheck { ok: boolean; problems: string[]; manifest?: Manifest }

/**
 * Checks a manifest's signature (with the key in it, and, when `dataDir` is given, that the key
 * is this box's) and that the output file beside it still has the hash it records.
 */
export async function verifyManifest(path: string, dataDir?: string): Promise<ManifestCheck> {
  const problems: string[] = [];
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (err) {
    return { ok: false, problems: [`cannot read ${path}: ${(err as Error).message}`] };
  }
  try {
    const body = { ...m, signature: undefined };
    const good = typeof m.signature === 'string' && verify(null, Buffer.from(canonicalJson(body)), createPublicKey(m.public_key), Buffer.from(m.signature, 'base64'));
    if (!good) problems.push('signature does not match the manifest (altered, or not signed by this key)');
  } catch (err) {
    problems.push(`signature cannot be checked: ${(err as Error).message}`);
  }
  if (dataDir && existsSync(join(dataDir, KEY_FILE)) && boxKey(dataDir).publicPem !== m.public_key) problems.push("the manifest is not signed with this box's key");
  const out = resolve(dirname(path), m.output?.file ?? '');
  if (!m.output?.file || !existsSync(out)) problems.push(`output file ${out} is missing`);
  else if ((await sha256File(out)) !== m.output.sha256) problems.push(`output file ${out} does not match its sha256 in the manifest (altered)`);
  return { ok: problems.length === 0, problems, manifest: m };
}
