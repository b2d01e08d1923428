import t from 'tap';
import { execFileSync } from 'node:child_process';
import type { Detector } from '../../redaction/detector.js';
import type { Frame } from '../../redaction/frame.js';
import { DEFAULT_SETTINGS, Redactor, type RedactorSettings } from '../../redaction/redactor.js';
import { TextDetector } from '../../redaction/text-detector.js';
import { composite, renderPlate, Rng, scenesAvailable } from '../support/scenes.js';
import { strokeCorrelation } from './media.js';

/*
 * Detectors run on every 10th frame; an object a round finds for the first time is looked for
 * again in the frames since the round before, so its track starts where it entered. The plate
 * here enters between two rounds, fast, from the top, and stops before the round that finds it: its motion
 * measured at that round is nil, so carrying its box backwards (all there was before looking
 * back) leaves it where it stopped while it was still arriving.
 */
const FOOTAGE = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const missing = scenesAvailable();
const W = 800, H = 600, FRAMES = 24, ENTER = 12, STOP = 17;

function clip(): { frames: Frame[]; boxes: Array<{ x: number; y: number; w: number; h: number } | undefined> } {
  const size = W * H * 3;
  const all = execFileSync('ffmpeg', ['-v', 'error', '-i', FOOTAGE, '-vf', `scale=${W}:${H}`, '-frames:v', String(FRAMES), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: size * FRAMES + 1024 });
  const frames = Array.from({ length: FRAMES }, (_, k) => ({ width: W, height: H, data: Buffer.from(all.subarray(k * size, (k + 1) * size)) }));
  const p = renderPlate(new Rng(7), 'calibration', 'eu', 24);
  const scale = 24 / (p.chars.h * 0.95), w = p.image.width * scale, h = p.image.height * scale;
  // down from the top edge at 40 px a frame, standing still from frame STOP on
  const boxes = frames.map((f, n) => {
    if (n < ENTER) return undefined;
    const x = 300, y = -h + 20 + 40 * (Math.min(n, STOP) - ENTER);
    return composite(f, p.image, { quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]] }, p.chars);
  });
  return { frames, boxes };
}

/** Frames (at least a quarter of the plate on screen) where what is left of it still follows its strokes. */
async function inTheClear(detectors: Detector[], settings: RedactorSettings, c: ReturnType<typeof clip>) {
  const r = new Redactor(detectors, settings, () => 'test');
  for (let n = 0; n < c.frames.length; n++) await r.look(c.frames[n]!, n);
  await r.plan();
  const clear: number[] = [];
  for (let n = 0; n < c.frames.length; n++) {
    const out = r.render({ ...c.frames[n]!, data: Buffer.from(c.frames[n]!.data) }, n);
    const b = c.boxes[n];
    if (!b) continue;
    const y0 = Math.max(0, b.y), y1 = Math.min(H, b.y + b.h);
    if (y1 <= y0 || (y1 - y0) / b.h < 0.25) continue;
    if (strokeCorrelation(c.frames[n]!, out, { x: b.x, y: y0, w: b.w, h: y1 - y0 }) >= 0.3) clear.push(n);
  }
  return { clear, stats: r.stats };
}

t.test('a plate entering between two detection rounds is hidden from its first frame', { skip: missing }, async (t) => {
  const text = await TextDetector.create();
  const c = clip();
  const every = { ...DEFAULT_SETTINGS.every, 'ppocr-det': 10 };
  const now = await inTheClear([text], { ...DEFAULT_SETTINGS, every }, c);
  t.same(now.clear, [], 'no frame shows the plate');
  t.ok(now.stats.looked_between >= 1 && now.stats.look_between_frames >= 2, `looked between rounds for ${now.stats.looked_between} objects in ${now.stats.look_between_frames} frames`);
  t.same(now.stats.detector_runs, { 'ppocr-det': 4 }, 'the text detector ran on frames 0, 10, 20 and the last one (23) only');
  // the same frames without looking back: the plate's box carried backwards stays where it stopped
  const before = await inTheClear([text], { ...DEFAULT_SETTINGS, every, lookBackBytes: 0 }, c);
  t.ok(before.clear.length > 0, `without looking back it is in the clear in frames ${before.clear.join(', ')}`);
});

t.test('a detector failing while looking between rounds blanks the frames of that gap', { skip: missing }, async (t) => {
  const text = await TextDetector.create();
  // fails on crops only: the rounds on whole frames succeed
  const brittle: Detector = { name: text.name, version: text.version, detect: (f, o) => (f.width < W ? Promise.reject(new Error('worker gone')) : text.detect(f, o)) };
  const c = clip();
  const r = new Redactor([brittle], { ...DEFAULT_SETTINGS, every: { 'ppocr-det': 10 } }, () => 'test');
  for (let n = 0; n < c.frames.length; n++) await r.look(c.frames[n]!, n);
  await r.plan();
  const blanked = c.frames.flatMap((f, n) => {
    const out = r.render({ ...f, data: Buffer.from(f.data) }, n);
    let sum = 0;
    for (let i = 0; i < out.data.length; i += 97) sum += out.data[i]!;
    return sum / (out.data.length / 97) < 8 ? [n] : [];
  });
  t.same(blanked.filter((n) => n > 10 && n < 20), [11, 12, 13, 14, 15, 16, 17, 18, 19], 'frames 11-19, between the round that did not see the plate and the one that found it, are blanked');
  t.same(blanked.filter((n) => [0, 10, 20, 23].includes(n)), [], 'the frames the rounds looked at are not: the detector did not fail there');
  t.equal(r.stats.blanked_frames, blanked.length);
  t.match(r.stats.errors.join('\n'), /looking between frames 10 and 20\): worker gone/);
});

t.test('by default faces are looked for every 10th frame and text every 5th, and both on the clip\'s last frame', async (t) => {
  const runs: Record<string, number[]> = { blazeface: [], 'ppocr-det': [] };
  let n = 0;
  const counting = (name: string): Detector => ({ name, version: 'counting', detect: () => { runs[name]!.push(n); return Promise.resolve([]); } });
  const r = new Redactor([counting('blazeface'), counting('ppocr-det')], DEFAULT_SETTINGS, () => 'test');
  // one unchanging picture: no scene change calls a round of its own
  const frame: Frame = { width: 64, height: 48, data: Buffer.alloc(64 * 48 * 3, 90) };
  for (; n < 30; n++) await r.look(frame, n);
  n = 29; // the last round, in plan(), looks at the last frame again
  await r.plan();
  t.same(runs.blazeface, [0, 10, 20, 29], 'faces: frames 0, 10, 20 and the last');
  t.same(runs['ppocr-det'], [0, 5, 10, 15, 20, 25, 29], 'text: every 5th frame and the last');
});
