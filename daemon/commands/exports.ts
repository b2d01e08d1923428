import { listExports } from '../../evidence/exports-dir.js';
import { isoTime } from '../../common/human.js';
import { EXIT, parseCommand, print, printJson } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

export const spec = {
  name: 'exports',
  summary: 'List the exports, snapshots and evidence bundles in <data>/exports: kind, camera, range, size, and whether each is complete and signed. '
    + 'An interrupted one is listed as incomplete, never as finished; storage.exports_max_days deletes them by age unless a hold covers them.',
  usage: 'exports [--json] [--config FILE | --data DIR]',
  options: { json: { type: 'boolean' }, ...dataDirOptions.options },
  help: { json: 'print JSON', ...dataDirOptions.help },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const dataDir = await dataDirFrom(args.values);
  openCatalogReadOnly(dataDir).close(); // a mistyped --data is refused, not listed as "no exports"
  const entries = listExports(dataDir);
  if (args.values.json) {
    printJson({ exports: entries }, 2);
    return EXIT.ok;
  }
  if (!entries.length) {
    print('no exports on the box\n');
    return EXIT.ok;
  }
  for (const e of entries) {
    const range = e.from_ms !== null && e.to_ms !== null ? `${isoTime(e.from_ms)} .. ${isoTime(e.to_ms)}` : '';
    print(`${e.state.padEnd(10)} ${e.kind.padEnd(9)} ${(e.camera ?? '-').padEnd(12)} ${isoTime(e.created_ms)}  ${String(e.bytes).padStart(10)} B  ${e.path}${range ? `  ${range}` : ''}\n`);
  }
  return EXIT.ok;
}
