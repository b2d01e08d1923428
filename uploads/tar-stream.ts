/**
 * What an upload sends: one object, a POSIX ustar archive of the export's files, streamed from
 * disk. One object because a pre-signed URL names one object, and because a platform then holds
 * the file with its manifest (or the bundle whole), or nothing: a PUT that did not finish leaves
 * no object. Its length is known before the first byte (headers, contents padded to 512 bytes,
 * two empty blocks), so the PUT carries Content-Length; the same files give the same bytes, so a
 * retried upload sends the same object. `tar -xf` unpacks it anywhere.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

const BLOCK = 512;
/** ustar's size field: 11 octal digits */
const MAX_FILE_BYTES = 8 ** 11 - 1;

export interface TarEntry {
  /** the name in the archive (a/b/c) */
  name: string;
  path: string;
  size: number;
  mtimeS: number;
}

/**
 * The entries for an export on the box: a bundle directory (every file under it, named under the
 * directory's own name), or a file and its side manifest (`<file>.manifest.json`) when it has one.
 */
export function exportEntries(source: string): TarEntry[] {
  const st = statSync(source);
  if (!st.isDirectory()) {
    const files = [source];
    try {
      if (statSync(`${source}.manifest.json`).isFile()) files.push(`${source}.manifest.json`);
    } catch { /* a file without a manifest goes alone */ }
    return files.map((p) => entry(basename(p), p));
  }
  const out: TarEntry[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(entry(`${basename(source)}/${relative(source, p)}`, p));
    }
  };
  walk(source);
  return out;
}

function entry(name: string, path: string): TarEntry {
  const st = statSync(path);
  if (!st.isFile()) throw new Error(`${name} is not a regular file`);
  if (st.size > MAX_FILE_BYTES) throw new Error(`${name} is ${st.size} bytes; an upload takes files up to 8 GiB`);
  return { name, path, size: st.size, mtimeS: Math.floor(st.mtimeMs / 1000) };
}

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/** The archive's length in bytes. */
export function tarLength(entries: TarEntry[]): number {
  return entries.reduce((n, e) => n + BLOCK + padded(e.size), 2 * BLOCK);
}

/** The archive, header by header and file by file; throws if a file's size changed since `entries` were read. */
export async function* tarStream(entries: TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield header(e);
    let sent = 0;
    for await (const chunk of createReadStream(e.path, { highWaterMark: 256 * 1024 })) {
      sent += (chunk as Buffer).length;
      if (sent > e.size) break;
      yield chunk as Buffer;
    }
    if (sent !== e.size) throw new Error(`${e.name} changed while it was being sent (${sent} bytes, expected ${e.size})`);
    if (padded(e.size) > e.size) yield Buffer.alloc(padded(e.size) - e.size);
  }
  yield Buffer.alloc(2 * BLOCK);
}

function header(e: TarEntry): Buffer {
  const h = Buffer.alloc(BLOCK);
  const [prefix, name] = splitName(e.name);
  h.write(name, 0, 100, 'utf8');
  const octal = (value: number, at: number, width: number) => h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, width, 'ascii');
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(e.size, 124, 12);
  octal(e.mtimeS, 136, 12);
  h.write('        ', 148, 8, 'ascii'); // the checksum counts its own field as spaces
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('edge-nvr', 265, 32, 'ascii');
  h.write('edge-nvr', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** ustar names: up to 100 bytes, or a prefix of up to 155 and a name of up to 100 split at a "/". */
function splitName(full: string): [string, string] {
  if (Buffer.byteLength(full) <= 100) return ['', full];
  for (let i = full.indexOf('/'); i > 0; i = full.indexOf('/', i + 1)) {
    const prefix = full.slice(0, i);
    const name = full.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new Error(`${full}: the name is too long for the archive (at most 255 bytes, split at a "/")`);
}
