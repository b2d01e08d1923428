import { lchownSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

/**
 * What a command run as root (`sudo edge-nvr evidence ...`) writes inside the data dir is handed
 * to the data dir's owner, the service user: an `exports/` made by root (0755 root) kept the
 * daemon from writing its MQTT exports and snapshots there, and retention from deleting expired
 * bundles. Links are not followed (lchown). Outside the data dir (a USB stick) nothing changes.
 * `paths`: each made by the command, a directory with everything in it.
 */
export function giveToDataOwner(dataDir: string, paths: Array<string | undefined>): void {
  if (process.getuid?.() !== 0) return;
  const root = resolve(dataDir);
  const { uid, gid } = statSync(root);
  if (uid === 0) return;
  const give = (path: string) => {
    const st = lstatSync(path);
    lchownSync(path, uid, gid);
    if (st.isDirectory()) for (const name of readdirSync(path)) give(join(path, name));
  };
  for (const p of paths) {
    if (!p) continue;
    const rel = relative(root, resolve(p));
    if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) continue;
    give(resolve(p));
  }
}
