import { takeSnapshot } from '../../redaction/egress.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { cliActor } from '../audit-trail.js';
import { egressOptions, runEgress } from './egress-command.js';

export const spec = {
  name: 'snapshot',
  summary: "A redacted still of a camera: the last keyframe of its newest recorded segment (the daemon need not run).",
  usage: 'snapshot --camera ID --out FILE.jpg [--requester WHO] [--reason WHY] [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, out: { type: 'string' }, requester: { type: 'string' }, reason: { type: 'string' }, ...egressOptions.options,
  },
  help: {
    camera: 'camera id', out: 'the image to write (.jpg or .png)', requester: 'on whose behalf (the audit log names the unix user running the command, and this)',
    reason: 'why (default "snapshot command")', ...egressOptions.help,
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  if (!v.camera || !v.out) throw new UsageError('--camera and --out are required');
  return runEgress(v, (ctx) => takeSnapshot(ctx, { camera: v.camera!, out: v.out!, requester: cliActor(v.requester), reason: v.reason ?? 'snapshot command' }), { option: '--out', path: v.out!, mustExist: true });
}
