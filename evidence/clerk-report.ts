/** The verifier's report in words a court clerk can read: what was proven, about what footage,
 * what is not in the bundle and why, who exported it, on whose approval, why and to where. */
import { printable, showInvisible } from '../common/human.js';
import type { EvidenceReport } from './verify-bundle.js';

/** a time as ISO 8601; one no Date can hold as its number, never a throw */
const iso = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString().replace('.000Z', 'Z') : String(ms));
const span = (a: number, b: number) => `${iso(a)} to ${iso(b)}`;
const WHY: Record<string, string> = {
  deleted: 'deleted by the box', missing: 'file missing on the box', altered_on_box: 'file altered on the box (left out)',
  gap: 'not recorded (gap)', not_recorded: 'nothing recorded',
};

/** a run of spaces longer than any of the report's own paddings, inside a line: a value padded to
 * wrap in a terminal would start a line of its own that reads like the verifier's */
const LONG_SPACES = /(?<=\S) {16,}/g;

export function clerkReport(r: EvidenceReport): string {
  const L: string[] = [];
  const m = r.manifest;
  L.push('EVIDENCE BUNDLE VERIFICATION', '');
  L.push(`Bundle:       ${r.bundle}`);
  // "VERIFIED" alone read as the box's word to a reader who stops at the first line; without a
  // key to compare, a forger's own consistent bundle gets this far, and the line says so
  const verdict = !r.ok ? `NOT VERIFIED: ${r.mismatches.length} problem(s) found (listed below)`
    : r.key.matches ? 'VERIFIED: every check below holds (what it cannot prove: NOT PROVEN BY THIS CHECK)'
      : 'CONSISTENT, BUT NOT TIED TO THE BOX: whose key signed it was not checked (give --key or --anchors)';
  L.push(`Result:       ${verdict}`);
  if (m) {
    L.push('', 'FOOTAGE');
    L.push(`Box:          ${m.box_id}`);
    L.push(`Camera:       ${m.camera}`);
    L.push(`Requested:    ${span(m.from_ms, m.to_ms)}`);
    L.push(`Included:     ${r.segments.length} original segment file(s), ${r.segments.reduce((s, x) => s + x.bytes, 0)} bytes`);
    for (const s of r.segments) L.push(`              ${s.file}  ${span(s.start_ms, s.end_ms)}`);
    L.push('', 'NOT IN THE BUNDLE');
    if (!r.unavailable.length) L.push('              nothing: the whole range is included');
    for (const u of r.unavailable) L.push(`              ${span(u.from_ms, u.to_ms)}  ${WHY[u.why] ?? u.why}: ${u.detail}${u.ledger_entry ? ` [ledger #${u.ledger_entry}]` : ''}`);
    if (r.deletions.length) {
      L.push('', 'DELETIONS RECORDED IN THE LEDGER');
      for (const d of r.deletions) L.push(`              ledger #${d.ledger_entry} at ${iso(d.at_ms)}: rule ${d.rule}, ${d.segments.length} segment(s): ${d.note}`);
    }
    L.push('', 'REGISTRATION');
    L.push(`Exported:     ${iso(m.created_ms)} by ${m.exported_by}`);
    L.push(`Agency:       ${m.request.agency}`);
    for (const [i, o] of m.request.officers.entries()) L.push(`${i === 0 ? 'Officers:' : '         '}     ${o.name}, ID ${o.id}`);
    L.push(`Approval:     ${m.request.approval}`);
    L.push(`Reason:       ${m.request.reason}`);
    L.push(`Destination:  ${m.request.destination}`);
    L.push(`Legal hold:   #${m.hold_id} placed on the range at export`);
    L.push(`Audit entry:  #${m.audit_entry}`);
  }
  L.push('', 'PROVEN');
  for (const p of r.proven) L.push(`  - ${p}`);
  if (!r.proven.length) L.push('  nothing');
  if (r.cannot_prove.length) {
    L.push('', 'NOT PROVEN BY THIS CHECK');
    for (const p of r.cannot_prove) L.push(`  - ${p}`);
  }
  if (r.mismatches.length) {
    L.push('', 'PROBLEMS');
    for (const p of r.mismatches) L.push(`  - ${p}`);
  }
  if (r.notes.length) {
    L.push('', 'NOTES');
    for (const p of r.notes) L.push(`  - ${p}`);
  }
  // each line one line: a newline in a file name, a reason or an agency cannot add a line that
  // reads like the verifier's own ("PROVEN ..."); control characters are shown as \xNN
  return L.map((l) => showInvisible(printable(l)).replace(LONG_SPACES, (s) => ` [${s.length} spaces] `)).join('\n') + '\n';
}
