import { verifyRecordings } from '../../recorder/verify.js';
import { EXIT, parseCommand } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

export const spec = {
  name: 'verify',
  summary: 'Check every recording against the catalog and the hash chain: reports modified, missing and inserted segments. Exit 1 when anything is wrong.',
  usage: 'verify [--camera ID] [--json] [--config FILE | --data DIR]',
  options: { camera: { type: 'string' }, json: { type: 'boolean' }, ...dataDirOptions.options },
  help: { camera: 'check only this camera\'s files (the chain is always checked whole)', json: 'print JSON', ...dataDirOptions.help },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return 0;
  const dataDir = dataDirFrom(args.values);
  const catalog = openCatalogReadOnly(dataDir);
  try {
    const report = await verifyRecordings(dataDir, catalog, { camera: args.values.camera });
    if (args.values.json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    } else {
      const out = report.findings.map((f) => `${f.kind.toUpperCase().padEnd(8)} ${f.path ?? ''}${f.segment ? ` (segment #${f.segment})` : ''}: ${f.detail}`);
      for (const d of report.deleted) out.push(`deleted  ${d.path} (segment #${d.segment}) at ${d.atMs ? new Date(d.atMs).toISOString() : '?'}: ${d.note ?? ''}`);
      out.push(`${report.ok ? 'OK' : 'FAILED'}: ${report.chainLength} segments in the chain, ${report.filesChecked} files verified, ` +
        `${report.deleted.length} deleted by retention, ${report.findings.length} problems; chain head ${report.chainHead}`);
      process.stdout.write(out.join('\n') + '\n');
    }
    return report.ok ? EXIT.ok : EXIT.failure;
  } finally {
    catalog.close();
  }
}
