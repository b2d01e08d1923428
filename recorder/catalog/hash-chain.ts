import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The chain's first `prev_hash`. */
export const GENESIS = '0'.repeat(64);

/** The fields of a segment row that the chain protects. State changes (missing, deleted) are not
 * among them: retention may delete a file, but never rewrite what was recorded. */
export interface ChainedFields {
  id: number;
  camera: string;
  start_ms: number;
  end_ms: number;
  bytes: number;
  path: string;
  sha256: string;
}

export function chainHash(prevHash: string, s: ChainedFields): string {
  const canonical = [prevHash, s.id, s.camera, s.start_ms, s.end_ms, s.bytes, s.path, s.sha256].join('\n');
  return createHash('sha256').update(canonical).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
