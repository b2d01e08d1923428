import { parseCheckpoint, type Checkpoint } from '../../recorder/catalog/checkpoint.js';
import { verifyRecordings, type VerifyFinding } from '../../recorder/verify.js';
import { isoTime } from '../../common/human.js';
import { MAX_RECORD_FILE_BYTES, readRegularFile } from '../../common/read-file.js';
import { EXIT, parseCommand, UsageError, print, printError, printJson } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

export const spec = {
  name: 'verify',
  summary: 'Check every recording, every chained log (segments, ledger, audit) and every deletion against its rule; with --anchors, that the catalog extends checkpoints kept off the box. Exit 1 when anything is wrong.',
  usage: 'verify [--anchors FILE] [--camera ID] [--json] [--config FILE | --data DIR]',
  options: { anchors: { type: 'string' }, camera: { type: 'string' }, json: { type: 'boolean' }, ...dataDirOptions.options },
  help: {
    anchors: 'checkpoints as a platform received them, one JSON line each (MQTT <prefix>/checkpoint, `edge-nvr checkpoint`): fail when the catalog does not extend each one',
    camera: 'check only this camera\'s files (the chains are always checked whole)', json: 'print JSON', ...dataDirOptions.help,
  },
} as const;

/** Anchor lines: a line that is no checkpoint is a finding (exit 1), not a crash; an unreadable file is bad usage. */
function readAnchors(file: string): { anchors: Array<{ label: string; checkpoint: Checkpoint }>; findings: VerifyFinding[] } {
  let text: string;
  try {
    text = readRegularFile(file, MAX_RECORD_FILE_BYTES, 'not a file of checkpoints').toString('utf8');
  } catch (err) {
    throw new UsageError(`--anchors: cannot read ${file}: ${(err as Error).message}`);
  }
  const anchors: Array<{ label: string; checkpoint: Checkpoint }> = [];
  const findings: VerifyFinding[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      anchors.push({ label: `anchor line ${i + 1}`, checkpoint: parseCheckpoint(line.trim()) });
    } catch (err) {
      findings.push({ kind: 'anchor', detail: `anchor line ${i + 1} is not a checkpoint: ${(err as Error).message}` });
    }
  }
  if (!anchors.length && !findings.length) throw new UsageError(`--anchors: ${file} holds no checkpoint`);
  return { anchors, findings };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  const given = v.anchors ? readAnchors(v.anchors) : undefined;
  const dataDir = await dataDirFrom(v);
  const catalog = openCatalogReadOnly(dataDir);
  try {
    // a mistyped camera checked no file and printed OK; answered as `recordings` answers it
    if (v.camera && !catalog.knowsCamera(v.camera)) {
      const known = catalog.cameras();
      printError(`edge-nvr verify: no camera "${v.camera}" on this box (${known.length ? `cameras with recordings: ${known.join(', ')}` : 'no recordings yet'}); nothing was verified\n`);
      return EXIT.failure;
    }
    const report = await verifyRecordings(dataDir, catalog, { camera: v.camera, anchors: given?.anchors });
    if (given?.findings.length) {
      report.findings.unshift(...given.findings);
      report.ok = false;
    }
    if (v.json) {
      printJson(report, 2);
    } else {
      const out = report.findings.map((f) => `${f.kind.toUpperCase().padEnd(8)} ${f.path ? `${f.path} ` : ''}${f.segment ? `(segment #${f.segment})` : ''}${f.path || f.segment ? ': ' : ''}${f.detail}`);
      for (const d of report.deleted) out.push(`deleted  ${d.path} (segment #${d.segment}) at ${isoTime(d.atMs)}: ${d.note ?? ''}`);
      for (const q of report.quarantined) out.push(`quarantined ${q.file} (from ${q.from}): ${q.reason}`);
      const p = report.proof;
      const c = report.chains;
      out.push(`chains: ${c.segments.length} segments (head ${c.segments.head}), ${c.ledger.length} ledger entries (head ${c.ledger.head}), ${c.audit.length} audit entries (head ${c.audit.head})`);
      out.push(`checked: ${p.deletions_rechecked} deletions against their rule, ${p.local_checkpoints_checked} checkpoints stored on the box, ${p.anchors_checked} anchors given`);
      for (const line of p.cannot_prove) out.push(`not proven: ${line}`);
      out.push(`${report.ok ? 'OK' : 'FAILED'}: ${report.chainLength} segments in the chain, ${report.filesChecked} files verified, ` +
        `${report.deleted.length} deleted by retention, ${report.findings.length} problems; chain head ${report.chainHead}`);
      print(out.join('\n') + '\n');
    }
    return report.ok ? EXIT.ok : EXIT.failure;
  } finally {
    catalog.close();
  }
}
