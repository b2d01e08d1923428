import { Catalog } from '../../recorder/catalog/catalog.js';
import { EgressRequestError, exportClip } from '../../redaction/egress.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { parseTime } from './data-dir.js';
import { egressTarget } from './redact.js';

export const spec = {
  name: 'export',
  summary: 'Export a redacted clip of a camera from the recordings (sources verified, signed manifest, audited).',
  usage: 'export --camera ID --from TIME --to TIME --reason WHY --requester WHO --out FILE.mp4 [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, reason: { type: 'string' }, requester: { type: 'string' },
    out: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' }, data: { type: 'string' },
  },
  help: {
    camera: 'camera id', from: 'start (ISO 8601 or epoch ms)', to: 'end', reason: 'why it is exported (audit log)',
    requester: 'who asks for it (audit log)', out: 'the clip to write (.mp4); <out>.manifest.json goes beside it', json: 'print the result as JSON',
    config: 'config: redaction settings, privacy masks, box id, data dir', data: 'data dir, with default redaction settings',
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  for (const k of ['camera', 'from', 'to', 'reason', 'requester', 'out'] as const) if (!v[k]) throw new UsageError(`--${k} is required`);
  const fromMs = parseTime('from', v.from)!, toMs = parseTime('to', v.to)!;
  if (fromMs >= toMs) throw new UsageError('--from must be before --to');
  const { config, dataDir } = egressTarget(v);
  const catalog = Catalog.open(dataDir);
  try {
    const r = await exportClip({ catalog, dataDir, config }, { camera: v.camera!, fromMs, toMs, reason: v.reason!, requester: v.requester!, out: v.out! });
    process.stdout.write(v.json ? JSON.stringify(r) + '\n' : `${r.out}: ${r.frames} frames${r.blanked_frames ? `, ${r.blanked_frames} blanked (fail closed)` : ''}, manifest ${r.manifest}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof EgressRequestError) throw new UsageError(err.message);
    throw err;
  } finally {
    catalog.close();
  }
}
