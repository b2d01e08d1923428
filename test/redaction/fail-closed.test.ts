import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlazeFace } from '../../redaction/blazeface.js';
import { redactFile } from '../../redaction/egress.js';
import type { Frame } from '../../redaction/frame.js';
import { auditEntries } from '../../recorder/catalog/audit-log.js';
import { CLI, runCli } from '../support/cli.js';
import { NEEDS_ROOT, tmpfsDataDir } from '../support/tmpfs.js';
import { allFrames, egressContext, megamindClip, Throwing, tmp } from './media.js';

/** Brightest pixel above the watermark band (the bottom 18 rows): 0 on a blanked frame. */
function maxAboveWatermark(f: Frame): number {
  let m = 0;
  for (let i = 0; i < f.width * (f.height - 18) * 3; i++) if (f.data[i]! > m) m = f.data[i]!;
  return m;
}

const face = await BlazeFace.create({ tile: 'auto' });

t.test('a detector that always throws: every frame written is blank', async (t) => {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  const clip = megamindClip(dir, 2);
  const out = join(dir, 'out.mp4');
  const r = await redactFile({ ...ctx, detectors: [new Throwing(face, () => true)] }, { input: clip, out, requester: 'tap', reason: 'test' });
  t.equal(r.blanked_frames, r.frames, 'the manifest counts every frame as blanked');
  const frames = await allFrames(out);
  t.equal(frames.length, r.frames);
  const brightest = Math.max(...frames.map(maxAboveWatermark));
  t.ok(brightest <= 24, `no picture content in any frame (brightest pixel ${brightest}; H.264 noise only)`);
  const entry = auditEntries(ctx.catalog)[0]!;
  t.match(entry.details, /injected detector failure/, 'the audit entry names the failure');
});

t.test('one failed detection: the frames until the next good detection are blank, the rest are not', async (t) => {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  const clip = megamindClip(dir, 2);
  const out = join(dir, 'out.mp4');
  const d = new Throwing(face, (call) => call === 3);
  const r = await redactFile({ ...ctx, detectors: [d] }, { input: clip, out, requester: 'tap', reason: 'test' });
  t.ok(r.blanked_frames >= 1 && r.blanked_frames < r.frames / 2, `some frames blanked (${r.blanked_frames} of ${r.frames})`);
  const frames = await allFrames(out);
  t.ok(maxAboveWatermark(frames[0]!) > 100, 'the first frame has its picture');
  t.ok(frames.some((f) => maxAboveWatermark(f) <= 24), 'the failed frame is blank');
});

t.test('a missing model stops the export before anything is written', async (t) => {
  await t.rejects(BlazeFace.create({ model: '/nonexistent/face.onnx' }), /detector model \/nonexistent\/face.onnx is missing/);
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  const out = join(dir, 'out.mp4');
  const empty = join(dir, 'no-models');
  mkdirSync(empty);
  const r = await runCli(['redact', clip, out, '--data', join(dir, 'data')], { env: { ...process.env, EDGE_NVR_MODELS: empty } });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /face_detection_back_256x256_barracuda.onnx is missing/);
  t.notOk(existsSync(out), 'no output');
  t.notOk(existsSync(`${out}.manifest.json`), 'no manifest');
  const ctx = egressContext(t, dir);
  t.equal(auditEntries(ctx.catalog)[0]?.action, 'redact.failed', 'the refused attempt is in the audit log');
});

t.test('an input that cannot be decoded: no output at all', async (t) => {
  const dir = tmp();
  const bad = join(dir, 'broken.mp4');
  writeFileSync(bad, Buffer.alloc(4096, 7));
  const out = join(dir, 'out.mp4');
  const r = await runCli(['redact', bad, out, '--data', join(dir, 'data')]);
  t.not(r.code, 0, r.stderr);
  t.notOk(existsSync(out), 'no output');
});

t.test('an output disk that fills while the clip is encoded: a failure, no file, no manifest, only the failure audited (ffmpeg exits 0 on it)', { skip: NEEDS_ROOT }, async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 2);
  const { data: small } = tmpfsDataDir(t, 1, 'small-out');
  // room for the start of the file, not for the clip
  const { bavail, bsize } = statfsSync(small);
  writeFileSync(join(small, 'filler'), Buffer.alloc(bavail * bsize - 16 * 1024));
  const ctx = egressContext(t, dir);
  const out = join(small, 'out.mp4');
  await t.rejects(redactFile(ctx, { input: clip, out, requester: 'tap', reason: 'test' }), /No space left on device|ENOSPC/);
  t.same(readdirSync(small).filter((f) => f !== 'filler'), [], 'nothing left beside it: no output, no manifest, no partial directory');
  t.same(auditEntries(ctx.catalog).map((e) => e.action), ['redact.failed'], 'the failure is audited, and nothing as written');
  const again = join(dir, 'again.mp4');
  writeFileSync(`${again}.manifest.json`, '{}');
  await t.rejects(redactFile(ctx, { input: clip, out: again, requester: 'tap', reason: 'test' }), /again\.mp4\.manifest\.json exists; refusing to overwrite it/, 'a manifest in the way is refused before any work');
});

t.test('killed right after the output appears: it is already in the audit log (registered before it is published)', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  const out = join(dir, 'out.mp4');
  const data = join(dir, 'data');
  // the first rmdir is the partial directory's removal, after the output took its name
  const r = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=rmdir', '-e', 'inject=rmdir:signal=SIGKILL', process.execPath, CLI, 'redact', clip, out, '--data', data], { encoding: 'utf8', timeout: 120_000 });
  // strace ends as its child did: by the same signal
  t.ok(r.signal === 'SIGKILL' || r.status === 128 + 9, `killed (${r.signal ?? r.status}: ${r.stderr.slice(-300)})`);
  t.ok(existsSync(out) && existsSync(`${out}.manifest.json`), 'the output and its manifest had appeared');
  const audit = JSON.parse((await runCli(['audit', '--data', data, '--json'])).stdout) as { entries: Array<{ action: string; destination: string }> };
  t.match(audit.entries.find((e) => e.action === 'redact'), { destination: out }, 'and the copy is registered');
});

t.test('a video is written only under an .mp4 name: x.avi or out.txt is refused, nothing written (an outside probe: both held MP4)', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  for (const name of ['x.avi', 'out.txt', 'still.jpg']) {
    const out = join(dir, name);
    const r = await runCli(['redact', clip, out, '--data', join(dir, 'data')], { timeoutMs: 60_000 });
    t.not(r.code, 0, `${name}: refused`);
    t.match(r.stderr, `${out}: a video is written as MP4; name it .mp4`, `${name}: saying how to name it`);
    t.notOk(existsSync(out), `${name}: nothing written`);
  }
});
