/**
 * bench/integrity: what evidence integrity costs.
 *
 *   npm run build && node dist/bench/integrity.js [--segments 1000000] [--cameras 16] [--seconds 60] [--rates 2,20]
 *
 * 1. Checkpoints and verify over a catalog of N segments (16 cameras, 60 s segments, half of them
 *    deleted by retention in ledgered batches of 200, files absent: the catalog's own work). The
 *    baseline, in the same run, is reading every row without hashing (what any walk must pay);
 *    each figure is also given as a ratio to it.
 * 2. Background verification on a recording box: C simulated cameras recorded by the daemon for
 *    S seconds with 300 MB of stored segments to re-hash, once with background verification off
 *    (the baseline) and once per rate; the read rate it achieved, and what recording got:
 *    segments, holes over 0.5 s between segments, gaps. Cameras: the tests' simulator
 *    (test/support/camera-sim.ts), the daemon through the tests' DaemonProcess.
 */
import Database from 'better-sqlite3';
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Catalog } from '../recorder/catalog/catalog.js';
import { parseCheckpoint, signatureValid, takeCheckpoint } from '../recorder/catalog/checkpoint.js';
import { walkChain } from '../recorder/catalog/chain.js';
import { segmentHashV1, segmentHashV2 } from '../recorder/catalog/hash-chain.js';
import { verifyRecordings } from '../recorder/verify.js';
import { backdate, makeClip } from '../test/support/backdate.js';
import { CameraSim } from '../test/support/camera-sim.js';
import { DaemonProcess, sleep, writeConfig } from '../test/support/daemon.js';
import { BENCH_CAMERAS, buildCatalog } from './synthetic-catalog.js';
import { groupBy } from '../common/group-by.js';

const { values } = parseArgs({
  options: {
    segments: { type: 'string', default: '1000000' }, cameras: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '60' }, rates: { type: 'string', default: '2,20' }, skip: { type: 'string', default: '' },
  },
});
const skip = new Set(values.skip.split(',').filter(Boolean));

const time = async <T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> => {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
};

async function catalogCosts(n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-integrity-'));
  try {
    const built = await time(() => buildCatalog(dir, n, 7_500_000));
    const { catalog } = built.value;
    // retention deleted the older half, 200 a batch, each batch a ledger entry with its facts
    const deleted = await time(() => {
      const rows = catalog.db.prepare('SELECT id, camera, end_ms FROM segments WHERE id <= ? ORDER BY camera, id').all(Math.floor(n / 2)) as Array<{ id: number; camera: string; end_ms: number }>;
      const perCamera = groupBy(rows, (r) => r.camera);
      catalog.db.transaction(() => {
        for (const [camera, mine] of perCamera) for (let i = 0; i < mine.length; i += 200) {
          const batch = mine.slice(i, i + 200);
          catalog.markDeleted(camera, batch, { rule: 'space_floor', note: 'retention: free space under the floor', policy: { min_days: 30, max_days: null },
            disk: { available_bytes: 1, floor_bytes: 2, unaccounted_bytes: 0 }, holds_checked: [], clock: { synchronized: true, source: 'bench' } });
        }
      })();
      return rows.length;
    });
    const rows = () => catalog.db.prepare('SELECT * FROM segments ORDER BY id').iterate() as IterableIterator<{ id: number; prev_hash: string; chain_hash: string; camera: string; start_ms: number; end_ms: number; bytes: number; path: string; sha256: string; provenance: string | null }>;
    const link = (r: { id: number; prev_hash: string; chain_hash: string }) => ({ id: r.id, prev: r.prev_hash, hash: r.chain_hash });
    // interleaved, the best of two each: a shared machine's load moves between runs
    const walks = { read: Infinity, v1: Infinity, v2: Infinity };
    for (let round = 0; round < 2; round++) {
      walks.read = Math.min(walks.read, (await time(() => { let k = 0; for (const r of rows()) k += r.id; return k; })).ms);
      walks.v1 = Math.min(walks.v1, (await time(() => walkChain(rows(), link, (r, prev) => segmentHashV1(prev, r)).entries)).ms);
      walks.v2 = Math.min(walks.v2, (await time(() => walkChain(rows(), link, (r, prev) => segmentHashV2(prev, r)).problems.length)).ms);
    }
    const read = { ms: walks.read };
    const v1 = { ms: walks.v1 };
    const v2 = { ms: walks.v2 };
    const first = await time(() => takeCheckpoint(catalog, dir, 'bench-box', 'interval'));
    const unchanged = await time(() => takeCheckpoint(catalog, dir, 'bench-box', 'interval'));
    const check = await time(() => signatureValid(parseCheckpoint(first.value.line)));
    const verify = await time(() => verifyRecordings(dir, catalog, { files: false }));
    const anchored = await time(() => verifyRecordings(dir, catalog, { files: false, anchors: [{ label: 'anchor line 1', checkpoint: first.value.checkpoint }] }));
    catalog.close();
    return {
      n, buildS: built.ms / 1000, deletedRows: deleted.value, deleteS: deleted.ms / 1000, readMs: read.ms, v1Ms: v1.ms, v2Ms: v2.ms,
      firstCheckpointMs: first.ms, unchangedCheckpointMs: unchanged.ms, checkMs: check.ms, verifyMs: verify.ms, verifyOk: verify.value.ok,
      anchoredMs: anchored.ms, anchoredOk: anchored.value.ok, ledger: verify.value.chains.ledger.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface RecordingRun { rate: number; seconds: number; verifiedBytes: number; readMbS: number; segments: number; perCamera: number; holes: number; gaps: number }

async function recordingWithVerification(cameras: number, seconds: number, rate: number, stored: { clip: string; count: number }): Promise<RecordingRun> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-bgverify-'));
  const mounts = Array.from({ length: cameras }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
  const sim = await new CameraSim({ mounts, width: 320, height: 180, fps: 10, bitrate: 500, exitWithParent: true }).start();
  try {
    const config = writeConfig(dir, mounts.map((m) => ({ id: m, url: sim.url(m) })), { segmentSeconds: 2, extraYaml: `integrity:\n  verify_read_mb_s: ${rate}` });
    const data = join(dir, 'data');
    const catalog = Catalog.open(data);
    await backdate(data, catalog, stored.clip, 'stored', Array.from({ length: stored.count }, (_, i) => Date.now() - (i + 2) * 3_600_000));
    catalog.close();
    const daemon = new DaemonProcess(config).start();
    try {
      await daemon.waitForLog(/edge-nvr running/, 60000);
      const started = Date.now();
      await sleep(seconds * 1000);
      const elapsed = (Date.now() - started) / 1000;
      await daemon.stop();
      const db = new Database(join(data, 'catalog.db'), { readonly: true });
      const progress = JSON.parse((db.prepare("SELECT value FROM meta WHERE key = 'integrity.verify'").get() as { value: string } | undefined)?.value ?? '{}') as { pass_bytes?: number };
      const spans = db.prepare("SELECT camera, start_ms, end_ms FROM segments WHERE camera != 'stored' ORDER BY camera, start_ms").all() as Array<{ camera: string; start_ms: number; end_ms: number }>;
      const gaps = (db.prepare("SELECT count(*) AS n FROM gaps WHERE cause NOT IN ('daemon_stopped', 'daemon_down')").get() as { n: number }).n;
      db.close();
      let holes = 0;
      for (let i = 1; i < spans.length; i++) if (spans[i]!.camera === spans[i - 1]!.camera && spans[i]!.start_ms - spans[i - 1]!.end_ms > 500) holes++;
      const verifiedBytes = progress.pass_bytes ?? 0;
      return { rate, seconds: elapsed, verifiedBytes, readMbS: verifiedBytes / 1e6 / elapsed, segments: spans.length, perCamera: spans.length / cameras, holes, gaps };
    } finally {
      daemon.proc?.kill('SIGKILL');
    }
  } finally {
    await sim.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (x: number, d = 1) => x.toFixed(d);
console.log(`# bench/integrity, ${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}\n`);

if (!skip.has('catalog')) {
  const c = await catalogCosts(Number(values.segments));
  const ratio = (ms: number) => (ms / c.readMs >= 0.1 ? f(ms / c.readMs, 2) : (ms / c.readMs).toPrecision(2));
  console.log(`## Checkpoints and verify over ${c.n.toLocaleString('en')} segments (${BENCH_CAMERAS.length} cameras; ${c.deletedRows.toLocaleString('en')} deleted in ${c.ledger.toLocaleString('en')} ledger entries)\n`);
  console.log('| work | time | vs reading every row |\n|---|---|---|');
  console.log(`| baseline: read every segment row, no hashing | ${f(c.readMs / 1000, 2)} s | 1.00 |`);
  console.log(`| walk the segments chain, v1 formula (fields joined by newlines) | ${f(c.v1Ms / 1000, 2)} s | ${ratio(c.v1Ms)} |`);
  console.log(`| walk the segments chain, v2 formula (canonical JSON) | ${f(c.v2Ms / 1000, 2)} s | ${ratio(c.v2Ms)} |`);
  console.log(`| verify, catalog only (three chains, ledger, view against ledger, deletions re-checked) | ${f(c.verifyMs / 1000, 2)} s | ${ratio(c.verifyMs)} |`);
  console.log(`| verify with one anchor | ${f(c.anchoredMs / 1000, 2)} s | ${ratio(c.anchoredMs)} |`);
  console.log(`| take a checkpoint (heads, sign, store) | ${f(c.firstCheckpointMs, 1)} ms | ${ratio(c.firstCheckpointMs)} |`);
  console.log(`| take one when nothing moved (the stored one is returned) | ${f(c.unchangedCheckpointMs, 1)} ms | ${ratio(c.unchangedCheckpointMs)} |`);
  console.log(`| check a checkpoint's signature | ${f(c.checkMs, 2)} ms | ${ratio(c.checkMs)} |`);
  console.log(`\n(verify ok: ${c.verifyOk}, with the anchor: ${c.anchoredOk}; building the catalog ${f(c.buildS)} s, the deletions ${f(c.deleteS)} s)\n`);
}

if (!skip.has('recording')) {
  const cameras = Number(values.cameras);
  const seconds = Number(values.seconds);
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-clip-'));
  const clip = makeClip(join(dir, 'clip.mp4'), 10, 2400, { noisy: true });
  const stored = { clip, count: 85 }; // about 300 MB to re-hash
  const runs: RecordingRun[] = [];
  for (const rate of [0, ...values.rates.split(',').map(Number)]) runs.push(await recordingWithVerification(cameras, seconds, rate, stored));
  rmSync(dir, { recursive: true, force: true });
  const base = runs[0]!;
  console.log(`## Background verification while ${cameras} cameras record (${seconds} s each run, 2 s segments, ${stored.count} stored segments of 3.5 MB to re-hash)\n`);
  console.log('| verify_read_mb_s | read by the verifier | segments recorded | vs off | holes > 0.5 s | gaps |\n|---|---|---|---|---|---|');
  for (const r of runs) {
    console.log(`| ${r.rate === 0 ? '0 (off, baseline)' : r.rate} | ${f(r.verifiedBytes / 1e6)} MB, ${f(r.readMbS, 2)} MB/s | ${r.segments} (${f(r.perCamera)} a camera) | ${f(r.segments / base.segments, 2)} | ${r.holes} | ${r.gaps} |`);
  }
  console.log();
}
process.exit(0);
