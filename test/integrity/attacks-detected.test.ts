/**
 * Real cameras recorded first (with a gap, a hold and a retention deletion, as a box makes them),
 * a checkpoint taken as a platform would keep it, then each attack on a fresh copy of the data
 * dir, checked through the built CLI: `verify --anchors` names it and exits 1; a clean copy passes.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { copyFileSync, cpSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { CHECKPOINT_SCHEMA, parseCheckpoint, signCheckpoint, type Checkpoint } from '../../recorder/catalog/checkpoint.js';
import { GENESIS, ledgerHash, segmentHash } from '../../recorder/catalog/hash-chain.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { backdate, makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';

interface Finding { kind: string; segment?: number; detail: string }
interface Report { ok: boolean; findings: Finding[]; proof: { cannot_prove: string[] } }

t.test('every attack on a copy of a recorded data dir is named by verify --anchors', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const sim = await new CameraSim({ mounts: ['cam1', 'cam2'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const config = writeConfig(dir, sim.mounts.map((m) => ({ id: m, url: sim.url(m) })), {
    storageYaml: 'retention:\n  max_days: 60',
    extraYaml: 'integrity:\n  age_deletion_needs_clock_sync: false\n  verify_read_mb_s: 0',
  });

  // history: one expired segment (retention deletes it at start), one held
  const clip = makeClip(join(dir, 'clip.mp4'));
  const now = Date.now();
  const catalog = Catalog.open(data);
  const [expired, held] = await backdate(data, catalog, clip, 'cam1', [now - 100 * DAY_MS, now - 10 * DAY_MS]);
  catalog.close();
  const hold = await runCli(['hold', 'add', '--data', data, '--camera', 'cam1', '--from', String(held!.start_ms), '--to', String(held!.end_ms), '--reason', 'case 2026-17']);
  t.equal(hold.code, 0, hold.stderr);

  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= 2 && daemon.countLog(segmentIndexed('cam2')) >= 2, 40000, 'two segments per camera');
  await sim.kill(); // both cameras drop: a gap each
  await daemon.waitForLog(/"event":"camera_offline"/, 20000);
  await sim.restart();
  const before = daemon.countLog(segmentIndexed('cam1'));
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= before + 2, 40000, 'recording again after the gap');
  t.equal((await daemon.stop()).code, 0, 'a clean stop (it signs a last checkpoint)');

  const pristine = join(dir, 'pristine');
  cpSync(data, pristine, { recursive: true });
  const cp = await runCli(['checkpoint', '--data', pristine]);
  t.equal(cp.code, 0, cp.stderr);
  const anchorLine = cp.stdout.trim();
  const anchor = parseCheckpoint(anchorLine);
  t.equal(anchorLine.split('\n').length, 1, 'the checkpoint is one JSON line');
  const stored = new Database(join(pristine, 'catalog.db'), { readonly: true });
  t.equal((stored.prepare('SELECT payload FROM checkpoints ORDER BY id DESC LIMIT 1').get() as { payload: string }).payload, anchorLine,
    'nothing moved since the clean stop: the CLI prints the stored checkpoint byte for byte');
  const facts = {
    segments: stored.prepare('SELECT id, camera, path, state FROM segments ORDER BY id').all() as Array<{ id: number; camera: string; path: string; state: string }>,
    gaps: stored.prepare('SELECT id FROM gaps').all() as Array<{ id: number }>,
    deletions: (stored.prepare("SELECT data FROM ledger WHERE kind = 'deletion'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { rule: string; segments: number[] }),
  };
  stored.close();
  t.ok(facts.gaps.length >= 2, `the camera drop left gaps (${facts.gaps.length})`);
  t.same(facts.deletions.map((d) => [d.rule, d.segments]), [['max_days', [expired!.id]]], 'retention deleted the expired segment, with its ledger entry');
  const anchors = join(dir, 'anchors.jsonl');
  writeFileSync(anchors, anchorLine + '\n');

  const copy = join(dir, 'copy');
  const fresh = () => {
    rmSync(copy, { recursive: true, force: true });
    cpSync(pristine, copy, { recursive: true });
    return copy;
  };
  const sql = (fn: (db: Database.Database) => void) => {
    const db = new Database(join(copy, 'catalog.db'));
    try { fn(db); } finally { db.close(); }
  };
  const verify = async (anchorFile?: string): Promise<Report & { code: number | null; text: string }> => {
    const r = await runCli(['verify', '--data', copy, '--json', ...(anchorFile ? ['--anchors', anchorFile] : [])]);
    try {
      return { ...(JSON.parse(r.stdout) as Report), code: r.code, text: r.stdout };
    } catch {
      throw new Error(`verify printed no report (exit ${r.code}): ${r.stderr}${r.stdout}`);
    }
  };
  const expectCaught = async (what: string, kind: string, detail: RegExp, opts: { withoutAnchors?: 'passes' | 'fails' } = {}) => {
    const r = await verify(anchors);
    t.equal(r.code, 1, `${what}: verify --anchors exits 1`);
    t.ok(r.findings.some((f) => f.kind === kind && detail.test(f.detail)), `${what}: named (${kind} ${detail})\n${r.findings.map((f) => `${f.kind}: ${f.detail}`).join('\n')}`);
    if (opts.withoutAnchors) {
      const bare = await verify();
      t.equal(bare.code, opts.withoutAnchors === 'passes' ? 0 : 1, `${what}: without anchors verify ${opts.withoutAnchors === 'passes' ? 'cannot see it (and says so)' : 'catches it too'}`);
      if (opts.withoutAnchors === 'passes') t.ok(bare.proof.cannot_prove.some((l) => /recomputed/.test(l)), 'and says plainly what it cannot prove');
    }
  };
  const live = (camera: string) => facts.segments.filter((s) => s.camera === camera && s.state === 'ok');
  const victim = live('cam2')[1]!;

  fresh();
  const clean = await verify(anchors);
  t.equal(clean.code, 0, `a clean copy extends its anchor:\n${clean.findings.map((f) => f.detail).join('\n')}`);

  // the issue's attacks
  fresh();
  sql((db) => db.prepare("UPDATE segments SET state = 'deleted', state_at_ms = ?, state_note = 'retention: older than max_days 60' WHERE id = ?").run(Date.now(), victim.id));
  unlinkSync(join(copy, victim.path));
  await expectCaught('a young row set deleted and its file removed', 'view', new RegExp(`segment #${victim.id} is deleted in the catalog, but the ledger has no entry`), { withoutAnchors: 'fails' });

  fresh();
  const newest = facts.segments.slice(-2);
  sql((db) => {
    db.prepare('DELETE FROM segments WHERE id >= ?').run(newest[0]!.id);
    db.prepare('DELETE FROM checkpoints').run(); // the attacker cleans the box's own checkpoints too
  });
  for (const s of newest) unlinkSync(join(copy, s.path));
  await expectCaught('the newest rows and their files removed', 'anchor', /segments chain truncated: the catalog has \d+ entries, anchor line 1 .* saw \d+/, { withoutAnchors: 'passes' });

  fresh();
  copyFileSync(join(copy, live('cam2')[0]!.path), join(copy, victim.path));
  sql((db) => {
    const v2From = Number((db.prepare("SELECT value FROM meta WHERE key = 'chain.segments.v2_from'").get() as { value: string }).value);
    const bytes = readFileSync(join(copy, victim.path));
    db.prepare('UPDATE segments SET sha256 = ?, bytes = ? WHERE id = ?').run(createHash('sha256').update(bytes).digest('hex'), bytes.length, victim.id);
    let prev = GENESIS;
    for (const r of db.prepare('SELECT * FROM segments ORDER BY id').all() as Array<Parameters<typeof segmentHash>[1] & { id: number }>) {
      const h = segmentHash(prev, r, v2From);
      db.prepare('UPDATE segments SET prev_hash = ?, chain_hash = ? WHERE id = ?').run(prev, h, r.id);
      prev = h;
    }
    db.prepare('DELETE FROM checkpoints').run();
  });
  await expectCaught('a file replaced and the whole chain recomputed with the formula', 'anchor', /segments chain rewritten: entry #\d+ hashes to/, { withoutAnchors: 'passes' });

  fresh();
  sql((db) => {
    db.prepare('DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)').run();
    db.prepare('DELETE FROM checkpoints').run();
  });
  await expectCaught('the newest audit entry removed', 'anchor', /audit chain truncated/, { withoutAnchors: 'passes' });

  fresh();
  sql((db) => db.prepare('DELETE FROM gaps WHERE id = ?').run(facts.gaps[0]!.id));
  await expectCaught('a gap row removed', 'view', new RegExp(`gap #${facts.gaps[0]!.id} .* was removed from the gaps table`), { withoutAnchors: 'fails' });

  // others of the same kinds
  fresh();
  sql((db) => db.prepare("UPDATE holds SET released_ms = ?, released_by = 'unix:someone' WHERE id = 1").run(Date.now()));
  await expectCaught('a hold released by SQL', 'view', /hold #1 was released behind the box's back/);

  fresh();
  sql((db) => db.prepare('UPDATE gaps SET end_ms = start_ms + 1 WHERE id = ?').run(facts.gaps[0]!.id));
  await expectCaught('a gap shortened', 'view', new RegExp(`gap #${facts.gaps[0]!.id} was edited: end_ms`));

  fresh();
  sql((db) => db.prepare("UPDATE ledger SET data = replace(data, '\"max_days\":60', '\"max_days\":1') WHERE kind = 'deletion'").run());
  await expectCaught('a ledger entry edited', 'ledger', /ledger entry #\d+ was altered/);

  fresh();
  sql((db) => {
    // the gap's entries taken out of the ledger, the ledger rechained, the gap row removed: consistent on the box
    const gap = facts.gaps[0]!.id;
    const rows = (db.prepare('SELECT * FROM ledger ORDER BY id').all() as Array<{ id: number; at_ms: number; kind: string; camera: string | null; data: string }>)
      .filter((e) => !(e.kind.startsWith('gap_') && (JSON.parse(e.data) as { gap: number }).gap === gap));
    db.prepare('DELETE FROM ledger').run();
    let prev = GENESIS;
    rows.forEach((e, i) => {
      const f = { ...e, id: i + 1 };
      const hash = ledgerHash(prev, f);
      db.prepare('INSERT INTO ledger (id, at_ms, kind, camera, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)').run(f.id, f.at_ms, f.kind, f.camera, f.data, prev, hash);
      prev = hash;
    });
    db.prepare('DELETE FROM gaps WHERE id = ?').run(gap);
    db.prepare('DELETE FROM checkpoints').run();
  });
  await expectCaught('a gap removed from the view and the ledger, the ledger recomputed', 'anchor', /ledger chain (rewritten|truncated)/, { withoutAnchors: 'passes' });

  // deletions written through the box's own code, but not due by their rule
  const young = live('cam2')[0]!;
  const forge = (camera: string, id: number, why: Parameters<Catalog['markDeleted']>[2]) => {
    const c = Catalog.open(copy);
    try {
      const row = c.segment(id)!;
      c.markDeleted(camera, [row], why);
      unlinkSync(join(copy, row.path));
    } finally {
      c.close();
    }
  };
  const clock = { synchronized: true, source: 'forged' };
  fresh();
  forge('cam2', young.id, { rule: 'max_days', note: 'retention: older than max_days 60', policy: { min_days: 30, max_days: 60 }, holds_checked: [], clock });
  await expectCaught('a deletion too young for max_days', 'deletion', new RegExp(`segment #${young.id} ended .* too young for max_days 60`));

  fresh();
  forge('cam1', held!.id, { rule: 'space_floor', note: 'retention: free space under the floor', policy: { min_days: 30, max_days: 60 }, disk: { available_bytes: 1, floor_bytes: 10, unaccounted_bytes: 0 }, holds_checked: [], clock });
  await expectCaught('a deletion under an active hold', 'deletion', new RegExp(`segment #${held!.id} was under active hold #1`));

  fresh();
  forge('cam2', young.id, { rule: 'space_floor', note: 'retention: free space under the floor', policy: { min_days: 30, max_days: 60 }, disk: { available_bytes: 10 * 2 ** 30, floor_bytes: 0, unaccounted_bytes: 0 }, holds_checked: [], clock });
  await expectCaught('a space deletion with free space to spare', 'deletion', /a space deletion with no low-space reading/);

  // rules nothing re-checks, policies no config allows, young footage cut out of its order, a row
  // slipped into time already past: root's forgeries after the newest anchor (an outside probe)
  fresh();
  forge('cam1', held!.id, { rule: 'before_ledger', note: 'deleted before the ledger', policy: { min_days: null, max_days: null }, holds_checked: [], clock: null });
  await expectCaught('held footage deleted under the migration\'s rule', 'deletion', /\(before_ledger\): only the ledger's start copies deletions made before it/);

  fresh();
  const later = live('cam2')[2]!;
  forge('cam2', later.id, { rule: 'space_floor', note: 'retention: free space under the floor', policy: { min_days: 30, max_days: 60 }, disk: { available_bytes: 1, floor_bytes: 10, unaccounted_bytes: 0 }, holds_checked: [1], clock });
  await expectCaught('a young segment deleted "for space" while older ones stay', 'deletion',
    new RegExp(`segment #${later.id} of cam2 \\(from .*\\) was deleted for space while segment #\\d+ of cam\\d, older \\(from .*\\) and not held, was kept`));

  fresh();
  {
    const c = Catalog.open(copy);
    try {
      c.ledgerEntry('retention_policy', null, { floor_bytes: 0, box: { min_days: 30, max_days: 60 }, cameras: [{ camera: 'cam2', min_days: 30, max_days: 0.0001 }], exports_max_days: 30, age_deletion_needs_clock_sync: false });
    } finally {
      c.close();
    }
  }
  await expectCaught('a retention policy whose max_days is under its min_days', 'ledger', /records a retention policy no configuration allows for camera cam2 \(min_days 30, max_days 0.0001/);

  fresh();
  const overlapped = live('cam1')[1]!;
  {
    const c = Catalog.open(copy);
    try {
      const src = c.segment(live('cam2')[0]!.id)!;
      const path = overlapped.path.replace(/\.mp4$/, '-x.mp4');
      copyFileSync(join(copy, src.path), join(copy, path));
      c.addSegment({ camera: 'cam1', start_ms: c.segment(overlapped.id)!.start_ms + 500, end_ms: c.segment(overlapped.id)!.end_ms, bytes: src.bytes, path, sha256: src.sha256, origin: 'recorded' });
    } finally {
      c.close();
    }
  }
  await expectCaught('a row appended at the head with a time already recorded', 'inserted', /starts .*, before segment #\d+ of the same camera, added to the chain earlier, ended .*: slipped in afterwards/, { withoutAnchors: 'fails' });

  // anchors that are not this box's word
  fresh();
  const lie = { ...anchor, chains: { ...anchor.chains, segments: { ...anchor.chains.segments, length: anchor.chains.segments.length - 1 } } };
  const forged = join(dir, 'forged.jsonl');
  writeFileSync(forged, canonicalJson(lie) + '\n');
  let r = await verify(forged);
  t.equal(r.code, 1, 'a checkpoint with a forged signature fails');
  t.ok(r.findings.some((f) => f.kind === 'anchor' && /bad signature/.test(f.detail)), 'named as a bad signature');

  const other = generateKeyPairSync('ed25519');
  const foreign: Checkpoint = signCheckpoint({ schema: CHECKPOINT_SCHEMA, box: anchor.box, at_ms: anchor.at_ms, chains: anchor.chains,
    public_key: other.publicKey.export({ type: 'spki', format: 'pem' }) as string }, other.privateKey);
  writeFileSync(forged, canonicalJson(foreign) + '\n');
  r = await verify(forged);
  t.equal(r.code, 1, 'a checkpoint signed by another key fails');
  t.ok(r.findings.some((f) => f.kind === 'anchor' && /not this box's key/.test(f.detail)), 'named as another key');

  writeFileSync(forged, 'this is not a checkpoint\n' + anchorLine + '\n');
  r = await verify(forged);
  t.equal(r.code, 1, 'a line that is no checkpoint fails, not crashes');
  t.ok(r.findings.some((f) => /anchor line 1 is not a checkpoint/.test(f.detail)), 'named by its line');

  // a checkpoint dated where no date can be (a safe integer all the same), stored on the box:
  // every `verify` ended in "Invalid time value", nothing verified or named; `checkpoint` printed it
  fresh();
  const far = JSON.parse(anchorLine) as Checkpoint;
  sql((db) => db.prepare('INSERT INTO checkpoints (at_ms, reason, segments_length, ledger_length, audit_length, payload) VALUES (?, ?, ?, ?, ?, ?)')
    .run(far.at_ms + 1, 'cli', far.chains.segments.length, far.chains.ledger.length, far.chains.audit.length, canonicalJson({ ...far, at_ms: 9e15 })));
  r = await verify();
  t.equal(r.code, 1, 'a stored checkpoint dated 9e15: verify reports, not crashes');
  t.ok(r.findings.some((f) => /local checkpoint #\d+ cannot be read: at_ms 9000000000000000 is no time a date can hold/.test(f.detail)), 'named');
  const printed = await runCli(['checkpoint', '--data', copy]);
  t.equal(printed.code, 0, printed.stderr);
  const handed = parseCheckpoint(printed.stdout.trim());
  t.ok(handed.at_ms < 9e15 && handed.at_ms > far.at_ms, 'checkpoint hands out a new one it signs, not the stored one that does not hold');

  const missing = await runCli(['verify', '--data', copy, '--anchors', join(dir, 'no-such-file')]);
  t.equal(missing.code, 2, 'an anchors file that cannot be read is bad usage');
  t.match(missing.stderr, /--anchors: cannot read/);
});
