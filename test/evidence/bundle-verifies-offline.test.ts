/**
 * Real recordings (playable fMP4 committed through the segment store, as a backend's are), with
 * a gap, a retention deletion and another camera interleaved in the chain; then the evidence
 * export through the built CLI, and the offline verifier on the bundle: from the package, and
 * from a copy of only the files it needs with no node_modules and no data dir. Each kind of
 * tampering is then named and fails it.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boxPublicKey } from '../../common/box-key.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { CHECKPOINT_SCHEMA, signCheckpoint } from '../../recorder/catalog/checkpoint.js';
import { verifyEvidenceMain } from '../../evidence/verify-cli.js';
import { evidenceBox as box, evidenceRequest as request } from '../support/evidence-box.js';
import { runCli } from '../support/cli.js';
import { NEEDS_ROOT } from '../support/tmpfs.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
t.test('an evidence bundle of originals verifies offline; each tampering is named', async (t) => {
  const dir = t.testdir();
  const { data, t0, segments, doomed } = await box(dir, 'box-a');
  const pem = join(dir, 'box-a.pem');
  writeFileSync(pem, boxPublicKey(data)!);
  const from = t0 - 30_000, to = t0 + 400_000;

  // every field is required and checked: nothing is written, no hold placed
  for (const [args, says] of [
    [request(data, from, to, join(dir, 'x')).filter((a, i, all) => a !== '--agency' && all[i - 1] !== '--agency'), /--agency/],
    [request(data, from, to, join(dir, 'x')).filter((a) => !a.includes('Jonas')).filter((a, i, all) => !(a === '--officer' && all[i + 1] === '--approval')), /--officer "NAME:ID" \(twice at least\)/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Jonas Ek:PB-2210' ? 'Jonas Ek:PB-1041' : a)), /two officers with different ID numbers/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Jonas Ek:PB-2210' ? 'Jonas Ek' : a)), /--officer #2: expected "NAME:ID".*: no colon/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Jonas Ek:PB-2210' ? 'J:PB-2210' : a)), /--officer #2: .*the name needs 2 characters or more/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'cam1' ? 'cam9' : a)), /unknown camera "cam9"/],
    // given but too short: said so, not "required"
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Prosecutor order 2026/118' ? ' x ' : a)), /approval: 2 characters or more \(the approving document or reference; spaces and invisible characters not counted\), got "x"/],
    // what a person reads: invisible characters are no text, a non-breaking hyphen no other ID (outside probes)
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'City Police, District 4' ? '\u200b\u200b\u200b' : a)), /agency: required \(the requesting agency\)/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Jonas Ek:PB-2210' ? 'Jonas Ek:PB\u20111041' : a)), /two officers with different ID numbers/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Jonas Ek:PB-2210' ? '\u200b\u200b:PB-2210' : a)), /--officer #2: .*the name needs 2 characters or more \(spaces and invisible characters not counted\)/],
    [request(data, from, to, join(dir, 'x')).map((a) => (a === 'Jonas Ek:PB-2210' ? ':PB-2210' : a)), /--officer #2: .*: the name needs 2 characters or more/],
    // a range reaching into the future: its hold would have held footage nobody exported (an outside probe)
    [request(data, from, Date.now() + 4 * 86_400_000, join(dir, 'x')), /the range ends in the future \(.*\): nothing is recorded there yet/],
  ] as const) {
    const r = await runCli([...args]);
    t.equal(r.code, 2, `refused: ${r.stderr.trim()}`);
    t.match(r.stderr, says);
  }
  t.notOk(existsSync(join(dir, 'x')), 'a refused request writes nothing');
  const noHolds = await runCli(['hold', 'list', '--data', data, '--json']);
  t.same(JSON.parse(noHolds.stdout).holds, [], 'and places no hold');

  const bundle = join(dir, 'bundle');
  const made = await runCli(request(data, from, to, bundle));
  t.equal(made.code, 0, made.stderr);
  const result = JSON.parse(made.stdout) as { segments: number; hold_id: number; unavailable: Array<{ why: string; segment?: number }> };
  t.equal(result.segments, 4, 'the four segments on the box are exported');
  t.same(result.unavailable.map((u) => u.why).sort(), ['deleted', 'gap', 'not_recorded', 'not_recorded'], 'the gap, the deleted segment and the unrecorded ends are listed, not refused');
  t.equal(result.unavailable.find((u) => u.why === 'deleted')?.segment, doomed.id);
  t.same(readdirSync(dir).filter((n) => n.includes('.partial')), [], 'no partial bundle is left beside it');
  for (const s of segments.filter((x) => x.id !== doomed.id)) {
    const copy = readdirSync(join(bundle, 'segments')).find((n) => n.startsWith(String(s.id).padStart(8, '0')));
    t.ok(copy && readFileSync(join(bundle, 'segments', copy)).equals(readFileSync(join(data, s.path))), `segment ${s.id} is the original file, byte for byte`);
  }
  const holds = JSON.parse((await runCli(['hold', 'list', '--data', data, '--json'])).stdout).holds as Array<{ id: number; camera: string; from_ms: number; to_ms: number }>;
  t.same(holds.map((h) => [h.id, h.camera, h.from_ms, h.to_ms]), [[result.hold_id, 'cam1', from, to]], 'a legal hold covers the range');
  const audit = JSON.parse((await runCli(['audit', '--data', data, '--json'])).stdout) as { entries: Array<{ action: string; reason: string | null; destination: string | null; details: string | Record<string, unknown> }> };
  const reg = audit.entries.find((e) => e.action === 'evidence');
  t.ok(reg, 'the export is in the audit log');
  t.match(JSON.stringify(reg), /City Police, District 4.*Anna Berg.*PB-1041.*Jonas Ek.*PB-2210.*Prosecutor order 2026\/118/s, 'with agency, officers and approval');
  t.equal(reg?.destination, 'police evidence server, case file 5521');
  t.ok(audit.entries.some((e) => e.action === 'hold.add'), 'and the hold is audited');

  // the clerk's report, with the expected key
  const ok = await runCli(['verify-evidence', bundle, '--key', pem]);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /VERIFIED/);
  t.match(ok.stdout, /Camera:\s+cam1/);
  t.match(ok.stdout, /Agency:\s+City Police, District 4/);
  t.match(ok.stdout, /Anna Berg, ID PB-1041/);
  t.match(ok.stdout, /not recorded \(gap\): gap \d+: camera_offline/);
  t.match(ok.stdout, /deleted by the box.*\[ledger #\d+\]/);
  t.match(ok.stdout, /rule space_floor/);
  t.match(ok.stdout, /The signing key is the expected box key/);
  const unkeyed = await runCli(['verify-evidence', bundle]);
  t.equal(unkeyed.code, 0, 'consistent and signed, without a key to compare');
  t.match(unkeyed.stdout, /NOT PROVEN BY THIS CHECK[\s\S]*without --key or --anchors this check cannot tell whether that is the box's key/);
  const json = JSON.parse((await runCli(['verify-evidence', bundle, '--key', pem, '--json'])).stdout) as { ok: boolean; segments: unknown[]; deletions: Array<{ segments: number[] }> };
  t.equal(json.ok, true);
  t.same(json.deletions.map((d) => d.segments), [[doomed.id]], '--json names the deletion');
  const again = await runCli(request(data, from, to, bundle));
  t.equal(again.code, 2, 'an existing --out is refused');
  t.match(again.stderr, /exists; refusing to overwrite it/);
  t.equal((await runCli(['verify-evidence'])).code, 2, 'verify-evidence without a directory is bad usage');

  // on a laptop: only the verifier's files, outside the project (no node_modules up the tree), the box's data dir gone
  const laptop = mkdtempSync(join(tmpdir(), 'edge-nvr-laptop-'));
  t.teardown(() => rmSync(laptop, { recursive: true, force: true }));
  for (const d of ['evidence', 'common', 'recorder/catalog']) cpSync(join(DIST, d), join(laptop, 'dist', d), { recursive: true });
  writeFileSync(join(laptop, 'package.json'), JSON.stringify({ type: 'module' }));
  renameSync(data, join(dir, 'data-away'));
  const run = spawnSync(process.execPath, [join(laptop, 'dist/evidence/verify-cli.js'), bundle, '--key', pem], { cwd: laptop, encoding: 'utf8', timeout: 60000 });
  const lap = { code: run.status, out: run.stdout + run.stderr };
  t.equal(lap.code, 0, `the copied verifier alone verifies it: ${lap.out.slice(-400)}`);
  t.match(lap.out, /VERIFIED/);
  renameSync(join(dir, 'data-away'), data);

  // tampering, each on a fresh copy
  const copy = join(dir, 'tampered');
  const fresh = () => { rmSync(copy, { recursive: true, force: true }); cpSync(bundle, copy, { recursive: true }); return copy; };
  const manifestOf = (d: string) => JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Record<string, unknown> & { segments: Array<{ file: string; id: number }>; files: Array<{ path: string }> };
  // the CLI's own entry point, in process: a dozen node start-ups fewer on a loaded box
  const verifyIn = async (args: string[]) => {
    let stdout = '';
    const code = await verifyEvidenceMain(args, (s) => { stdout += s; }, (s) => { stdout += s; });
    return { code, stdout };
  };
  const fails = async (what: string, says: RegExp, args: string[] = ['--key', pem]) => {
    const r = await verifyIn([copy, ...args]);
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stdout, says, `${what}: named`);
    t.match(r.stdout, /NOT VERIFIED/);
  };
  const seg = manifestOf(bundle).segments[1]!;

  fresh();
  writeFileSync(join(copy, 'notes.txt'), 'added on the way');
  const added = await verifyIn([copy, '--key', pem]);
  t.equal(added.code, 0, 'a file added beside the bundle does not change what is proven');
  t.match(added.stdout, /NOTES[\s\S]*notes.txt is not part of the signed bundle/, 'but it is noted');
  // among the recordings, a file the box did not export reads as footage: a problem (an outside
  // probe planted a segment in a recorded gap and the bundle still read VERIFIED)
  writeFileSync(join(copy, 'segments', '00000004-1796244300788.mp4'), readFileSync(join(copy, seg.file)));
  const planted = await verifyIn([copy, '--key', pem]);
  t.equal(planted.code, 1, 'a file planted among the recordings: not verified');
  t.match(planted.stdout, /segments\/00000004-1796244300788\.mp4 is among the recordings but not part of the signed bundle: the box did not export it/, 'named');
  t.match(planted.stdout, /NOT VERIFIED/);

  fresh();
  const bytes = readFileSync(join(copy, seg.file));
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(join(copy, seg.file), bytes);
  await fails('a byte in a segment', new RegExp(`${seg.file} does not match its sha256 in the manifest[\\s\\S]*segment #${seg.id}: .* is not the recorded file`));

  fresh();
  rmSync(join(copy, seg.file));
  await fails('a removed segment file', new RegExp(`${seg.file} is missing`));

  fresh();
  const m1 = manifestOf(copy);
  m1.segments = m1.segments.filter((s) => s.id !== seg.id);
  m1.files = m1.files.filter((f) => f.path !== seg.file);
  rmSync(join(copy, seg.file));
  writeFileSync(join(copy, 'manifest.json'), JSON.stringify(m1, null, 2));
  await fails('a segment removed with its manifest lines', new RegExp(`manifest signature does not hold[\\s\\S]*segment #${seg.id} .* neither included nor listed as unavailable`));

  fresh();
  const rows = JSON.parse(readFileSync(join(copy, 'catalog/segments.json'), 'utf8')) as Array<{ id: number; start_ms: number }>;
  rows[0]!.start_ms += 5000;
  writeFileSync(join(copy, 'catalog/segments.json'), JSON.stringify(rows, null, 2) + '\n');
  await fails('an edited catalog row', new RegExp(`catalog/segments.json does not match its sha256[\\s\\S]*row #${rows[0]!.id} differs from the chained row`));

  fresh();
  const proof = JSON.parse(readFileSync(join(copy, 'proof/segments.json'), 'utf8')) as { rows: Array<{ id: number; end_ms: number }> };
  proof.rows[0]!.end_ms += 5000;
  writeFileSync(join(copy, 'proof/segments.json'), JSON.stringify(proof, null, 2) + '\n');
  await fails('an edited chained row', /segments chain: the rows lead to .*, not the checkpoint's head/);

  fresh();
  const m2 = manifestOf(copy);
  (m2.request as { agency: string }).agency = 'Someone Else';
  writeFileSync(join(copy, 'manifest.json'), JSON.stringify(m2, null, 2));
  await fails('a forged manifest (edited)', /the manifest signature does not hold/);

  // a forger re-signs everything with a key of their own: consistent, but not the box's key
  fresh();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const forgedPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const cp = JSON.parse(readFileSync(join(copy, 'checkpoint.json'), 'utf8')) as Parameters<typeof signCheckpoint>[0] & { signature?: string };
  const { signature: _old, ...cpBody } = cp;
  void _old;
  const forgedCp = signCheckpoint({ ...cpBody, schema: CHECKPOINT_SCHEMA, public_key: forgedPem }, privateKey);
  const cpText = canonicalJson(forgedCp) + '\n';
  writeFileSync(join(copy, 'checkpoint.json'), cpText);
  const { signBody } = await import('../../evidence/bundle-format.js');
  const { createHash } = await import('node:crypto');
  const m3 = manifestOf(copy) as unknown as Record<string, unknown> & { files: Array<{ path: string; sha256: string; bytes: number }> };
  m3.files = m3.files.map((f) => (f.path === 'checkpoint.json' ? { ...f, sha256: createHash('sha256').update(cpText).digest('hex'), bytes: Buffer.byteLength(cpText) } : f));
  const { signature: _s, ...m3Body } = m3;
  void _s;
  writeFileSync(join(copy, 'manifest.json'), JSON.stringify(signBody({ ...m3Body, public_key: forgedPem } as never, privateKey), null, 2));
  await fails("another key (a forgery re-signed whole)", /signed by key [0-9a-f]{16}, not the expected box key/);
  const anchorsFile = join(dir, 'anchors.jsonl');
  writeFileSync(anchorsFile, readFileSync(join(bundle, 'checkpoint.json')));
  await fails('another key, against the platform anchors', /none of the 1 anchors/, ['--anchors', anchorsFile]);
  const againstAnchors = await verifyIn([bundle, '--anchors', anchorsFile]);
  t.equal(againstAnchors.code, 0, `the real bundle agrees with the anchors: ${againstAnchors.stdout.slice(-300)}`);

  // another box's bundle, checked against this box's key
  mkdirSync(join(dir, 'other'), { recursive: true });
  const other = await box(join(dir, 'other'), 'box-b');
  const otherBundle = join(dir, 'other-bundle');
  t.equal((await runCli(request(other.data, other.t0 - 30_000, other.t0 + 400_000, otherBundle))).code, 0);
  rmSync(copy, { recursive: true, force: true });
  cpSync(otherBundle, copy, { recursive: true });
  await fails("another box's bundle", /not the expected box key/);
});

t.test('an export that fails leaves no bundle and no partial directory, and is audited', { skip: NEEDS_ROOT }, async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await box(dir, 'box-a');
  // the bundle's disk fills midway through the copies (a 24 KiB tmpfs, segments of about 8 KB)
  const small = mkdtempSync(join(tmpdir(), 'edge-nvr-evidence-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24k', 'tmpfs', small]);
  t.teardown(() => {
    try { execFileSync('umount', ['-l', small]); } catch { /* already gone */ }
    rmSync(small, { recursive: true, force: true });
  });
  const out = join(small, 'bundle');
  const r = await runCli(request(data, t0, t0 + 200_000, out));
  t.equal(r.code, 1, `failed: ${r.stderr.trim()}`);
  t.match(r.stderr, /ENOSPC|no space/i, 'because the disk is full');
  t.match(r.stderr, /cannot write the bundle at \S+bundle \(ENOSPC/, 'and where');
  t.notOk(existsSync(out), 'no bundle under the name');
  t.same(readdirSync(small).filter((n) => n.includes('partial')), [], 'and no partial directory');
  const audit = JSON.parse((await runCli(['audit', '--data', data, '--json'])).stdout) as { entries: Array<{ action: string }> };
  t.ok(audit.entries.some((e) => e.action === 'evidence.failed'), 'the failure is in the audit log');
  const holds = JSON.parse((await runCli(['hold', 'list', '--data', data, '--json'])).stdout) as { holds: unknown[] };
  t.equal(holds.holds.length, 1, 'the hold placed before the failure stays');
});

t.test('a segment file altered on the box is left out and listed, never passed off as original', async (t) => {
  const dir = t.testdir();
  const { data, t0, segments } = await box(dir, 'box-a');
  const victim = segments[0]!;
  const bytes = readFileSync(join(data, victim.path));
  bytes[bytes.length - 10] ^= 0xff;
  writeFileSync(join(data, victim.path), bytes);
  const out = join(dir, 'bundle');
  const r = await runCli(request(data, t0, t0 + 180_000, out));
  t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { segments: number; unavailable: Array<{ why: string; segment?: number; detail: string }> };
  t.equal(result.segments, 2, 'the two intact segments are exported');
  t.same(result.unavailable.map((u) => [u.why, u.segment]), [['altered_on_box', victim.id]], 'the altered one is listed');
  t.notOk(readdirSync(join(out, 'segments')).some((n) => n.startsWith(String(victim.id).padStart(8, '0'))), 'and not in the bundle');
  const v = await runCli(['verify-evidence', out]);
  t.equal(v.code, 0, v.stdout);
  t.match(v.stdout, /file altered on the box \(left out\)/);
});
