import t from 'tap';
import { canonicalJson } from '../../common/canonical-json.js';
import { blankFrame } from '../../redaction/frame.js';
import { burnMasks, hide } from '../../redaction/effects.js';
import { letterbox } from '../../redaction/resample.js';
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
  t.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }));
  t.equal(canonicalJson({ b: 1, a: undefined }), '{"b":1}');
});

t.test('letterbox: channel order, layouts, padding and stretch map pixels where a model expects them', async (t) => {
  // a 4x2 frame: pixel (x, y) is RGB (10x + y, 100 + x, 200 + y)
  const frame = { width: 4, height: 2, data: Buffer.alloc(4 * 2 * 3) };
  for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) frame.data.set([10 * x + y, 100 + x, 200 + y], (y * 4 + x) * 3);
  const whole = { x: 0, y: 0, w: 4, h: 2 };
  const norm = (v: number) => v;
  const box = letterbox(frame, whole, { width: 4, height: 4, layout: 'nchw', norm, pad: [-1, -2, -3] });
  t.same([box.scaleX, box.scaleY], [1, 1], 'aspect kept: scale 1 into a 4x4 input');
  const at = (tensor: Float32Array, c: number, y: number, x: number) => tensor[c * 16 + y * 4 + x];
  t.same([at(box.tensor, 0, 1, 3), at(box.tensor, 1, 1, 3), at(box.tensor, 2, 1, 3)], [31, 103, 201], 'NCHW: pixel (3, 1) as R, G, B planes');
  t.same([at(box.tensor, 0, 2, 0), at(box.tensor, 1, 3, 3), at(box.tensor, 2, 2, 1)], [-1, -2, -3], 'rows below the picture are padding, per channel');
  const bgr = letterbox(frame, whole, { width: 4, height: 4, layout: 'nhwc', norm, pad: [0, 0, 0], bgr: true });
  t.same(Array.from(bgr.tensor.subarray((1 * 4 + 2) * 3, (1 * 4 + 2) * 3 + 3)), [201, 102, 21], 'NHWC BGR: pixel (2, 1) as B, G, R');
  const stretched = letterbox(frame, whole, { width: 4, height: 4, layout: 'nchw', norm, pad: [-1, -1, -1], stretch: true });
  t.same([stretched.scaleX, stretched.scaleY], [1, 2], 'stretch fills the input');
  t.same([0, 1, 2, 3].map((y) => at(stretched.tensor, 2, y, 0)), [200, 200, 201, 201], 'no padding; rows sampled bilinearly (0.25 and 0.75 round to the nearer row)');
  const lut = letterbox(frame, { x: 2, y: 0, w: 2, h: 2 }, { width: 2, height: 2, layout: 'nchw', norm: (v, c) => (v / 255 - 0.5 * c) / 0.5, pad: [0, 0, 0] });
  t.same(Array.from(lut.tensor).map((v) => Math.round(v * 1000) / 1000), [20, 30, 21, 31, 102, 103, 102, 103, 200, 200, 201, 201].map((v, i) => Math.round(((v / 255 - 0.5 * Math.floor(i / 4)) / 0.5) * 1000) / 1000),
    'a region of the frame, with a per-channel normalisation');
});
