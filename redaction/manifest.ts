import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { boxKey, KEY_FILE, keyFingerprint } from '../common/box-key.js';
import { NotRegularFileError, openRegularFile, sha256Handle } from '../common/file-hash.js';
import { MAX_RECORD_FILE_BYTES, readRegularFile } from '../common/read-file.js';
import { jsonSignatureHolds, signJson } from '../common/signed-json.js';

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
  /** built-in detectors switched off in the config, with its written reason: what this output
   * does NOT hide (empty when faces and plates were both hidden) */
  switched_off: Array<{ detector: 'faces' | 'plates'; reason: string }>;
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
  return signJson({ ...m, public_key: publicPem }, privateKey);
}

export interface ManifestCheck {
  ok: boolean;
  problems: string[];
  manifest?: Manifest;
  /** the key was compared with the box's (its data dir) or with --key: without, the signature only says the manifest is whole */
  keyChecked: boolean;
  /** the fingerprint of the key the manifest carries */
  fingerprint?: string;
}

/**
 * Checks a manifest's signature (with the key in it, and that the key is the box's: its data
 * dir's key, or the public key given) and that the output file beside it still has the hash it
 * records. A manifest is hostile input: its output is looked for only beside it, under a plain
 * name, and read only when it is a plain file and the signature holds (a manifest naming
 * /dev/zero or a FIFO hung the check; one naming ../ or an absolute path had files outside read).
 */
export async function verifyManifest(path: string, against: { dataDir?: string; keyPem?: string } = {}): Promise<ManifestCheck> {
  const problems: string[] = [];
  let m: Manifest;
  try {
    m = JSON.parse(readRegularFile(path, MAX_RECORD_FILE_BYTES, 'not an export manifest').toString('utf8')) as Manifest;
  } catch (err) {
    return { ok: false, problems: [`cannot read ${path}: ${(err as Error).message}`], keyChecked: false };
  }
  const output = (m as { output?: unknown } | null)?.output as Partial<Manifest['output']> | undefined;
  if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof output !== 'object' || output === null
    || typeof output.file !== 'string' || typeof output.sha256 !== 'string' || typeof m.public_key !== 'string') {
    return { ok: false, problems: [`${path} is not an edge-nvr export manifest (an object with output {file, sha256} and public_key)`], keyChecked: false };
  }
  let fingerprint: string | undefined;
  let signed = false;
  try {
    fingerprint = keyFingerprint(m.public_key);
    signed = jsonSignatureHolds(m, m.public_key);
    if (!signed) problems.push('signature does not match the manifest (altered, or not signed by this key)');
  } catch (err) {
    problems.push(`signature cannot be checked: ${(err as Error).message}`);
  }
  let keyChecked = false;
  if (against.keyPem !== undefined) {
    keyChecked = true;
    let expected: string | undefined;
    try { expected = keyFingerprint(against.keyPem); } catch { problems.push('the key given is not a public key (PEM)'); }
    if (expected !== undefined && expected !== fingerprint) problems.push(`the manifest is signed by key ${fingerprint ?? 'that cannot be read'}, not the box key given (${expected})`);
  } else if (against.dataDir && existsSync(join(against.dataDir, KEY_FILE))) {
    keyChecked = true;
    if (boxKey(against.dataDir).publicPem !== m.public_key) problems.push("the manifest is not signed with this box's key");
  }
  const name = output.file;
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    problems.push(`the manifest names its output ${JSON.stringify(name)}, not a file beside it`);
  } else if (!signed) {
    problems.push(`output file ${name} was not hashed: the signature does not hold, so the hash it lists proves nothing`);
  } else {
    const out = join(dirname(resolve(path)), name);
    try {
      const fh = await openRegularFile(out);
      try {
        if ((await sha256Handle(fh)).sha256 !== output.sha256) problems.push(`output file ${out} does not match its sha256 in the manifest (altered)`);
      } finally {
        await fh.close();
      }
    } catch (err) {
      problems.push(err instanceof NotRegularFileError ? `output file ${err.message}` : (err as NodeJS.ErrnoException).code === 'ENOENT' ? `output file ${out} is missing` : `output file ${out} cannot be read: ${(err as Error).message}`);
    }
  }
  return { ok: problems.length === 0, problems, manifest: m, keyChecked, fingerprint };
}
