import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { EgressRequestError, redactFile } from '../../redaction/egress.js';
import { DEFAULT_CONFIG, EXIT, parseCommand, UsageError } from '../args.js';

export const spec = {
  name: 'redact',
  summary: 'Redact a video or image file (faces, plates and text hidden, watermarked, signed manifest, audited).',
  usage: 'redact IN OUT [--camera ID] [--requester WHO] [--reason WHY] [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, requester: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' },
    config: { type: 'string' }, data: { type: 'string' },
  },
  help: {
    camera: "also burn this camera's privacy masks",
    requester: 'who asks (audit log; default: the user running the command)',
    reason: 'why (audit log; default "redact command")',
    json: 'print the result as JSON',
    config: `config: redaction settings, box id, data dir (default ${DEFAULT_CONFIG})`,
    data: 'data dir for the audit log and the box key, with default redaction settings',
  },
  positionals: 2,
} as const;

/** --data alone: default redaction settings; otherwise the config's settings and storage.path. */
export function egressTarget(values: { config?: string; data?: string }): { config?: Config; dataDir: string } {
  if (values.data && !values.config) return { dataDir: resolve(values.data) };
  const config = loadConfig(values.config ?? DEFAULT_CONFIG);
  return { config, dataDir: resolve(values.data ?? config.storage.path) };
}

export function requesterDefault(): string {
  try { return userInfo().username; } catch { return `uid ${process.getuid?.() ?? '?'}`; }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const [input, out] = args.positionals;
  if (!input || !out) throw new UsageError('expected IN and OUT');
  const v = args.values;
  const { config, dataDir } = egressTarget(v);
  const catalog = Catalog.open(dataDir);
  try {
    const r = await redactFile({ catalog, dataDir, config }, {
      input, out, requester: v.requester ?? requesterDefault(), reason: v.reason ?? 'redact command', camera: v.camera,
    });
    process.stdout.write(v.json ? JSON.stringify(r) + '\n' : `${r.out}: ${r.frames} frames${r.blanked_frames ? `, ${r.blanked_frames} blanked (fail closed)` : ''}, manifest ${r.manifest}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof EgressRequestError) throw new UsageError(err.message);
    throw err;
  } finally {
    catalog.close();
  }
}
