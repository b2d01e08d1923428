import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p`: the folders of `dir` that are missing, made from the top down; the first one made
 * (what mkdirSync's recursive form returns), or undefined when none was missing. Node 20's own
 * recursive mkdirSync never returns for a path under /proc (mkdir answers ENOENT for the folder and
 * EEXIST for its parent, and it tries again for ever, holding the event loop): `run` with
 * storage.path /proc/... spun at 70 % of a core and ignored SIGTERM (an outside probe). Here the
 * kernel's answer is an error, as for any folder that cannot be made.
 */
export function makeDirs(dir: string, mode?: number): string | undefined {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let d = target; ; d = dirname(d)) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st) {
      // as mkdirSync says it: the folder itself a file is EEXIST; a file above it, ENOTDIR (below)
      if (d === target && !st.isDirectory()) throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${d}'`), { code: 'EEXIST', path: d });
      break;
    }
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      // made meanwhile by someone else: as good as made here
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw err;
    }
  }
  return missing[0];
}
