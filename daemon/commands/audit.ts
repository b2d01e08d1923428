import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { auditEntries, verifyAudit } from '../../recorder/catalog/audit-log.js';
import { CATALOG_FILE } from '../../recorder/catalog/catalog.js';
import { parseCheckpoint, signatureValid } from '../../recorder/catalog/checkpoint.js';
import { verifyManifest } from '../../redaction/manifest.js';
import { isoTime, printable } from '../../common/human.js';
import { FileUnreadable, MAX_KEY_FILE_BYTES, readRegularFile } from '../../common/read-file.js';
import { publicKeyProblem } from '../../common/box-key.js';
import { EXIT, parseCommand, parseNumber, print, printJson, UsageError } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly, parseTime } from './data-dir.js';

export const spec = {
  name: 'audit',
  summary: 'List the audit log (who, when, why, where to) and verify its hash chain, or verify an export manifest.',
  usage: 'audit [--since TIME] [--limit N] [--verify] [--manifest FILE [--key PUBLIC_KEY.pem]] [--json] [--config FILE | --data DIR]',
  options: {
    since: { type: 'string' }, limit: { type: 'string' }, verify: { type: 'boolean' }, manifest: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' },
    ...dataDirOptions.options,
  },
  help: {
    since: 'entries at or after this time', limit: 'at most N entries, newest first (default 100, at most 1000000000)',
    verify: 'walk the hash chain; exit 1 when an entry was altered, removed or inserted',
    manifest: "check a manifest's signature, whose key signed it, and its output file's sha256 instead (exit 1 when any fails)",
    key: "with --manifest: the box's public key (PEM) to compare the signing key with (else the data dir's key)",
    json: 'print JSON', ...dataDirOptions.help,
  },
} as const;

/** --limit at most: more entries than any box's log holds, far below SQLite's 2^63. */
const MAX_LIMIT = 1_000_000_000;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  if (v.key && !v.manifest) throw new UsageError('--key goes with --manifest (the key a manifest is checked against)');
  if (v.manifest) {
    // Whose key: the box's public key given (--key, as the platform holds it), else the key of
    // the data dir at hand. Without either the signature says only that the manifest is whole:
    // any key can sign one, and the first words say so (they said "OK" before).
    let keyPem: string | undefined;
    if (v.key) {
      try {
        keyPem = readRegularFile(v.key, MAX_KEY_FILE_BYTES, 'not a key file').toString('utf8');
      } catch (err) {
        throw new UsageError(`--key ${v.key}: ${err instanceof FileUnreadable ? err.message : String(err)}`);
      }
      const problem = publicKeyProblem(keyPem);
      if (problem) throw new UsageError(`--key ${v.key}: ${problem}`);
    }
    let dataDir: string | undefined;
    if (!keyPem) {
      try { dataDir = await dataDirFrom(v); } catch { dataDir = undefined; }
    }
    const r = await verifyManifest(v.manifest, { keyPem, dataDir: dataDir && existsSync(join(dataDir, CATALOG_FILE)) ? dataDir : undefined });
    if (v.json) printJson({ ok: r.ok, key_checked: r.keyChecked, key: r.fingerprint ?? null, problems: r.problems, export_id: r.manifest?.export_id, output: r.manifest?.output });
    else if (!r.ok) print(`manifest FAILED:\n${r.problems.map((p) => `  ${p}`).join('\n')}\n`);
    else if (r.keyChecked) print(`manifest OK: signature valid with the box's key ${r.fingerprint}, ${r.manifest!.output.file} matches sha256 ${r.manifest!.output.sha256}\n`);
    else print(`manifest CONSISTENT, BUT NOT TIED TO A BOX: signature valid with the key it carries (${r.fingerprint}), ${r.manifest!.output.file} matches sha256 ${r.manifest!.output.sha256}; any key can sign a manifest: give --key with the box's public key (from the platform), or the box's --config or --data\n`);
    return r.ok ? EXIT.ok : EXIT.failure;
  }
  // past 2^63 SQLite answered "datatype mismatch" (exit 1, an outside probe)
  const limit = parseNumber('limit', v.limit, { integer: true, min: 1, max: MAX_LIMIT }) ?? 100;
  const sinceMs = parseTime('since', v.since);
  const catalog = openCatalogReadOnly(await dataDirFrom(v));
  try {
    // The box's own stored checkpoints: a chain walked alone stays whole when its newest entries
    // are removed; each checkpoint fixed its length and head (as `verify` holds the chains to them)
    const stored = catalog.checkpoints().flatMap((r) => {
      try {
        const c = parseCheckpoint(r.payload);
        return signatureValid(c) ? [{ id: r.id, c }] : [];
      } catch {
        return [];
      }
    });
    const walked = verifyAudit(catalog, { at: stored.map((s) => s.c.chains.audit.length) });
    const cut = stored.flatMap(({ id, c }) => {
      const { length, head } = c.chains.audit;
      if (length === 0) return [];
      if (walked.length < length) return [{ detail: `audit log truncated: it ends at entry #${walked.length}, local checkpoint #${id} of ${isoTime(c.at_ms)} saw #${length}` }];
      return walked.at.get(length) === head ? [] : [{ detail: `audit log rewritten: entry #${length} is not the one local checkpoint #${id} of ${isoTime(c.at_ms)} signed` }];
    });
    const check = { ...walked, problems: [...walked.problems, ...cut], ok: walked.ok && cut.length === 0 };
    const rows = auditEntries(catalog, { sinceMs: sinceMs ?? 0, limit });
    if (v.json) {
      const { at: _at, ...chain } = check;
      void _at;
      printJson({ chain, entries: rows.map((r) => ({ ...r, at: isoTime(r.at_ms), details: readDetails(r.details) })) }, 2);
    } else {
      const lines = rows.map((r) => `#${r.id}  ${isoTime(r.at_ms)}  ${r.action.padEnd(14)} who=${printable(r.actor)}  why=${JSON.stringify(r.reason ?? '')}  to=${printable(r.destination ?? '')}${r.camera ? `  camera=${printable(r.camera)}` : r.from_ms !== null ? '  every camera' : ''}${r.from_ms !== null ? ` ${isoTime(r.from_ms)}..${isoTime(r.to_ms)}` : ''}`);
      // a log with entries, none since --since, is not empty (it said so of a time in the future)
      const none = check.entries > 0 && sinceMs !== undefined ? `no audit entry since ${isoTime(sinceMs)} (${check.entries} in all)` : 'the audit log is empty';
      print([rows.length ? 'audit log, newest first:' : none, ...lines,
        check.ok ? `chain OK: ${check.entries} entries, head ${check.head}` : `chain BROKEN:\n${check.problems.map((p) => `  ${p.detail}`).join('\n')}`].join('\n') + '\n');
    }
    return v.verify && !check.ok ? EXIT.failure : EXIT.ok;
  } finally {
    catalog.close();
  }
}

/** an entry's details as JSON; a row altered into text no JSON parser reads is shown as it is, named (one such row lost the whole listing) */
function readDetails(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { unreadable: text };
  }
}
