import t from 'tap';
import type { Box, Frame } from '../../redaction/frame.js';
import { MAX_REUSE, RegionCache } from '../../redaction/region-cache.js';
import { TextDetector } from '../../redaction/text-detector.js';
import { addNoise, background, composite, coveredShare, renderPlate, Rng, scenesAvailable, type SceneObject } from '../support/scenes.js';

/*
 * A fixed camera (redaction/region-cache.ts): the text detector looks again only where the
 * frame changed, and answers for the rest with what it found there before. Real DBNet on a real
 * photo, plates rendered and pasted as a car would bring them, sensor noise on every frame:
 * - a plate appearing far from everything else is found by a look at a part of the frame
 *   around it, while a parked plate elsewhere keeps its box from the look before;
 * - a plate that leaves takes its box with it;
 * - noise alone is "unchanged", a light change of the whole frame is not;
 * - no earlier answer is reused more than MAX_REUSE looks in a row.
 */
const missing = scenesAvailable();
const W = 1280, H = 720;

t.test('a fixed camera: new plates found by looking around what changed, the rest answered for by the look before', { skip: missing }, async (t) => {
  const rng = new Rng(4242);
  const base = background(rng, 'calibration', W, H);
  const plate = (format: 'eu' | 'us', cap: number, x: number, y: number) => {
    const p = renderPlate(rng, 'calibration', format, cap);
    const s = cap / (p.chars.h * 0.95), w = p.image.width * s, h = p.image.height * s;
    return (f: Frame): SceneObject => ({ kind: 'plate', label: format, size: cap,
      box: composite(f, p.image, { quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]] }, p.chars) });
  };
  const parked = plate('eu', 18, 140, 520), arriving = plate('us', 18, 980, 110);
  const frame = (what: Array<(f: Frame) => SceneObject>, light = 0): { f: Frame; objects: SceneObject[] } => {
    const f: Frame = { width: W, height: H, data: Buffer.from(base.data) };
    if (light) for (let i = 0; i < f.data.length; i++) f.data[i] = Math.min(255, f.data[i]! + light);
    const objects = what.map((p) => p(f));
    addNoise(rng, f, 4);
    return { f, objects };
  };
  const d = await TextDetector.create();
  const cache = new RegionCache();
  const look = async (s: { f: Frame }) => d.detect(s.f, { cache });
  const hidden = (o: SceneObject, boxes: Box[]) => coveredShare(o, boxes) >= 0.95;
  const fine = d.inputs(W, H).filter((i) => i.reach).length;
  t.ok(fine >= 1, `the 720p frame has ${fine} input(s) of a tiled level, which may be looked at in part`);

  const s0 = frame([parked]);
  t.ok(hidden(s0.objects[0]!, await look(s0)), 'the parked plate is found by the first, whole look');
  const looked0 = cache.stats.looked;

  const s1 = frame([parked, arriving]);
  const b1 = await look(s1);
  t.ok(hidden(s1.objects[1]!, b1), 'a plate that arrives is found');
  t.ok(hidden(s1.objects[0]!, b1), 'the parked plate keeps its box');
  t.equal(cache.stats.cropped, fine, 'the tiled level was looked at only around what changed');
  t.ok(cache.stats.croppedShare / cache.stats.cropped < 0.6, `the parts looked at: ${(100 * cache.stats.croppedShare / cache.stats.cropped).toFixed(0)}% of the input`);

  const s2 = frame([arriving]);
  const b2 = await look(s2);
  t.ok(hidden(s2.objects[0]!, b2), 'the plate that stays is still hidden');
  const gone = s0.objects[0]!;
  t.ok(coveredShare(gone, b2) < 0.5, `the plate that left took its box with it (${(100 * coveredShare(gone, b2)).toFixed(0)}% of where it was still boxed)`);
  t.equal(cache.stats.looked, looked0 + (d.inputs(W, H).length - fine) * 2, 'only the coarse whole-frame level was looked at whole again, once a frame');

  const s3 = frame([arriving]);
  const reused = cache.stats.reused;
  const b3 = await look(s3);
  t.ok(cache.stats.reused > reused, 'sensor noise alone changes nothing: the tiled level is answered for by the look before');
  t.ok(hidden(s3.objects[0]!, b3), 'and the plate is hidden');

  // MAX_REUSE looks in a row answered (in part) from the last whole look: the next one is whole
  t.equal(MAX_REUSE, 3);
  const before = cache.stats.looked;
  const s4 = frame([arriving]);
  t.ok(hidden(s4.objects[0]!, await look(s4)), 'the plate is hidden on the whole look');
  t.equal(cache.stats.looked - before, fine, `the tiled level, answered from its last whole look ${MAX_REUSE} times in a row, is looked at whole`);

  // light: 3 levels up is within the tolerance (5), 6 is not, even over two frames of 3 each
  const l1 = cache.stats.looked, r1 = cache.stats.reused;
  const s5 = frame([arriving], 3);
  t.ok(hidden(s5.objects[0]!, await look(s5)), 'the plate is hidden when the light changes a little');
  t.equal(cache.stats.looked, l1, 'a light change under the tolerance is not looked at again');
  t.ok(cache.stats.reused > r1);
  const s6 = frame([arriving], 6);
  t.ok(hidden(s6.objects[0]!, await look(s6)), 'the plate is hidden when the light changes more');
  t.equal(cache.stats.looked - l1, d.inputs(W, H).length, 'a slow light change adds up against the last look, and the whole frame is looked at again');
});

t.test('what keeps a block\'s brightness still changes it: letters on a patch of the same mean grey are looked at', async (t) => {
  // a grey wall, and later the same grey made of dark letters on a light plate (mean kept)
  const wall = (): Frame => ({ width: W, height: H, data: Buffer.alloc(W * H * 3, 128) });
  const d = await TextDetector.create();
  const cache = new RegionCache();
  await d.detect(wall(), { cache });
  const looked = cache.stats.looked + cache.stats.cropped, reused = cache.stats.reused;
  await d.detect(wall(), { cache });
  t.equal(cache.stats.reused - reused, d.inputs(W, H).length, 'the same wall again: every input reused');
  const lettered = wall();
  let sum = 0, n = 0;
  for (let y = 304; y < 336; y++) for (let x = 608; x < 768; x++) {
    // strokes 2 px wide every 4 px, dark (28) and light (228): the mean stays 128
    const v = x % 4 < 2 ? 28 : 228;
    lettered.data.fill(v, (y * W + x) * 3, (y * W + x) * 3 + 3);
    sum += v; n++;
  }
  t.equal(sum / n, 128, 'the patch keeps the wall\'s mean');
  const r2 = cache.stats.reused;
  await d.detect(lettered, { cache });
  t.ok(cache.stats.looked + cache.stats.cropped > looked, 'the patch is looked at: its blocks\' texture changed');
  t.ok(cache.stats.reused - r2 < d.inputs(W, H).length, 'not every input answered for by the look before');
});
