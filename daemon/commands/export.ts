import { exportClip } from '../../redaction/egress.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { parseTime } from './data-dir.js';
import { cliActor } from '../audit-trail.js';
import { egressOptions, runEgress } from './egress-command.js';

export const spec = {
  name: 'export',
  summary: 'Export a redacted clip of a camera from the recordings (sources verified, signed manifest, audited).',
  usage: 'export --camera ID --from TIME --to TIME --reason WHY --requester WHO --out FILE.mp4 [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, reason: { type: 'string' }, requester: { type: 'string' },
    out: { type: 'string' }, ...egressOptions.options,
  },
  help: {
    camera: 'camera id', from: 'start (ISO 8601 or epoch ms)', to: 'end', reason: 'why it is exported (audit log)',
    requester: 'on whose behalf (the audit log names the unix user running the command, and this)', out: 'the clip to write (.mp4); <out>.manifest.json goes beside it', ...egressOptions.help,
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  for (const k of ['camera', 'from', 'to', 'reason', 'requester', 'out'] as const) if (!v[k]) throw new UsageError(`--${k} is required`);
  const fromMs = parseTime('from', v.from)!, toMs = parseTime('to', v.to)!;
  if (fromMs >= toMs) throw new UsageError('--from must be before --to');
  return runEgress(v, (ctx) => exportClip(ctx, { camera: v.camera!, fromMs, toMs, reason: v.reason!, requester: cliActor(v.requester), out: v.out! }), { option: '--out', path: v.out!, mustExist: true });
}
