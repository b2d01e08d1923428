import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { videoInfo } from '../../common/media-probe.js';
import ort from '../../redaction/ort.js';
import { detectionWorker, readAhead, windowFrames } from '../../redaction/detection-worker.js';
import { configuredDetectors, detectorChoice } from '../../redaction/detectors.js';
import { frameBytes, type Frame } from '../../redaction/frame.js';
import { readImage } from '../../redaction/image-io.js';
import { modelPath, readModel, textModel } from '../../redaction/models.js';
import { sessionOptions } from '../../redaction/onnx-detector.js';
import { DEFAULT_SETTINGS, Redactor } from '../../redaction/redactor.js';
import { letterbox, TensorScratch } from '../../redaction/resample.js';
import { textInput } from '../../redaction/text-detector.js';
import { decodeFrames, FrameBuffers } from '../../redaction/video-io.js';
import { encodeClip, movingClip, Rng, scenesAvailable } from '../support/scenes.js';
import { allFrames, MEDIA, tmp } from './media.js';

/*
 * What bounds pass 1's memory (docs/redaction.md "Memory"), each with the output it must not
 * change: the detection thread gives each frame back to the decoder once the Redactor no longer
 * reads it (Redactor.heldFrames), so the decoder reuses a bounded set of buffers instead of a new
 * one a frame, for the same plan, box for box; and onnxruntime's memory pattern is off, for the
 * same model outputs, bit for bit.
 */
const FOOTAGE = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const missing = scenesAvailable();
const W = 320, H = 240;

/** Plates and faces moving through a street, then a cut to another shot (Megamind.avi), so a scene change gives the whole look-back window back at once. */
function clip(dir: string): string {
  const c = movingClip(new Rng(91), { footage: FOOTAGE, width: W, height: H, frames: 40, plates: 2, faces: 2, cap: [16, 28], face: [48, 96] });
  const size = W * H * 3;
  const other = execFileSync('ffmpeg', ['-v', 'error', '-i', MEDIA.megamind, '-vf', `scale=${W}:${H}`, '-frames:v', '16', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: size * 16 + 1024 });
  const frames: Frame[] = [...c.frames];
  for (let k = 0; (k + 1) * size <= other.length; k++) frames.push({ width: W, height: H, data: Buffer.from(other.subarray(k * size, (k + 1) * size)) });
  const input = join(dir, 'in.mp4');
  encodeClip(frames, input);
  return input;
}

t.test('the detection thread gives frames back to the decoder: a bounded set of buffers, the same plan box for box', { skip: missing }, async (t) => {
  const dir = tmp();
  const input = clip(dir);
  const info = await videoInfo(input);
  const frames = await allFrames(input);
  const here = new Redactor(await configuredDetectors(), DEFAULT_SETTINGS, () => '');
  for (const [n, f] of frames.entries()) await here.look(f, n);
  await here.plan();
  const expected = here.passOne();

  // as egress.ts runs it: the decoder reads into buffers the thread gives back
  const bytes = frameBytes(info.width, info.height);
  // a buffer back from the thread is a new object over the same memory: what is counted is how
  // often the decoder got a buffer that was not given back (new memory)
  const back = new Set<Buffer>();
  let made = 0;
  const buffers = new (class extends FrameBuffers {
    override take(): Buffer {
      const b = super.take();
      if (!back.has(b)) made++;
      return b;
    }
  })(bytes, windowFrames(DEFAULT_SETTINGS));
  const job = detectionWorker().start(detectorChoice(), DEFAULT_SETTINGS, undefined, undefined, (b) => { back.add(b); buffers.give(b); });
  let n = 0;
  for await (const f of decodeFrames({ path: input }, info, undefined, 'rgb24', buffers)) await job.look(f, n++);
  const { passOne } = await job.plan();

  t.equal(n, frames.length, `${n} frames`);
  t.strictSame(passOne.planned, expected.planned, 'every frame\'s boxes are the calling thread\'s (new buffers), to the last bit');
  t.strictSame(passOne.blanked, expected.blanked, 'the same frames blanked (none)');
  t.strictSame(passOne.stats, expected.stats, 'the same detector runs, detections, looks between rounds and reuse');
  t.ok(expected.stats.looked_between > 0, `objects were looked for between rounds in kept frames (${expected.stats.looked_between})`);
  t.ok(new Set(expected.planned.flat().map((b) => b.cls)).size === 2, 'faces and text are hidden: the comparison is not of empty plans');
  // alive at once: the frames handed over and not yet looked at (the read-ahead), those kept
  // since the oldest detector's last round and the one before them (faces every 10th), and the
  // one the decoder fills; a new buffer is taken only when none given back is spare
  const window = windowFrames(DEFAULT_SETTINGS);
  const bound = readAhead(bytes) + window + 1;
  t.ok(back.size > n / 2, `the thread gave ${back.size} of ${n} frames back`);
  t.ok(made <= bound, `${made} new buffers read into for ${n} frames (at most ${bound}: read-ahead ${readAhead(bytes)}, window ${window}, the decoder's 1)`);
});

t.test('onnxruntime without its memory pattern gives the same outputs, bit for bit, for inputs of every shape', async (t) => {
  const frame = await readImage(MEDIA.plate);
  const run = async (path: string, hint: string, inputs: Array<{ data: Float32Array; dims: number[] }>, pattern: boolean) => {
    const session = await ort.InferenceSession.create(readModel(path, hint).bytes, { ...sessionOptions(1), enableMemPattern: pattern });
    const outs: Float32Array[] = [];
    for (const i of inputs) {
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', i.data, i.dims) });
      for (const name of session.outputNames) outs.push(Float32Array.from(out[name]!.data as Float32Array));
    }
    await session.release();
    return outs;
  };
  t.notOk(sessionOptions().enableMemPattern, 'the detectors\' sessions run without the memory pattern');
  // the text detector's inputs come in many shapes (levels, parts looked at around changes): a
  // pattern is planned per shape, so shapes alternate here
  const whole = { x: 0, y: 0, w: frame.width, h: frame.height };
  const text = [[320, 320], [864, 480], [224, 640], [320, 320], [864, 480]].map(([w, h]) => ({ data: textInput(frame, whole, w!, h!).tensor, dims: [1, 3, h!, w!] }));
  const { path, hint } = textModel();
  const [withText, withoutText] = [await run(path, hint, text, true), await run(path, hint, text, false)];
  t.equal(withoutText.length, text.length, 'one probability map per input');
  t.ok(withText.every((o, i) => Buffer.from(o.buffer).equals(Buffer.from(withoutText[i]!.buffer))), 'text: every probability map identical');
  t.ok(withoutText.some((o) => o.some((p) => p > 0.3)), 'the maps find text (the comparison is not of empty maps)');
  const face = [0, 1, 2].map(() => ({ data: letterbox(frame, whole, { width: 256, height: 256, layout: 'nhwc', norm: (v) => v / 127.5 - 1, pad: [0, 0, 0] }).tensor, dims: [1, 256, 256, 3] }));
  const facePath = modelPath('face_detection_back_256x256_barracuda.onnx');
  const [withFace, withoutFace] = [await run(facePath, 'fetch-models', face, true), await run(facePath, 'fetch-models', face, false)];
  t.ok(withFace.length > 0 && withFace.every((o, i) => Buffer.from(o.buffer).equals(Buffer.from(withoutFace[i]!.buffer))), 'faces: every output identical');
});

t.test('a kept frame given back while still needed is not looked at as nothing: its frames are blanked', { skip: missing }, async (t) => {
  const dir = tmp();
  const frames = await allFrames(clip(dir));
  const r = new Redactor(await configuredDetectors(), DEFAULT_SETTINGS, () => '');
  let gone: number | undefined;
  for (const [n, f] of frames.entries()) {
    await r.look(f, n);
    // the frame before the next round's (held for the motion of what that round finds), taken
    // away as a wrong give-back would: its memory transferred, its buffer empty
    if (n === 12) {
      const held = [...r.heldFrames()];
      t.ok(held.includes(f.data), 'the frame just looked at is held');
      structuredClone(f.data.buffer, { transfer: [f.data.buffer as ArrayBuffer] });
      t.equal(f.data.length, 0, 'its buffer is empty now');
      gone = n;
    }
  }
  await r.plan();
  const done = r.passOne();
  t.ok(gone !== undefined && done.blanked.length > 0, `frames blanked: ${done.blanked.join(', ')}`);
  t.ok(done.stats.errors.some((e) => e.includes('given back while still needed')), `the error says why: ${done.stats.errors[0]}`);
});

t.test('a detector input written into a reused tensor is the one a new tensor gets, padding included; one in use is never handed out twice', async (t) => {
  const frame = await readImage(MEDIA.plate);
  const whole = { x: 0, y: 0, w: frame.width, h: frame.height };
  const scratch = new TensorScratch();
  // a large input first, so the smaller ones after it land in an array full of its values
  for (const [w, h] of [[864, 480], [320, 320], [224, 640], [256, 256]] as const) {
    const fresh = textInput(frame, whole, w, h).tensor;
    const reused = textInput(frame, whole, w, h, scratch).tensor;
    t.ok(Buffer.from(reused.buffer, reused.byteOffset, reused.byteLength).equals(Buffer.from(fresh.buffer)), `${w}x${h}: the same values, bit for bit`);
    const again = scratch.take(16);
    t.not(again.buffer, reused.buffer, 'asked while its array is out, it hands out another');
    scratch.give(again);
    scratch.give(reused);
    t.equal(scratch.take(16).buffer, reused.buffer, 'given back, the array is handed out again');
    scratch.give(reused);
  }
  const face = (s?: TensorScratch) => letterbox(frame, { x: 100, y: 50, w: 300, h: 120 }, { width: 256, height: 256, layout: 'nhwc', norm: (v) => v / 127.5 - 1, pad: [0.5, 0.5, 0.5] }, s).tensor;
  const [a, b] = [face(), face(scratch)];
  t.ok(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer)), 'a letterboxed face input (padding below the picture): the same values');
});
