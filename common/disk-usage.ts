import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Sizes for retention's accounting and the exports listing. A file that vanishes while it is
// being counted (retention, a finished export) counts as nothing rather than failing the count.

/** A file's size; 0 when it is not there. */
export function fileBytes(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

/** The bytes of every file under a directory, subdirectories included; 0 when it is not there. */
export function dirBytes(dir: string): number {
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return 0; }
  let n = 0;
  for (const e of entries) {
    try {
      const st = statSync(join(dir, e));
      n += st.isDirectory() ? dirBytes(join(dir, e)) : st.size;
    } catch { /* gone meanwhile */ }
  }
  return n;
}
