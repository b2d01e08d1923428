/**
 * The evidence bundle: a directory of original recordings and the proofs that they are what the
 * box recorded, for an authority. The writer (write-bundle.ts) runs on the box; the reader
 * (verify-bundle.ts) runs anywhere with Node, importing only this file, common/ and the pure
 * proof functions of recorder/catalog/ (no SQLite, no daemon, no data dir).
 *
 *   manifest.json          signed by the box key: who asked, on whose approval, why, to where;
 *                          the range; every other file with its sha256; what is not included and why
 *   checkpoint.json        the signed checkpoint taken at export (one line, as MQTT publishes it)
 *   segments/<id>-<name>   the original segment files, byte for byte
 *   catalog/segments.json  the catalog rows of the range (every state: ok, deleted, missing)
 *   catalog/gaps.json      the gaps in the range
 *   catalog/holds.json     the holds covering the range (the one this export placed included)
 *   proof/segments.json    segment rows from the first in the range to the checkpoint's head
 *   proof/ledger.json      ledger entries from the first about the range to the checkpoint's head
 *   proof/audit.json       audit entries from this export's own entry to the checkpoint's head
 *   HOW-TO-VERIFY.txt      the command that checks all of the above
 */
import type { KeyObject } from 'node:crypto';
import { jsonSignatureHolds, signJson } from '../common/signed-json.js';
import { hasControl, idAsRead, visibleLength } from '../common/visible-text.js';

export const BUNDLE_SCHEMA = 'edge-nvr/evidence@1';
export const MANIFEST_FILE = 'manifest.json';
export const CHECKPOINT_FILE = 'checkpoint.json';
export const FILES = {
  segmentsRows: 'catalog/segments.json',
  gaps: 'catalog/gaps.json',
  holds: 'catalog/holds.json',
  segmentsProof: 'proof/segments.json',
  ledgerProof: 'proof/ledger.json',
  auditProof: 'proof/audit.json',
  howTo: 'HOW-TO-VERIFY.txt',
} as const;
export const SEGMENTS_DIR = 'segments';
/** a bundle being written: never taken for a finished one (renamed when complete and signed) */
export const PARTIAL_MARK = '.partial-';

export interface Officer { name: string; id: string }

/** Who asked for the originals, on whose approval, why and where they go: the regulations'
 * registration, kept in the manifest and in the box's audit log alike. */
export interface EvidenceRequest {
  agency: string;
  officers: Officer[];
  approval: string;
  reason: string;
  destination: string;
}

export interface BundleFile { path: string; sha256: string; bytes: number }

/** A part of the range the bundle does not hold, and why. */
export interface Unavailable {
  from_ms: number;
  to_ms: number;
  why: 'deleted' | 'missing' | 'altered_on_box' | 'gap' | 'not_recorded';
  /** the segment row, when there is one */
  segment?: number;
  /** the ledger entry that recorded it (deletion, segment_missing, gap_opened) */
  ledger_entry?: number;
  detail: string;
}

export interface BundleSegment { id: number; file: string; start_ms: number; end_ms: number; bytes: number; sha256: string }

export interface BundleManifest {
  schema: typeof BUNDLE_SCHEMA;
  bundle_id: string;
  box_id: string;
  created_ms: number;
  camera: string;
  from_ms: number;
  to_ms: number;
  request: EvidenceRequest;
  /** who ran it on the box: unix:<user>, mqtt:<client> */
  exported_by: string;
  hold_id: number;
  /** this export's entry in the box's audit log (in proof/audit.json) */
  audit_entry: number;
  segments: BundleSegment[];
  unavailable: Unavailable[];
  /** ledger entries about the range: gaps, holds, deletions, missing files (in proof/ledger.json) */
  ledger_entries: number[];
  /** every file of the bundle but manifest.json */
  files: BundleFile[];
  public_key: string;
  signature: string;
}

export function signBody<T extends { signature: string }>(body: Omit<T, 'signature'>, key: KeyObject): T {
  return signJson(body, key) as unknown as T;
}

export function bodySignatureHolds(signed: { signature: string; public_key: string }): boolean {
  return jsonSignatureHolds(signed, signed.public_key);
}

/** "NAME:ID" -> officer; the id is after the last colon (names may hold one). */
export function parseOfficer(text: string): Officer {
  const i = text.lastIndexOf(':');
  const name = i >= 0 ? text.slice(0, i).trim() : '';
  const id = i >= 0 ? text.slice(i + 1).trim() : '';
  const problem = i < 0 ? 'no colon' : officerProblem({ name, id });
  if (problem) throw new Error(`expected "NAME:ID" (a name, a colon, the officer's ID number), got ${JSON.stringify(text)}: ${problem}`);
  return { name, id };
}

/** What is wrong with an officer's name or ID (what shows of them), or null. */
function officerProblem(o: Officer): string | null {
  if (hasControl(o.name) || hasControl(o.id)) return 'one line of text, without control characters';
  if (visibleLength(o.name) < 2) return 'the name needs 2 characters or more (spaces and invisible characters not counted)';
  if (visibleLength(o.id) < 1) return 'no ID number after the colon';
  return null;
}

/** The request's problems, in words naming the field: empty when it is complete. */
export function requestProblems(r: Partial<EvidenceRequest>): string[] {
  const out: string[] = [];
  const text = (field: keyof EvidenceRequest, min: number, what: string) => {
    const v = r[field];
    if (typeof v !== 'string' || visibleLength(v) === 0) out.push(`${field}: required (${what})`);
    else if (hasControl(v)) out.push(`${field}: one line of text, without control characters (${what})`);
    else if (visibleLength(v) < min) out.push(`${field}: ${min} characters or more (${what}; spaces and invisible characters not counted), got ${JSON.stringify(v.trim())}`);
  };
  text('agency', 2, 'the requesting agency');
  text('approval', 2, 'the approving document or reference');
  text('reason', 3, 'why the originals are requested');
  text('destination', 2, 'where the copy goes');
  const officers = Array.isArray(r.officers) ? r.officers : [];
  officers.forEach((o, i) => {
    const problem = officerProblem(o);
    if (problem) out.push(`officers[${i}]: ${problem}, got ${JSON.stringify(o)}`);
  });
  // as a person reads them: "PB-1" and "PB\u20111" (a non-breaking hyphen) are one ID
  const ids = new Set(officers.map((o) => idAsRead(o.id)));
  if (officers.length < 2 || ids.size < 2) out.push('officers: at least two officers with different ID numbers are required ("NAME:ID" each)');
  return out;
}
