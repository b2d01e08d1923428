import { exportsDir } from '../../evidence/exports-dir.js';
import { writeEvidenceBundle, EvidenceRequestError } from '../../evidence/write-bundle.js';
import { parseOfficer } from '../../evidence/bundle-format.js';
import { EXIT, outInExistingDir, parseCommand, UsageError, print, printJson } from '../args.js';
import { cliActor } from '../audit-trail.js';
import { BOX_ID_META } from '../catalog-meta.js';
import { cancelOnSignals } from './cancel-on-signals.js';
import { dataDirFrom, dataDirOptions, openCatalogForWriting, parseTime } from './data-dir.js';

export const spec = {
  name: 'evidence',
  summary: 'Export the ORIGINAL recordings of a range for an authority: unchanged segment files, catalog rows, gaps, holds, deletions, '
    + 'the chain proof to a fresh signed checkpoint and a signed manifest. Places a legal hold on the range; registered in the audit log.',
  usage: 'evidence --camera ID --from TIME --to TIME --agency NAME --officer "NAME:ID" --officer "NAME:ID" [--officer ...] --approval DOC '
    + '--reason WHY --destination WHERE --out DIR [--json] [--config FILE | --data DIR]',
  options: {
    camera: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, agency: { type: 'string' }, officer: { type: 'string', multiple: true },
    approval: { type: 'string' }, reason: { type: 'string' }, destination: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' },
    ...dataDirOptions.options,
  },
  help: {
    camera: 'camera id', from: 'start (ISO 8601 or epoch ms)', to: 'end', agency: 'the requesting agency',
    officer: '"NAME:ID" of an officer receiving the copy; at least two, with different ID numbers', approval: 'the approving document or reference',
    reason: 'why the originals are requested', destination: 'where the copy goes (device, case file, platform)',
    out: 'the bundle directory to create (must not exist)', json: 'print the result as JSON', ...dataDirOptions.help,
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  const missing: string[] = (['camera', 'from', 'to', 'agency', 'approval', 'reason', 'destination', 'out'] as const).filter((k) => !v[k]?.trim()).map((k) => `--${k}`);
  if ((v.officer ?? []).length < 2) missing.push('--officer "NAME:ID" (twice at least)');
  if (missing.length) throw new UsageError(`required: ${missing.join(', ')}`);
  const officers = v.officer!.map((o, i) => {
    try { return parseOfficer(o); } catch (err) { throw new UsageError(`--officer #${i + 1}: ${(err as Error).message}`); }
  });
  const fromMs = parseTime('from', v.from)!, toMs = parseTime('to', v.to)!;
  if (fromMs >= toMs) throw new UsageError('--from must be before --to');
  const dataDir = await dataDirFrom(v);
  outInExistingDir('--out', v.out!, exportsDir(dataDir));
  const catalog = openCatalogForWriting(dataDir); // a clear error when there is no catalog; never a new one
  const cancel = cancelOnSignals();
  try {
    const r = await writeEvidenceBundle(catalog, dataDir, {
      camera: v.camera!, fromMs, toMs, actor: cliActor(), out: v.out!, boxId: catalog.getMeta(BOX_ID_META) ?? 'unconfigured', via: 'cli', signal: cancel.signal,
      request: { agency: v.agency!, officers, approval: v.approval!, reason: v.reason!, destination: v.destination! },
    });
    if (v.json) printJson(r);
    else print(`${r.out}: evidence bundle ${r.bundle_id}, ${r.segments} original segment(s), ${r.bytes} bytes; legal hold ${r.hold_id} placed; `
        + `${r.unavailable.length ? `${r.unavailable.length} part(s) of the range not on the box (see manifest.json)` : 'the whole range is included'}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof EvidenceRequestError) throw new UsageError(err.message);
    throw err;
  } finally {
    cancel.release();
    catalog.close();
  }
}
