import t from 'tap';
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BlazeFace } from '../../redaction/blazeface.js';
import { redactFile } from '../../redaction/egress.js';
import type { Frame } from '../../redaction/frame.js';
import { auditEntries } from '../../recorder/catalog/audit-log.js';
import { runCli } from '../support/cli.js';
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
