#!/usr/bin/env node
/**
 * The offline verifier on its own: `node dist/evidence/verify-cli.js DIR [--key PEM | --anchors FILE] [--json]`.
 * It imports no npm package and nothing of the daemon, so a copy of the package's dist/ (and
 * package.json) on a laptop with Node 20 runs it; `edge-nvr verify-evidence` is the same code.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { terminalJson, terminalText } from '../common/human.js';
import { MAX_KEY_FILE_BYTES, MAX_RECORD_FILE_BYTES, readRegularFile } from '../common/read-file.js';
import { publicKeyProblem } from '../common/box-key.js';
import { clerkReport } from './clerk-report.js';
import { verifyEvidenceBundle } from './verify-bundle.js';

export const VERIFY_USAGE = 'verify-evidence DIR [--key PUBLIC_KEY.pem | --anchors CHECKPOINTS.jsonl] [--json]';

/** 0: verified; 1: a mismatch (or an unreadable bundle); 2: bad usage (a --key or --anchors file unreadable, a --key no public key). */
export async function verifyEvidenceMain(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { key: { type: 'string' }, anchors: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    err(`${(e as Error).message}\nusage: ${VERIFY_USAGE}\n`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) { out(`usage: ${VERIFY_USAGE}\n`); return 0; }
  if (parsed.positionals.length !== 1) { err(`give the bundle directory\nusage: ${VERIFY_USAGE}\n`); return 2; }
  if (v.key && v.anchors) { err('give --key or --anchors, not both\n'); return 2; }
  const read = (opt: string, path: string, maxBytes: number, what: string) => {
    try { return readRegularFile(path, maxBytes, what).toString('utf8'); } catch (e) { throw new Error(`--${opt} ${path}: ${(e as Error).message}`); }
  };
  let keyPem: string | undefined, anchorsText: string | undefined;
  try {
    keyPem = v.key ? read('key', v.key, MAX_KEY_FILE_BYTES, 'not a key file') : undefined;
    anchorsText = v.anchors ? read('anchors', v.anchors, MAX_RECORD_FILE_BYTES, 'not a file of checkpoints') : undefined;
  } catch (e) { err(`${(e as Error).message}\n`); return 2; }
  if (keyPem !== undefined) {
    const problem = publicKeyProblem(keyPem);
    if (problem) { err(`--key ${v.key}: ${problem}\n`); return 2; }
  }
  let report, text;
  try {
    report = await verifyEvidenceBundle(resolve(parsed.positionals[0]!), { keyPem, anchorsText });
    text = v.json ? terminalJson(report, 2) + '\n' : clerkReport(report);
  } catch (e) {
    // the verifier names what it finds; anything it did not foresee is still one line, not a trace
    err(`cannot verify ${parsed.positionals[0]}: ${(e as Error).message}\n`);
    return 1;
  }
  out(text);
  return report.ok ? 0 : 1;
}

const runDirectly = (() => {
  try { return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url); } catch { return false; }
})();
if (runDirectly) {
  process.exitCode = await verifyEvidenceMain(process.argv.slice(2), (s) => process.stdout.write(terminalText(s)), (s) => process.stderr.write(terminalText(s)));
}
