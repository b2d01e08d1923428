import { redactFile } from '../../redaction/egress.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { cliActor } from '../audit-trail.js';
import { egressOptions, runEgress } from './egress-command.js';

export const spec = {
  name: 'redact',
  summary: 'Redact a video or image file (faces, plates and text hidden, watermarked, signed manifest, audited).',
  usage: 'redact IN OUT [--camera ID] [--requester WHO] [--reason WHY] [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, requester: { type: 'string' }, reason: { type: 'string' }, ...egressOptions.options,
  },
  help: {
    camera: "also burn this camera's privacy masks",
    requester: 'on whose behalf (the audit log names the unix user running the command, and this)',
    reason: 'why (audit log; default "redact command")',
    ...egressOptions.help,
  },
  positionals: 2,
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const [input, out] = args.positionals;
  if (!input || !out) throw new UsageError('expected IN and OUT');
  const v = args.values;
  return runEgress(v, (ctx) => redactFile(ctx, {
    input, out, requester: cliActor(v.requester), reason: v.reason ?? 'redact command', camera: v.camera,
  }), { option: 'OUT', path: out, mustExist: false }, true);
}
