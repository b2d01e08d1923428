import { chmodSync, lchownSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';

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

/**
 * Why the daemon must not use `dir` as its data dir, or undefined: the folder must be its own
 * user's and not writable by every user, and no folder above it another user's or writable by
 * all without the sticky bit (/tmp has it). A folder an unprivileged user had made before the daemon
 * first ran (mode 0777, or 0700 theirs) was used as it was: the box's key was given to them, and
 * they could move recordings away (an outside probe). `owner`: who must own it, the daemon's
 * user (`check` run as root passes the folder's own owner: it cannot tell the service user).
 */
export function untrustedDataDir(dir: string, owner = process.geteuid?.() ?? 0): string | undefined {
  const me = owner;
  const trusted = (uid: number) => uid === 0 || uid === me || uid === process.geteuid?.();
  // A link on the way is followed by every open of a recording: one another user owns (in /tmp,
  // theirs to replace) was pointed at a folder of theirs while the box recorded, and ffmpeg, as
  // root, wrote the camera's video into files they had made there (an outside probe).
  const real = realpathSync(dir);
  for (let p = resolve(dir), last = ''; p !== last; last = p, p = dirname(p)) {
    const l = lstatSync(p);
    if (l.isSymbolicLink() && !trusted(l.uid)) {
      return `${p} is a link that belongs to uid ${l.uid}: its owner could point it at a folder of theirs while the box records; give storage.path as the folder's own path (${real}), under folders root or the service user owns`;
    }
  }
  // the folder as named and where it really is: a folder above either could be moved
  for (const at of new Set([resolve(dir), real])) {
    const st = statSync(at);
    const fix = `make it the service user's alone (install -d -o edge-nvr -m 0750 ${at}), or choose another folder`;
    if (st.uid !== me) return `${at} belongs to uid ${st.uid}, not to the user the daemon runs as (uid ${me}): its owner could read the box's key and recordings; ${fix}`;
    // its group may write (a shared umask 002 makes 0775): the group is the owner's to choose
    if (st.mode & 0o002) return `${at} is writable by every local user (mode 0${(st.mode & 0o7777).toString(8)}): they could replace the key and move recordings; ${fix}`;
    for (let above = dirname(at), last = at; above !== last; last = above, above = dirname(above)) {
      const a = statSync(above);
      if (!trusted(a.uid)) return `${above}, a folder above ${at}, belongs to uid ${a.uid}: its owner could move the data dir away and put another in its place; choose a folder under ones root or the service user owns`;
      if ((a.mode & 0o002) && !(a.mode & 0o1000)) return `${above}, a folder above ${at}, is writable by every local user without the sticky bit: anyone could move the data dir away; choose another folder`;
    }
  }
  return undefined;
}

/**
 * `out` with its folder's real path (no link left in it), or why another local user could swap
 * what the box writes there. A command writes its output into a folder it makes beside `out`,
 * then renames it into place; where someone else may write to that folder or one above it, they
 * renamed the box's folder away and put theirs in its place while ffmpeg wrote: ffmpeg, as root,
 * followed a link of theirs onto any file of the box, and the box signed a file of theirs as its
 * redacted export (an outside probe). So the folder and each one above must belong to root, this
 * user or the data dir's owner, and only such a group or nobody else may write to them unless the
 * sticky bit is set (/tmp: nobody renames what is not theirs). Links are resolved first: one the
 * other user owns could be pointed elsewhere while the box writes.
 */
export function trustedOutputPath(out: string, dataDir: string): { path: string } | { problem: string } {
  const dir = realpathSync(dirname(resolve(out)));
  let data: { uid: number; gid: number } | undefined;
  try { data = statSync(dataDir); } catch { /* not made yet: root and this user only */ }
  const uids = new Set([0, process.geteuid?.() ?? 0, ...(data ? [data.uid] : [])]);
  const gids = new Set([0, process.getegid?.() ?? 0, ...(data ? [data.gid] : [])]);
  for (let d = dir, last = ''; d !== last; last = d, d = dirname(d)) {
    const st = statSync(d);
    const where = d === dir ? `the folder ${d}` : `${d}, a folder above ${dir},`;
    if (!uids.has(st.uid)) return { problem: `${where} belongs to uid ${st.uid}: its owner could swap what the box writes there for files of theirs; give a folder of root's or of this user's (a USB drive mounted for root), nothing was written` };
    const othersWrite = (st.mode & 0o002) || ((st.mode & 0o020) && !gids.has(st.gid));
    if (othersWrite && !(st.mode & 0o1000)) return { problem: `${where} may be written by other users (mode 0${(st.mode & 0o7777).toString(8)}, without the sticky bit): they could swap what the box writes there; give another folder, nothing was written` };
  }
  return { path: join(dir, basename(out)) };
}

/** Something is at `path`, a link included, even one to nothing (existsSync follows links: a
 * dangling one at an export's manifest name passed, and the export failed at its very end). */
export function nameTaken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The service's own files (the catalog, its journal, the box key) kept to their owner: a fresh
 * data dir gets them 0600 (umask 077), but a catalog copied in by hand with mode 0644 stayed
 * readable by every local user, pre-signed upload URLs and all (an outside probe). Returns each
 * file whose mode was narrowed, with the mode it had; a file not there is skipped.
 */
export function keepToOwner(paths: string[]): Array<{ path: string; was: string }> {
  const narrowed: Array<{ path: string; was: string }> = [];
  for (const path of paths) {
    let mode: number;
    try {
      mode = lstatSync(path).mode;
    } catch {
      continue;
    }
    if (!(mode & 0o077) || (mode & 0o170000) !== 0o100000) continue;
    chmodSync(path, mode & 0o700);
    narrowed.push({ path, was: `0${(mode & 0o777).toString(8)}` });
  }
  return narrowed;
}
