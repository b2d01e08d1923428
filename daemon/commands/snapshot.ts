import { Catalog } from '../../recorder/catalog/catalog.js';
import { EgressRequestError, takeSnapshot } from '../../redaction/egress.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { egressTarget, requesterDefault } from './redact.js';

export const spec = {
  name: 'snapshot',
  summary: "A redacted still of a camera: the last keyframe of its newest recorded segment (the daemon need not run).",
  usage: 'snapshot --camera ID --out FILE.jpg [--requester WHO] [--reason WHY] [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, out: { type: 'string' }, requester: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' },
    config: { type: 'string' }, data: { type: 'string' },
  },
  help: {
    camera: 'camera id', out: 'the image to write (.jpg or .png)', requester: 'who asks (default: the user running the command)',
    reason: 'why (default "snapshot command")', json: 'print the result as JSON',
    config: 'config: redaction settings, privacy masks, box id, data dir', data: 'data dir, with default redaction settings',
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  if (!v.camera || !v.out) throw new UsageError('--camera and --out are required');
  const { config, dataDir } = egressTarget(v);
  const catalog = Catalog.open(dataDir);
  try {
    const r = await takeSnapshot({ catalog, dataDir, config }, { camera: v.camera, out: v.out, requester: v.requester ?? requesterDefault(), reason: v.reason ?? 'snapshot command' });
    process.stdout.write(v.json ? JSON.stringify(r) + '\n' : `${r.out}: manifest ${r.manifest}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof EgressRequestError) throw new UsageError(err.message);
    throw err;
  } finally {
    catalog.close();
  }
}
