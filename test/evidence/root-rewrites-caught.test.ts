/**
 * Someone with root on the box after the fact edits the catalog, then exports: the bundle is
 * genuine, signed by the box's own key, and must still show what was done against the anchors
 * the platform holds. An outside probe (2026-12-04) got three such bundles VERIFIED: a segment
 * marked deleted by hand (no ledger entry) shown as "deleted by the box", the range's first
 * segment deleted from the catalog (the proof simply began after it), and the chain cut back
 * below an anchor (an anchor longer than the bundle's chain was skipped).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxKey, boxPublicKey } from '../../common/box-key.js';
import { signBody, type BundleManifest } from '../../evidence/bundle-format.js';
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

  const exported = async (name: string, sql: string[], removed: number[]) => {
    const copy = join(dir, `${name}-data`);
    cpSync(data, copy, { recursive: true });
    const db = new Database(join(copy, 'catalog.db'));
    for (const s of sql) db.exec(s);
    db.close();
    for (const id of removed) rmSync(join(copy, segments.find((s) => s.id === id)!.path), { force: true });
    const bundle = join(dir, `${name}-bundle`);
    const made = await runCli(request(copy, from, to, bundle));
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

  const cases: Array<[string, string[], number[], RegExp]> = [
    ['a segment marked deleted by hand', ["UPDATE segments SET state = 'deleted', state_at_ms = 1, state_note = 'retention' WHERE id = 2"], [2],
      /segment #2 is listed as deleted by the box, but no ledger entry records its deletion/],
    ['the range\'s first segment deleted from the catalog', ['DELETE FROM segments WHERE id = 1'], [1],
      /the proof begins at #2, a row of the range, not at the row before it/],
    ['the chain cut back below an anchor, the checkpoints with it', ['DELETE FROM segments WHERE id >= 5', 'DELETE FROM checkpoints'], [5],
      /the segments chain in the bundle ends at #4, but the anchor of \S+ already had #6 \(entries removed/],
  ];
  for (const [what, sql, removed, says] of cases) {
    const bundle = await exported(what.replace(/\W+/g, '-'), sql, removed);
    const r = await verify(bundle, '--anchors', anchors);
    t.equal(r.code, 1, `${what}: not verified`);
    t.match(r.stdout, /NOT VERIFIED/, `${what}: the first line says so`);
    t.match(r.stdout, says, `${what}: named`);
  }
});
