import type { Catalog } from '../../recorder/catalog/catalog.js';
import { continuity } from '../../watchdog/continuity.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { EXIT, parseCommand, UsageError, print, printError, printJson } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly, parseTime } from './data-dir.js';

export const spec = {
  name: 'recordings',
  summary: 'List the segments recorded for a camera (all states: ok, missing, deleted).',
  usage: 'recordings --camera ID [--from TIME] [--to TIME] [--gaps] [--json] [--config FILE | --data DIR]',
  options: { camera: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, gaps: { type: 'boolean' }, json: { type: 'boolean' }, ...dataDirOptions.options },
  help: {
    camera: 'camera id (without it: the cameras that have recordings)',
    from: 'segments ending after this time (ISO 8601 or epoch ms)',
    to: 'segments starting before this time',
    gaps: 'the gaps (with their causes) and the continuity per UTC day instead of the segments',
    json: 'print JSON',
    ...dataDirOptions.help,
  },
} as const;

const iso = (ms: number) => new Date(ms).toISOString();

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return 0;
  const v = args.values;
  const from = parseTime('from', v.from);
  const to = parseTime('to', v.to);
  if (from !== undefined && to !== undefined && from >= to) throw new UsageError('--from must be before --to');
  const catalog = openCatalogReadOnly(await dataDirFrom(v));
  try {
    if (!v.camera) {
      const cameras = catalog.cameras();
      if (v.json) printJson({ cameras });
      else print(cameras.length ? `cameras with recordings: ${cameras.join(', ')}\n` : 'no recordings yet\n');
      return 0;
    }
    if (!catalog.knowsCamera(v.camera)) {
      const known = catalog.cameras();
      printError(`edge-nvr recordings: no camera "${v.camera}" on this box (${known.length ? `cameras with recordings: ${known.join(', ')}` : 'no recordings yet'})\n`);
      return EXIT.failure;
    }
    if (v.gaps) {
      printGaps(catalog, v.camera, from, to, v.json ?? false);
      return 0;
    }
    const rows = catalog.segments(v.camera, from, to);
    if (v.json) {
      printJson({ camera: v.camera, segments: rows.map((r) => ({
        id: r.id, start: iso(r.start_ms), end: iso(r.end_ms), start_ms: r.start_ms, end_ms: r.end_ms, bytes: r.bytes,
        path: r.path, sha256: r.sha256, state: r.state, origin: r.origin,
      })) }, 2);
      return 0;
    }
    if (rows.length === 0) {
      print(`no segments for camera "${v.camera}" in that range\n`);
      return 0;
    }
    const lines = rows.map((r) => [iso(r.start_ms), iso(r.end_ms), `${((r.end_ms - r.start_ms) / 1000).toFixed(1)}s`.padStart(7),
      String(r.bytes).padStart(10), r.state.padEnd(7), r.path].join('  '));
    const total = rows.reduce((s, r) => s + r.bytes, 0);
    print(['start                     end                       length       bytes  state    path', ...lines,
      `${rows.length} segments, ${(total / 1e6).toFixed(1)} MB`].join('\n') + '\n');
    return 0;
  } finally {
    catalog.close();
  }
}

/** Gaps in [from, to) (default: the last 7 days) and the share of each UTC day on record. */
function printGaps(catalog: Catalog, camera: string, from: number | undefined, to: number | undefined, json: boolean): void {
  const end = to ?? Date.now();
  const start = from ?? end - 7 * DAY_MS;
  const gaps = catalog.gaps(camera, start, end);
  const days: Array<{ day: string; continuity: number }> = [];
  // days are listed only where the camera has anything on record, and not past now: a range of
  // 0 to year 275760 was a day at a time, a query each (an outside probe: 2 GB and counting)
  const first = catalog.firstRecordMs(camera);
  const daysFrom = first === null ? end : Math.max(start, first);
  const daysTo = Math.min(end, Date.now());
  for (let d = Math.floor(daysFrom / DAY_MS) * DAY_MS; d < daysTo; d += DAY_MS) {
    const upTo = Math.min(d + DAY_MS, end);
    days.push({ day: iso(d).slice(0, 10), continuity: continuity(catalog, camera, Math.max(d, start), upTo) });
  }
  if (json) {
    printJson({ camera, gaps: gaps.map((g) => ({ ...g, start: iso(g.start_ms), end: g.end_ms === null ? null : iso(g.end_ms) })), days }, 2);
    return;
  }
  const lines = gaps.map((g) => `${iso(g.start_ms)}  ${g.end_ms === null ? 'still open              ' : iso(g.end_ms)}  ` +
    `${g.end_ms === null ? '' : `${((g.end_ms - g.start_ms) / 1000).toFixed(1)}s`.padStart(9)}  ${g.cause.padEnd(18)} ${g.detail ?? ''}`);
  print([gaps.length ? `gaps of ${camera}:` : `no gaps for ${camera} in that range`, ...lines, '',
    'continuity per UTC day:', ...days.map((d) => `  ${d.day}  ${(d.continuity * 100).toFixed(2).padStart(6)} %`)].join('\n') + '\n');
}
