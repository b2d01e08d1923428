/**
 * Someone with root on the box after the fact edits the catalog, then exports: the bundle is
 * genuine, signed by the box's own key, and must still show what was done against the anchors
 * the platform holds. An outside probe (2026-12-04) got three such bundles VERIFIED: a segment
 * marked deleted by hand (no ledger entry) shown as "deleted by the box", the range's first
 * segment deleted from the catalog (the proof simply began after it), and the chain cut back
 * below an anchor (an anchor longer than the bundle's chain was skipped). Another probe (later
 * that day) got four more: the range's first segment deleted where another camera's row came
 * before it, recorded footage relabelled as a gap in a manifest re-signed with the box's key,
 * anchors under a replaced key set aside, and a back-dated checkpoint.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxKey, boxPublicKey } from '../../common/box-key.js';
import { signBody, type BundleManifest } from '../../evidence/bundle-format.js';
import { checkpointLine, parseCheckpoint, signCheckpoint } from '../../recorder/catalog/checkpoint.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { runCli } from '../support/cli.js';
import { evidenceBox as box, evidenceRequest as request } from '../support/evidence-box.js';

t.test('a catalog edited by root before an export: the bundle fails against the platform\'s anchors, naming what was done', async (t) => {
  const dir = t.testdir();
  const { data, t0, segments } = await box(dir, 'box-r');
  const pem = join(dir, 'box-r.pem');
  writeFileSync(pem, boxPublicKey(data)!);
  // what the platform received before anything was touched: a checkpoint over all 6 segments
  const anchor = await runCli(['checkpoint', '--data', data]);
  t.equal(anchor.code, 0, anchor.stderr);
  const anchors = join(dir, 'anchors.jsonl');
  writeFileSync(anchors, anchor.stdout);
  const [from, to] = [t0 - 30_000, t0 + 400_000];

  const exported = async (name: string, sql: string[], removed: number[], range: [number, number] = [from, to]) => {
    const copy = join(dir, `${name}-data`);
    cpSync(data, copy, { recursive: true });
    const db = new Database(join(copy, 'catalog.db'));
    for (const s of sql) db.exec(s);
    db.close();
    for (const id of removed) rmSync(join(copy, segments.find((s) => s.id === id)!.path), { force: true });
    const bundle = join(dir, `${name}-bundle`);
    const made = await runCli(request(copy, range[0], range[1], bundle));
    t.equal(made.code, 0, `${name}: the box exports it: ${made.stderr}`);
    return bundle;
  };
  const verify = (bundle: string, ...args: string[]) => runCli(['verify-evidence', bundle, ...args]);

  const honest = await exported('honest', [], []);
  const ok = await verify(honest, '--anchors', anchors);
  t.equal(ok.code, 0, ok.stdout.slice(-800));
  t.match(ok.stdout, /agree with them at \d+ point\(s\)/, 'the untouched box\'s bundle agrees with the anchors');
  const keyed = await verify(honest, '--key', pem);
  t.equal(keyed.code, 0);
  t.match(keyed.stdout, /NOT PROVEN BY THIS CHECK[\s\S]*not rewritten or cut back by someone holding the box's key/, 'with --key alone, it says what only anchors can prove');
  const unkeyed = await verify(honest);
  t.match(unkeyed.stdout, /Result: +CONSISTENT, BUT NOT TIED TO THE BOX/, 'without --key or --anchors, the first line does not say VERIFIED');

  // root re-signs the honest bundle with the box's own key, citing a ledger entry that does not
  // exist for the deletion (the manifest's word alone)
  const cited = join(dir, 'cited-bundle');
  cpSync(honest, cited, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(cited, 'manifest.json'), 'utf8')) as BundleManifest;
  const { signature: _s, ...body } = manifest;
  void _s;
  const unavailable = body.unavailable.map((u) => (u.why === 'deleted' ? { ...u, ledger_entry: 99_999 } : u));
  t.ok(unavailable.some((u) => u.ledger_entry === 99_999), 'the bundle lists a deleted segment');
  writeFileSync(join(cited, 'manifest.json'), JSON.stringify(signBody({ ...body, unavailable } as never, boxKey(data).privateKey), null, 2));
  const forged = await verify(cited, '--anchors', anchors);
  t.equal(forged.code, 1, 'a deletion citing a ledger entry the proof lacks: not verified');
  t.match(forged.stdout, /segment #\d+ cites ledger entry #99999, but the ledger proof has no such entry/);
  t.notMatch(forged.stdout, /manifest signature does not hold/, 'though the manifest is signed by the box');

  // a file that vanished from the box (no catalog edit): flagged at export, so the ledger records
  // it and the bundle cites that entry; it verifies, and says what is missing
  const vanished = await exported('a-file-gone', [], [3]);
  const gone = await verify(vanished, '--anchors', anchors);
  t.equal(gone.code, 0, `a file gone from the box is listed, not a failure: ${gone.stdout.slice(-600)}`);
  t.match(gone.stdout, /not on the box \(found at export\)[^\n]*\[ledger #\d+\]/, 'missing, with the ledger entry the export wrote');

  const cases: Array<[string, string[], number[], RegExp, [number, number]?]> = [
    ['a segment marked deleted by hand', ["UPDATE segments SET state = 'deleted', state_at_ms = 1, state_note = 'retention' WHERE id = 2"], [2],
      /segment #2 is listed as deleted by the box, but no ledger entry records its deletion/],
    ['the range\'s first segment deleted from the catalog', ['DELETE FROM segments WHERE id = 1'], [1],
      /the proof begins at #2, a row of the range, not at this camera's row before the range/],
    // cam1's #5 follows cam2's #4: the proof had begun at #4, whose stored link into #5's place was taken on trust
    ['the range\'s first segment deleted, another camera\'s row before it', ['DELETE FROM segments WHERE id = 5'], [5],
      /row #5 is missing from the proof/, [t0 + 200_000, to]],
    ['the chain cut back below an anchor, the checkpoints with it', ['DELETE FROM segments WHERE id >= 5', 'DELETE FROM checkpoints'], [5],
      /the segments chain in the bundle ends at #4, but the anchor of \S+ already had #6 \(entries removed/],
  ];
  for (const [what, sql, removed, says, range] of cases) {
    const bundle = await exported(what.replace(/\W+/g, '-'), sql, removed, range);
    const r = await verify(bundle, '--anchors', anchors);
    t.equal(r.code, 1, `${what}: not verified`);
    t.match(r.stdout, /NOT VERIFIED/, `${what}: the first line says so`);
    t.match(r.stdout, says, `${what}: named`);
  }
});

t.test('a bundle re-signed with the box\'s key: footage relabelled as absent, a back-dated checkpoint, a replaced key or a forked history is named', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await box(dir, 'box-s');
  const anchor = await runCli(['checkpoint', '--data', data]);
  t.equal(anchor.code, 0, anchor.stderr);
  const anchors = join(dir, 'anchors.jsonl');
  writeFileSync(anchors, anchor.stdout);
  const honest = join(dir, 'honest');
  const made = await runCli(request(data, t0 - 30_000, t0 + 400_000, honest));
  t.equal(made.code, 0, made.stderr);
  const key = boxKey(data).privateKey;
  const verify = (bundle: string, anchorsFile = anchors) => runCli(['verify-evidence', bundle, '--anchors', anchorsFile]);
  t.equal((await verify(honest)).code, 0, 'the honest bundle verifies');

  /** a copy of the honest bundle with its manifest (and files) edited, then signed again by the box's own key */
  let n = 0;
  const resigned = (edit: (m: BundleManifest, dir: string) => void) => {
    const copy = join(dir, `edited-${n++}`);
    cpSync(honest, copy, { recursive: true });
    const { signature: _s, ...body } = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8')) as BundleManifest;
    void _s;
    edit(body as BundleManifest, copy);
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify(signBody(body as never, key), null, 2));
    return copy;
  };
  /** segment #2's footage taken out of the bundle and listed as `why` */
  const withheld = (why: string, named = true) => resigned((m, d) => {
    const s = m.segments.find((x) => x.id === 2)!;
    m.segments = m.segments.filter((x) => x !== s);
    m.files = m.files.filter((f) => f.path !== s.file);
    rmSync(join(d, s.file));
    m.unavailable.push({ from_ms: s.start_ms, to_ms: s.end_ms, why: why as never, detail: 'the box was not recording', ...(named ? { segment: 2 } : {}) });
  });
  const relabelled: Array<[string, string, boolean, RegExp]> = [
    ['a gap', 'gap', true, /segment #2 is listed as a gap, but a gap names no segment/],
    ['a gap without its segment', 'gap', false, /segment #2 \(\S+\) of the range is neither included nor listed as unavailable/],
    ['missing', 'missing', true, /segment #2 is listed as missing from the box, but no ledger entry records it missing/],
    ['not recorded', 'not_recorded', true, /segment #2 is listed as not recorded, but names a recorded segment/],
    ['a reason of its own', 'withheld', true, /"withheld" is not a reason the box gives/],
  ];
  for (const [what, why, named, says] of relabelled) {
    const r = await verify(withheld(why, named));
    t.equal(r.code, 1, `recorded footage relabelled as ${what}: not verified`);
    t.match(r.stdout, says, `recorded footage relabelled as ${what}: named`);
  }
  // footage the bundle includes, also listed as "nothing recorded": the report contradicted itself and verified
  const contradicted = await verify(resigned((m) => {
    const s = m.segments.find((x) => x.id === 2)!;
    m.unavailable.push({ from_ms: s.start_ms + 1000, to_ms: s.end_ms - 1000, why: 'not_recorded', detail: 'nothing' });
  }));
  t.equal(contradicted.code, 1, 'included footage also listed as not recorded: not verified');
  t.match(contradicted.stdout, /is listed as not recorded, but the bundle includes segment #2 of that time/);
  const altered = await verify(withheld('altered_on_box'));
  t.match(altered.stdout, /That segment #2 \(\S+\) was altered on the box: it is left out on the box's word/, 'left out as altered on the box: said to be the box\'s word');

  // the checkpoint signed again 15 minutes earlier (before the anchor: a cut-back would hide behind it)
  const backdated = resigned((m, d) => {
    const c = parseCheckpoint(readFileSync(join(d, 'checkpoint.json'), 'utf8').trim());
    const { signature: _c, ...cb } = c;
    void _c;
    const line = checkpointLine(signCheckpoint({ ...cb, at_ms: c.at_ms - 15 * 60_000 }, key)) + '\n';
    writeFileSync(join(d, 'checkpoint.json'), line);
    const f = m.files.find((x) => x.path === 'checkpoint.json')!;
    Object.assign(f, { sha256: createHash('sha256').update(line).digest('hex'), bytes: Buffer.byteLength(line) });
  });
  const late = await verify(backdated);
  t.equal(late.code, 1, 'a back-dated checkpoint: not verified');
  t.match(late.stdout, /covers audit entry #\d+ of \S+, written after it: the checkpoint was back-dated/);
  t.match(late.stdout, /the manifest was signed at \S+, its checkpoint is dated \S+/);

  // the box's key replaced (root removed it; the box makes a new one): the platform's anchors carry the old one
  const rekeyed = join(dir, 'rekeyed');
  cpSync(data, rekeyed, { recursive: true });
  rmSync(join(rekeyed, 'keys', 'box-ed25519.pem'));
  const newAnchor = await runCli(['checkpoint', '--data', rekeyed]);
  t.equal(newAnchor.code, 0, newAnchor.stderr);
  const both = join(dir, 'both.jsonl');
  writeFileSync(both, anchor.stdout + newAnchor.stdout);
  const fromNewKey = join(dir, 'from-new-key');
  t.equal((await runCli(request(rekeyed, t0 - 30_000, t0 + 400_000, fromNewKey))).code, 0);
  const replaced = await verify(fromNewKey, both);
  t.equal(replaced.code, 1, 'anchors under the old key and the new: not verified');
  t.match(replaced.stdout, /is signed by key \S+, not the bundle's \S+: the box's key was replaced since/);

  // two checkpoints of one length, different heads, both signed by the box
  const a = parseCheckpoint(anchor.stdout.trim());
  const { signature: _a, ...ab } = a;
  void _a;
  const fork = signCheckpoint({ ...ab, at_ms: a.at_ms + 1000, chains: { ...a.chains, ledger: { ...a.chains.ledger, head: 'f'.repeat(64) } } }, key);
  const forked = join(dir, 'forked.jsonl');
  writeFileSync(forked, anchor.stdout + checkpointLine(fork) + '\n');
  const r = await verify(honest, forked);
  t.equal(r.code, 1, 'two anchors that disagree: not verified');
  t.match(r.stdout, /disagree on the ledger chain at #\d+: the box signed two different histories \(forked\)/);
});

t.test('anchors are compared chain by chain: entries past the newest anchor, and a chain no anchor reaches, are said not proven', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await box(dir, 'box-p');
  // the platform's newest anchor is from when the segments chain had 2 rows: the box's own
  // checkpoint of that moment (the same key, the same first rows)
  const earlier = join(dir, 'earlier');
  cpSync(data, earlier, { recursive: true });
  const db = new Database(join(earlier, 'catalog.db'));
  db.exec('DELETE FROM segments WHERE id >= 3; DELETE FROM checkpoints');
  db.close();
  const anchor = await runCli(['checkpoint', '--data', earlier]);
  t.equal(anchor.code, 0, anchor.stderr);
  t.equal(parseCheckpoint(anchor.stdout.trim()).chains.segments.length, 2, 'the anchor has the first 2 segment rows');
  const anchors = join(dir, 'anchors.jsonl');
  writeFileSync(anchors, anchor.stdout);

  const bundle = join(dir, 'bundle');
  const made = await runCli(request(data, t0 - 30_000, t0 + 400_000, bundle));
  t.equal(made.code, 0, made.stderr);
  const r = await runCli(['verify-evidence', bundle, '--anchors', anchors]);
  t.equal(r.code, 0, r.stdout.slice(-1500));
  t.match(r.stdout, /agree with them at \d+ point\(s\) \([^)]*segments 1/, 'the segments chain is compared where the anchor falls');
  const notProven = r.stdout.slice(r.stdout.indexOf('NOT PROVEN'));
  t.match(notProven, /That the segments chain's entries after #2 \(to #6\), after the newest anchor compared, were not rewritten/,
    'rows 3-6, past the anchor, are named as the box\'s word alone (one of them could be another camera\'s file)');
  t.match(notProven, /That the audit chain \(#\d+-#\d+ in the bundle\) is the one the platform saw: none of the 1 anchor\(s\) falls inside its proof/,
    'the audit proof, which begins at the export\'s own entry, is said compared with nothing');
});

t.test('an age deletion written by root for footage younger than its own rule: the bundle names it', async (t) => {
  const dir = t.testdir();
  const { data, t0, segments } = await box(dir, 'box-d');
  // root, with the box's own code: segment #2 (3 days old) "deleted by max_days 5"
  const catalog = Catalog.open(data);
  const victim = segments.find((s) => s.id === 2)!;
  catalog.markDeleted('cam1', [victim], {
    rule: 'max_days', note: 'retention: older than max_days 5', policy: { min_days: 1, max_days: 5 }, holds_checked: [], clock: null,
  });
  catalog.close();
  rmSync(join(data, victim.path), { force: true });
  const bundle = join(dir, 'bundle');
  const made = await runCli(request(data, t0 - 30_000, t0 + 400_000, bundle));
  t.equal(made.code, 0, made.stderr);
  const r = await runCli(['verify-evidence', bundle]);
  t.equal(r.code, 1, r.stdout.slice(-1200));
  t.match(r.stdout, /ledger entry #\d+ deletes segment #2 by max_days 5 days, but it ended \S+, [\d.]+ days before: not due by its own rule/);
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 1, 'verify on the box names it too');
});

t.test('root\'s forgeries the bundle carries the proof against: a row slipped into time already recorded, held footage deleted, the migration\'s rule used afterwards', async (t) => {
  const dir = t.testdir();
  const { data, t0, segments } = await box(dir, 'box-f');
  const first = segments.find((s) => s.id === 1)!;
  const cases: Array<[string, (c: Catalog, copy: string) => void, RegExp]> = [
    ['a row appended at the head with a time inside an earlier segment\'s', (c, copy) => {
      const path = first.path.replace(/\.mp4$/, '-x.mp4');
      cpSync(join(copy, first.path), join(copy, path));
      c.addSegment({ camera: 'cam1', start_ms: first.start_ms + 1000, end_ms: first.end_ms, bytes: first.bytes, path, sha256: first.sha256, origin: 'recorded' });
    }, /segment #7 of cam1 starts \S+, before segment #\d+ of the same camera, added to the chain earlier, ended \S+: a camera's segments are added as they close/],
    ['held footage deleted "for space"', (c, copy) => {
      c.addHold({ camera: 'cam1', from_ms: first.start_ms, to_ms: first.end_ms, reason: 'case 2026-77', created_by: 'unix:clerk' });
      c.markDeleted('cam1', [first], { rule: 'space_floor', note: 'retention: free space under the floor', policy: { min_days: 30, max_days: null }, disk: { available_bytes: 1, floor_bytes: 10, unaccounted_bytes: 0 }, holds_checked: [], clock: null });
      rmSync(join(copy, first.path));
    }, /ledger entry #\d+ deletes segment #1 \(space_floor\) while hold #1 covered it/],
    ['a deletion under the migration\'s rule, long after the ledger began', (c, copy) => {
      c.markDeleted('cam1', [first], { rule: 'before_ledger', note: 'deleted before the ledger', policy: { min_days: null, max_days: null }, holds_checked: [], clock: null });
      rmSync(join(copy, first.path));
    }, /deletes 1 segment\(s\) by rule before_ledger, which only the ledger's start writes/],
  ];
  for (const [what, forge, says] of cases) {
    const copy = join(dir, `${what.replace(/\W+/g, '-')}-data`);
    cpSync(data, copy, { recursive: true });
    const c = Catalog.open(copy);
    try { forge(c, copy); } finally { c.close(); }
    const bundle = join(dir, `${what.replace(/\W+/g, '-')}-bundle`);
    const made = await runCli(request(copy, t0 - 30_000, t0 + 400_000, bundle));
    t.equal(made.code, 0, `${what}: exported: ${made.stderr}`);
    const r = await runCli(['verify-evidence', bundle]);
    t.equal(r.code, 1, `${what}: not verified`);
    t.match(r.stdout, says, `${what}: named\n${r.stdout.slice(-1500)}`);
    t.equal((await runCli(['verify', '--data', copy])).code, 1, `${what}: verify on the box names it too`);
  }
  const honest = join(dir, 'honest-bundle');
  t.equal((await runCli(request(data, t0 - 30_000, t0 + 400_000, honest))).code, 0);
  t.equal((await runCli(['verify-evidence', honest])).code, 0, 'the untouched box\'s bundle still verifies');
});
