import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { walkChain } from '../../recorder/catalog/chain.js';
import { GENESIS, auditHashV1, auditHashV2, segmentHashV1, segmentHashV2, type ChainedFields } from '../../recorder/catalog/hash-chain.js';
import { checkAnchors, CHECKPOINT_SCHEMA, parseCheckpoint, signatureValid, signCheckpoint, verifySegmentsProof } from '../../recorder/catalog/checkpoint.js';

type Row = ChainedFields & { provenance: string | null; prev_hash: string; chain_hash: string };

function chain(n: number): Row[] {
  const rows: Row[] = [];
  let prev = GENESIS;
  for (let id = 1; id <= n; id++) {
    const f = { id, camera: 'gate', start_ms: id * 1000, end_ms: id * 1000 + 1000, bytes: 100 + id, path: `recordings/gate/${id}.mp4`, sha256: 'ab'.repeat(32), provenance: id % 2 ? null : '{"masks":"x"}' };
    const chain_hash = segmentHashV2(prev, f);
    rows.push({ ...f, prev_hash: prev, chain_hash });
    prev = chain_hash;
  }
  return rows;
}

const walk = (rows: Row[], at: number[] = []) => walkChain(rows, (r) => ({ id: r.id, prev: r.prev_hash, hash: r.chain_hash }), (r, prev) => segmentHashV2(prev, r), { noun: 'segment', at });

t.test('the walker names removed, inserted and altered rows, and reports the hashes asked for', async (t) => {
  const rows = chain(6);
  const clean = walk(rows, [3, 6]);
  t.same(clean.problems, [], 'an intact chain has no problem');
  t.equal(clean.length, 6);
  t.equal(clean.head, rows[5]!.chain_hash);
  t.equal(clean.at.get(3), rows[2]!.chain_hash, 'the hash at an anchor\'s length');

  const removed = walk([...rows.slice(0, 2), ...rows.slice(4)]);
  t.same(removed.problems.map((p) => [p.kind, p.id]), [['removed', 5], ['inserted', 5]], 'a removed run is named once, with the broken link after it');
  t.match(removed.problems[0]!.detail, /segment #3\.\.#4 removed/);

  const altered = rows.map((r) => (r.id === 3 ? { ...r, end_ms: r.end_ms + 5000 } : r));
  t.same(walk(altered).problems.map((p) => [p.kind, p.id]), [['altered', 3]], 'an edited row is named, and only it');

  const provenance = rows.map((r) => (r.id === 4 ? { ...r, provenance: null } : r));
  t.same(walk(provenance).problems.map((p) => [p.kind, p.id]), [['altered', 4]], 'provenance is covered by the v2 hash');
});

t.test('v2 hashes keep null apart from "" and fields apart from each other; v1 did not', async (t) => {
  const base = { id: 1, at_ms: 5, actor: 'a', action: 'x', camera: null, from_ms: null, to_ms: null, reason: null, destination: null, details: '{}' };
  t.equal(auditHashV1(GENESIS, base), auditHashV1(GENESIS, { ...base, camera: '' }), 'v1: a null camera and an empty one hash alike (the old ambiguity)');
  t.not(auditHashV2(GENESIS, base), auditHashV2(GENESIS, { ...base, camera: '' }), 'v2: they differ');
  const seg = { id: 1, camera: 'a', start_ms: 1, end_ms: 2, bytes: 3, path: 'p\n1', sha256: 's' };
  t.equal(segmentHashV1(GENESIS, seg), segmentHashV1(GENESIS, { ...seg, path: 'p', sha256: '1\ns' }), 'v1: a newline moved between fields hashes alike');
  t.not(segmentHashV2(GENESIS, seg), segmentHashV2(GENESIS, { ...seg, path: 'p', sha256: '1\ns' }), 'v2: it does not');
});

t.test('checkpoints: signature, anchors and proofs', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const rows = chain(8);
  const heads = { segments: { length: 8, head: rows[7]!.chain_hash }, ledger: { length: 0, head: GENESIS }, audit: { length: 0, head: GENESIS } };
  const cp = signCheckpoint({ schema: CHECKPOINT_SCHEMA, box: 'box-1', at_ms: 1_000, public_key: pem, chains: heads }, privateKey);
  t.ok(signatureValid(cp), 'a checkpoint verifies with the key it names');
  t.same(parseCheckpoint(JSON.stringify(cp)), cp, 'and reads back from its line');
  t.notOk(signatureValid({ ...cp, chains: { ...heads, segments: { ...heads.segments, length: 7 } } }), 'an edited checkpoint does not');
  t.throws(() => parseCheckpoint('{"schema":"edge-nvr/checkpoint@1"}'), /missing/, 'a line that is no checkpoint is named');

  const walked = walk(rows, [8]);
  const ctx = { boxKeyPem: pem, boxId: 'box-1', lengths: { segments: 8, ledger: 0, audit: 0 }, hashAt: (_c: string, n: number) => walked.at.get(n) };
  t.same(checkAnchors([{ label: 'a', checkpoint: cp }], ctx), [], 'the catalog extends its own checkpoint');
  t.match(checkAnchors([{ label: 'a', checkpoint: cp }], { ...ctx, lengths: { segments: 6, ledger: 0, audit: 0 } })[0]!.detail, /segments chain truncated/);
  t.match(checkAnchors([{ label: 'a', checkpoint: cp }], { ...ctx, hashAt: () => 'f'.repeat(64) })[0]!.detail, /segments chain rewritten/);
  const other = generateKeyPairSync('ed25519');
  const foreign = signCheckpoint({ schema: CHECKPOINT_SCHEMA, box: 'box-1', at_ms: 2_000, public_key: other.publicKey.export({ type: 'spki', format: 'pem' }) as string, chains: heads }, other.privateKey);
  t.match(checkAnchors([{ label: 'a', checkpoint: foreign }], ctx)[0]!.detail, /not this box's key/, 'another key is named');
  const fork = signCheckpoint({ schema: CHECKPOINT_SCHEMA, box: 'box-1', at_ms: 3_000, public_key: pem, chains: { ...heads, segments: { length: 8, head: 'e'.repeat(64) } } }, privateKey);
  t.ok(checkAnchors([{ label: 'a', checkpoint: cp }, { label: 'b', checkpoint: fork }], ctx).some((f) => /forked/.test(f.detail)), 'two signed heads at one length are a fork');

  const proof = { checkpoint: cp, prev_hash: rows[2]!.chain_hash, v2_from: 1, rows: rows.slice(3).map((r) => ({ id: r.id, camera: r.camera, start_ms: r.start_ms, end_ms: r.end_ms, bytes: r.bytes, path: r.path, sha256: r.sha256, provenance: r.provenance })) };
  t.same(verifySegmentsProof(proof), { ok: true, problems: [] }, 'rows 4..8 lead to the signed head');
  const lie = { ...proof, rows: proof.rows.map((r) => (r.id === 5 ? { ...r, sha256: 'cd'.repeat(32) } : r)) };
  t.equal(verifySegmentsProof(lie).ok, false, 'a row changed in the proof does not');
  t.equal(verifySegmentsProof({ ...proof, rows: proof.rows.filter((r) => r.id !== 6) }).ok, false, 'nor a row left out');
});
