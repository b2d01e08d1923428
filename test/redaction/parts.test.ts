import t from 'tap';
import { blankFrame } from '../../redaction/frame.js';
import { burnMasks, hide } from '../../redaction/effects.js';
import { canonical } from '../../redaction/manifest.js';
import { Tracker } from '../../redaction/tracker.js';
import { watermark } from '../../redaction/watermark.js';

t.test('tracker: a box moves with its velocity and is held for `hold` rounds after it vanishes', async (t) => {
  const tr = new Tracker(2);
  tr.update(0, [{ x: 100, y: 100, w: 20, h: 20, cls: 'face', score: 0.9 }]);
  tr.update(3, [{ x: 106, y: 100, w: 20, h: 20, cls: 'face', score: 0.9 }]);
  const at5 = tr.boxes(5)[0]!;
  t.ok(at5.x <= 106 && at5.x + at5.w >= 130, `frame 5 covers the last (106) and the predicted (110) place: ${at5.x}..${at5.x + at5.w}`);
  tr.update(6, []);
  tr.update(9, []);
  t.equal(tr.boxes(9).length, 1, 'held through two empty rounds');
  tr.update(12, []);
  t.equal(tr.boxes(12).length, 0, 'dropped after the third');
});

t.test('pixelate leaves no pixel of the box as it was in a detailed pattern, fill is black', async (t) => {
  const f = blankFrame(60, 60);
  for (let i = 0; i < f.data.length; i += 3) f.data[i] = ((i / 3) % 2) * 255; // finest possible detail
  hide(f, { x: 0, y: 0, w: 30, h: 30 }, 'pixelate');
  let distinct = new Set<number>();
  for (let y = 0; y < 30; y++) for (let x = 0; x < 30; x++) distinct.add(f.data[(y * 60 + x) * 3]!);
  t.ok(distinct.size <= 2, `only block means left (${[...distinct].join(',')})`);
  hide(f, { x: 30, y: 30, w: 30, h: 30 }, 'fill');
  distinct = new Set();
  for (let y = 30; y < 60; y++) for (let x = 30; x < 60; x++) distinct.add(f.data[(y * 60 + x) * 3]!);
  t.same([...distinct], [0]);
});

t.test('privacy masks are solid black at their fraction of the frame', async (t) => {
  const f = blankFrame(100, 50);
  f.data.fill(200);
  burnMasks(f, [{ x: 0.5, y: 0.5, w: 0.5, h: 0.5 }]);
  t.equal(f.data[(49 * 100 + 99) * 3], 0, 'bottom-right corner masked');
  t.equal(f.data[(24 * 100 + 49) * 3], 200, 'outside untouched');
});

t.test('watermark burns the text into the bottom-left corner', async (t) => {
  const f = blankFrame(640, 360);
  watermark(f, 'box-7 20261123-abc 2026-11-23T08:00:00Z');
  let lit = 0;
  for (let i = 0; i < f.data.length; i += 3) if (f.data[i] === 255) lit++;
  t.ok(lit > 200, `${lit} lit pixels`);
  let above = 0;
  for (let i = 0; i < 640 * 340 * 3; i += 3) if (f.data[i] !== 0) above++;
  t.equal(above, 0, 'nothing drawn above the band');
});

t.test('canonical JSON does not depend on key order', async (t) => {
  t.equal(canonical({ b: 1, a: [{ d: 2, c: 3 }] }), canonical({ a: [{ c: 3, d: 2 }], b: 1 }));
  t.equal(canonical({ b: 1, a: undefined }), '{"b":1}');
});
