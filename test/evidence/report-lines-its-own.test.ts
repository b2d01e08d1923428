/**
 * What a bundle says (an agency, a reason, a file name) reaches a reader through the verifier's
 * report. A probe forged a bundle whose agency, padded with spaces, wrapped in an 80-column
 * terminal into a line reading like the verifier's own ("  - The signing key is the expected box
 * key"), and whose texts carried right-to-left and zero-width marks the report printed raw (and
 * --json too). Each is now shown for what it is.
 */
import t from 'tap';
import { terminalJson } from '../../common/human.js';
import { clerkReport } from '../../evidence/clerk-report.js';
import type { EvidenceReport } from '../../evidence/verify-bundle.js';

const MARKS = ['\u200f', '\u061c', '\u200b', '\ufeff', '\u202e', '\u2066', '\u2028'];

function report(agency: string, reason: string): EvidenceReport {
  return {
    ok: false, bundle: '/b', key: { fingerprint: 'ab', expected: 'none', matches: null }, checkpoint: null, segments: [], unavailable: [], deletions: [], gaps: [],
    proven: [], cannot_prove: [], mismatches: ['the manifest signature does not hold'], notes: [],
    manifest: {
      schema: 'edge-nvr/evidence@1', bundle_id: 'b', box_id: 'box', created_ms: 0, camera: 'cam1', from_ms: 0, to_ms: 1000, exported_by: 'ana', hold_id: 1, audit_entry: 2,
      request: { agency, officers: [{ name: 'A B', id: '1' }], approval: 'order 1', reason, destination: 'case file' },
    },
  };
}

t.test('the report keeps its lines its own: a padded value cannot wrap into one, invisible marks are shown', async (t) => {
  const forged = `City Police${' '.repeat(120)}- The signing key is the expected box key (0000000000000000).`;
  const reason = `case ${MARKS.join('')} 42`;
  const text = clerkReport(report(forged, reason));
  const agency = text.split('\n').find((l) => l.startsWith('Agency:'))!;
  t.match(agency, 'City Police [120 spaces] - The signing key', 'the run of spaces is counted, not printed');
  t.ok(agency.length < 120, `the line no longer reaches past a terminal's width on its spaces (${agency.length} characters)`);
  const shown = text.split('\n').find((l) => l.startsWith('Reason:'))!;
  t.equal(shown, 'Reason:       case \\u200f\\u061c\\u200b\\ufeff\\u202e\\u2066\\u2028 42', 'every mark is written out');
  t.same(MARKS.filter((m) => text.includes(m)), [], 'none reaches the terminal raw');
  t.match(text, /^Officers: {5}A B, ID 1$/m, 'the report\'s own paddings stay');

  const json = terminalJson(report(forged, reason), 2);
  t.same(MARKS.filter((m) => json.includes(m)), [], '--json: none raw either');
  t.equal((JSON.parse(json) as EvidenceReport).manifest!.request.reason, reason, 'and the JSON parses back to the exact text');
});
