/**
 * bench/smaps-split: a process's resident memory by mapping, for bench/memory-probe and
 * bench/node-floor. Benchmark-only.
 *
 * `/proc/PID/smaps` gives each mapping's resident kB; the node binary is one file mapped in a few
 * pieces, so its pages are split further by the ELF sections they belong to (read from the binary
 * itself) through `/proc/PID/pagemap`'s "present" bit (readable by the process's own user, no
 * privilege): the machine code (`.text`), ICU's data embedded in `.rodata` (the `icudt*_dat`
 * symbol: Intl, locale-aware comparison and formatting, time zones, normalize), the rest of
 * `.rodata` (V8's snapshot and builtins' data, tables), the dynamic symbol tables the loader
 * reads, and the rest. Anonymous memory is split into the brk heap (malloc's main arena) and the
 * other anonymous mappings (V8's heap pages, mmap'd malloc chunks and the other arenas, stacks).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const PAGE = 4096;
const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

interface Section { name: string; addr: number; size: number }

/** Where the node binary's sections and its ICU data are. */
export interface NodeLayout { sections: Section[]; icu?: { addr: number; size: number }; pie: boolean }

/** The environment variable that hands a measured process its node binary's layout (see nodeLayout). */
export const LAYOUT_ENV = 'EDGE_NVR_NODE_LAYOUT';

/**
 * The node binary's allocated sections and where its ICU data is, from its ELF headers (x86-64
 * and arm64: ELF64 little-endian). It reads the whole binary (about 100 MB): call it in the
 * benchmark's own process and hand the result to a measured one in LAYOUT_ENV, never in the
 * measured process (its RSS would count the read).
 */
export function nodeLayout(path = process.execPath): NodeLayout | undefined {
  let b: Buffer;
  try { b = readFileSync(path); } catch { return undefined; }
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return undefined;
  const pie = b.readUInt16LE(16) === 3; // ET_DYN: its addresses are relative to where it was loaded
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a), shnum = b.readUInt16LE(0x3c), shstrndx = b.readUInt16LE(0x3e);
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: b.readUInt32LE(o), type: b.readUInt32LE(o + 4), flags: Number(b.readBigUInt64LE(o + 8)), addr: Number(b.readBigUInt64LE(o + 16)), offset: Number(b.readBigUInt64LE(o + 24)), size: Number(b.readBigUInt64LE(o + 32)), link: b.readUInt32LE(o + 40) };
  };
  const names = header(shstrndx);
  const cstr = (at: number) => b.toString('latin1', at, b.indexOf(0, at));
  const all = Array.from({ length: shnum }, (_, i) => header(i));
  const sections = all.filter((s) => s.flags & 2 /* SHF_ALLOC */).map((s) => ({ name: cstr(names.offset + s.name), addr: s.addr, size: s.size }));
  let icu: { addr: number; size: number } | undefined;
  const dynsym = all.find((s) => s.type === 11 /* SHT_DYNSYM */);
  if (dynsym) {
    const strtab = all[dynsym.link]!;
    for (let o = dynsym.offset; o < dynsym.offset + dynsym.size; o += 24) {
      const name = cstr(strtab.offset + b.readUInt32LE(o));
      if (/^icudt\d+_dat$/.test(name)) { icu = { addr: Number(b.readBigUInt64LE(o + 8)), size: Number(b.readBigUInt64LE(o + 16)) }; break; }
    }
  }
  return { sections, icu, pie };
}

let layout: NodeLayout | undefined | null = null;

export interface ResidentSplit {
  /** VmRSS by where it is, MB */
  total: number;
  /** the node binary's resident pages by section */
  node: { text: number; icuData: number; rodata: number; symbols: number; other: number };
  /** the other mapped files (shared libraries, addons, mapped databases), the largest first */
  files: Array<[string, number]>;
  /** anonymous: malloc's main arena (brk heap), everything else anonymous, thread stacks included */
  anon: { brkHeap: number; other: number };
}

/**
 * Where `pid`'s resident pages are (`self` for the calling process). The node binary is split by
 * section when its layout is given in LAYOUT_ENV or `given`, else counted whole (as "other").
 */
export function residentSplit(pid: number | 'self' = 'self', given?: NodeLayout): ResidentSplit {
  const exe = process.execPath;
  if (given) layout = given;
  else if (layout === null) layout = process.env[LAYOUT_ENV] ? JSON.parse(process.env[LAYOUT_ENV]) as NodeLayout : undefined;
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const files = new Map<string, number>();
  let brk = 0, anon = 0, total = 0, nodeRss = 0, nodeBase = Infinity;
  let name = '';
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-[0-9a-f]+ \S+ ([0-9a-f]+) \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      name = m[3] ?? '';
      if (name === exe && parseInt(m[2]!, 16) === 0) nodeBase = Math.min(nodeBase, parseInt(m[1]!, 16));
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (!r) continue;
    const bytes = Number(r[1]) * 1024;
    total += bytes;
    if (name === exe) nodeRss += bytes;
    else if (name === '[heap]') brk += bytes;
    else if (name === '' || name.startsWith('[')) anon += bytes;
    else files.set(name, (files.get(name) ?? 0) + bytes);
  }
  const node = { text: 0, icuData: 0, rodata: 0, symbols: 0, other: 0 };
  if (layout) {
    const base = layout.pie && nodeBase !== Infinity ? nodeBase : 0;
    const fd = openSync(`/proc/${pid}/pagemap`, 'r');
    const present = (addr: number, size: number) => {
      const first = Math.floor((base + addr) / PAGE), last = Math.ceil((base + addr + size) / PAGE);
      if (last <= first) return 0;
      const buf = Buffer.alloc((last - first) * 8);
      readSync(fd, buf, 0, buf.length, first * 8);
      let n = 0;
      for (let i = 0; i < last - first; i++) if (buf[i * 8 + 7]! & 0x80) n++;
      return n * PAGE;
    };
    try {
      for (const s of layout.sections) {
        if (s.name === '.text') node.text += present(s.addr, s.size);
        else if (s.name === '.rodata' && layout.icu) {
          const icu = present(layout.icu.addr, layout.icu.size);
          node.icuData += icu;
          node.rodata += present(s.addr, s.size) - icu;
        } else if (s.name === '.rodata') node.rodata += present(s.addr, s.size);
        else if (s.name === '.dynsym' || s.name === '.dynstr' || s.name === '.gnu.hash') node.symbols += present(s.addr, s.size);
      }
    } finally {
      closeSync(fd);
    }
    // sections share pages at their edges: what is left of the binary's RSS is "other"
    node.other = Math.max(0, nodeRss - node.text - node.icuData - node.rodata - node.symbols);
  } else node.other = nodeRss;
  return {
    total: mb(total),
    node: { text: mb(node.text), icuData: mb(node.icuData), rodata: mb(node.rodata), symbols: mb(node.symbols), other: mb(node.other) },
    files: [...files].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, v]) => [n.replace(/^.*\/node_modules\//, ''), mb(v)]),
    anon: { brkHeap: mb(brk), other: mb(anon) },
  };
}
