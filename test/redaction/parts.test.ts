import t from 'tap';
import { canonicalJson } from '../../common/canonical-json.js';
import { blankFrame } from '../../redaction/frame.js';
import { burnMasks, hide } from '../../redaction/effects.js';
import { letterbox } from '../../redaction/resample.js';
import { boxMotion } from '../../redaction/motion.js';
import { TrackBuilder } from '../../redaction/tracks.js';
import { watermark } from '../../redaction/watermark.js';

const face = (x: number, y = 100, w = 20) => ({ x, y, w, h: w, cls: 'face', score: 0.9 });
const covers = (boxes: Array<{ x: number; y: number; w: number; h: number }>, x: number, y: number, w: number) =>
  boxes.some((b) => b.x <= x && b.y <= y && b.x + b.w >= x + w && b.y + b.h >= y + w);

t.test('tracks: between two detections a box follows the line between them; it is held `hold` rounds after its last', async (t) => {
  const tr = new TrackBuilder(3, 2);
  tr.round(0, [{ n: 0, box: face(100), vx: 2, vy: 0 }]);
  tr.round(3, [{ n: 3, box: face(106), vx: 2, vy: 0 }]);
  for (const n of [6, 9, 12, 15]) tr.round(n, []);
  const boxes = tr.boxes(18);
  t.ok(covers(boxes[1]!, 102, 100, 20) && covers(boxes[2]!, 104, 100, 20), 'frames 1 and 2 cover the face on its way from 100 to 106');
  t.ok(covers(boxes[7]!, 114, 100, 20), 'frame 7, two rounds after the last detection: held, carried by its motion (106 + 4 x 2)');
  t.ok(boxes[11]!.length === 1 && boxes[12]!.length === 0, 'dropped at the third round without it (frame 12)');
});

t.test('tracks: an object first found at frame 9 is hidden back to where it entered, carried backwards by its motion', async (t) => {
  const tr = new TrackBuilder(3, 2);
  for (const n of [0, 3, 6]) tr.round(n, []);
  // moving right 10 px a frame, found first at 9 (it entered the frame at about frame 4)
  tr.round(9, [{ n: 9, box: face(90), vx: 10, vy: 0 }]);
  tr.round(12, [{ n: 12, box: face(120), vx: 10, vy: 0 }]);
  const boxes = tr.boxes(13);
  for (const n of [4, 5, 6, 7, 8]) t.ok(covers(boxes[n]!, 90 - (9 - n) * 10, 100, 20), `frame ${n}: the face at ${90 - (9 - n) * 10} is covered`);
  t.equal(boxes[0]!.length, 0, 'frame 0, three rounds before, has nothing');
});

t.test('tracks: a round tells which tracks it started, lost and found away from where their motion went; sightings found between rounds join them', async (t) => {
  const tr = new TrackBuilder(10, 2);
  const first = tr.round(0, [{ n: 0, box: face(100), vx: 0, vy: 0 }, { n: 0, box: face(400), vx: 0, vy: 0 }]);
  t.equal(first.started.length, 2, 'both are new at the first round');
  // the face at 100 is gone at 10; the one at 400 turned up 15 px lower than its motion (none) put it
  const r = tr.round(10, [{ n: 10, box: face(400, 115), vx: 0, vy: 1.5 }, { n: 10, box: face(600), vx: 0, vy: 0 }]);
  t.same(r.started.map((s) => s.sighting.box.x), [600], 'started: the face at 600');
  t.same(r.lost.map((s) => s.sighting.box.x), [100], 'lost: the face last seen at 100 in frame 0');
  t.same(r.uneven.map((u) => [u.before.n, u.after.n]), [[0, 10]], 'uneven: the face at 400, from frame 0 to 10');
  // neither moved when the rounds saw them; looking between the rounds found the new face at 700
  // in frame 7 coming in at 20 px a frame (it stopped at 600), and the lost one at 160 in frame 4
  // leaving at 15 px a frame
  const before = tr.boxes(11);
  t.notOk(covers(before[8]!, 680, 100, 20) || covers(before[6]!, 190, 100, 20), 'from the rounds alone, frame 8 and frame 6 miss them');
  r.started[0]!.earlier({ n: 7, box: face(700), vx: -20, vy: 0 });
  r.lost[0]!.later({ n: 4, box: face(160), vx: 15, vy: 0 });
  const boxes = tr.boxes(11);
  t.ok(covers(boxes[8]!, 680, 100, 20), 'frame 8: the new face, between its sightings at 7 and 10, is covered where it was (680)');
  t.ok(covers(boxes[6]!, 190, 100, 20), 'frame 6: the lost face, carried from its last sighting at 4, is covered where it was (190)');
});

t.test('tracks: a scene change ends every track; nothing is carried across it', async (t) => {
  const tr = new TrackBuilder(3, 2);
  tr.round(0, [{ n: 0, box: face(100), vx: 0, vy: 0 }]);
  tr.cut(2);
  tr.round(2, [{ n: 2, box: face(300), vx: 0, vy: 0 }]);
  const boxes = tr.boxes(6);
  t.ok(covers(boxes[1]!, 100, 100, 20) && !covers(boxes[1]!, 300, 100, 20), 'frame 1 has the first shot\'s face only');
  t.ok(covers(boxes[3]!, 300, 100, 20) && !covers(boxes[3]!, 100, 100, 20), 'frame 3 has the second shot\'s face only');
});

t.test('motion: block matching finds how far a textured box moved', async (t) => {
  // a smooth random texture (noise on an 8 px lattice, interpolated), shifted right by dx
  const cell = (i: number, j: number) => ((Math.sin(i * 12.9898 + j * 78.233) * 43758.5453) % 1 + 1) % 1 * 255;
  const make = (dx: number) => {
    const f = blankFrame(200, 100);
    for (let y = 0; y < 100; y++) for (let x = 0; x < 200; x++) {
      const u = (x - dx + 64) / 8, v = y / 8, i = Math.floor(u), j = Math.floor(v), fu = u - i, fv = v - j;
      const val = (cell(i, j) * (1 - fu) + cell(i + 1, j) * fu) * (1 - fv) + (cell(i, j + 1) * (1 - fu) + cell(i + 1, j + 1) * fu) * fv;
      f.data.fill(Math.round(val), (y * 200 + x) * 3, (y * 200 + x) * 3 + 3);
    }
    return f;
  };
  t.same(boxMotion(make(0), make(7), { x: 60, y: 30, w: 40, h: 40, cls: 'face', score: 1 }), { vx: 7, vy: 0 });
  t.same(boxMotion(blankFrame(200, 100), blankFrame(200, 100), { x: 60, y: 30, w: 40, h: 40, cls: 'face', score: 1 }), { vx: 0, vy: 0 }, 'a flat box: no motion claimed');
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

t.test('a polygon mask blanks every pixel it covers any part of, as the recording path paints it', async (t) => {
  // pixels were blanked by their centres: one up to half inside a polygon's edge kept the scene,
  // and a polygon under a pixel wide blanked nothing (an outside probe, from the code)
  const W = 641, H = 361;
  const at = (f: ReturnType<typeof blankFrame>, x: number, y: number) => f.data[(y * W + x) * 3];
  const box = blankFrame(W, H);
  box.data.fill(200);
  const [x0, x1, y0, y1] = [64.7 / W, 192.3 / W, 36.7 / H, 180.3 / H]; // each edge pixel less than half inside
  burnMasks(box, [{ points: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]] }]);
  t.same([at(box, 63, 100), at(box, 64, 100), at(box, 192, 100), at(box, 193, 100)], [200, 0, 0, 200], 'columns 64 and 192, partly inside, are blanked; 63 and 193 are not');
  t.same([at(box, 100, 35), at(box, 100, 36), at(box, 100, 180), at(box, 100, 181)], [200, 0, 0, 200], 'rows 36 and 180 too');
  const thin = blankFrame(W, H);
  thin.data.fill(200);
  burnMasks(thin, [{ points: [[0.6, 0.1], [0.6005, 0.1], [0.6005, 0.9], [0.6, 0.9]] }]); // 0.3 px wide at x 384.6
  t.equal(at(thin, 384, 180), 0, 'a polygon a third of a pixel wide blanks its column');
  // a triangle on a small odd frame: every pixel with any of 16x16 sample points inside it is blanked
  const TW = 161, TH = 91;
  const tri = blankFrame(TW, TH);
  tri.data.fill(200);
  const corners: Array<[number, number]> = [[0.05, 0.9], [0.47, 0.03], [0.93, 0.71]];
  burnMasks(tri, [{ points: corners }]);
  const p = corners.map(([x, y]) => [x * TW, y * TH] as const);
  const inside = (px: number, py: number) => {
    const side = (i: number) => { const [ax, ay] = p[i]!, [bx, by] = p[(i + 1) % 3]!; return (bx - ax) * (py - ay) - (by - ay) * (px - ax); };
    const s = [side(0), side(1), side(2)];
    return s.every((v) => v > 0) || s.every((v) => v < 0);
  };
  let missed = 0;
  for (let y = 0; y < TH; y++) {
    for (let x = 0; x < TW; x++) {
      if (tri.data[(y * TW + x) * 3] === 0) continue;
      for (let k = 0; k < 256; k++) if (inside(x + ((k % 16) + 0.5) / 16, y + (Math.floor(k / 16) + 0.5) / 16)) { missed++; break; }
    }
  }
  t.equal(missed, 0, 'no pixel partly inside the triangle is left as it was');
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

t.test('letterbox: every value is the bilinear sample of its definition (what a native or ffmpeg resampling would have to match) or the padding', async (t) => {
  // a 97x61 frame of noise (odd sizes: edge clamping on both sides)
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const frame = { width: 97, height: 61, data: Buffer.alloc(97 * 61 * 3) };
  for (let i = 0; i < frame.data.length; i++) frame.data[i] = Math.floor(rnd() * 256);
  const norm = (v: number, c: number) => (v / 255 - 0.1 * c) / 0.3;
  // what one sample is: source channel c of the two rows interpolated across, then down, rounded to a level (fx as the float it
  // is kept in), normalised as tensor channel ch
  const sample = (x: number, y: number, c: number, ch: number, r: { x: number; y: number }, sx: number, sy: number) => {
    const px = r.x + (x + 0.5) / sx - 0.5, py = r.y + (y + 0.5) / sy - 0.5;
    const x0 = Math.max(0, Math.min(96, Math.floor(px))), y0 = Math.max(0, Math.min(60, Math.floor(py)));
    const x1 = Math.min(96, x0 + 1), y1 = Math.min(60, y0 + 1);
    const fx = Math.fround(Math.max(0, Math.min(1, px - x0))), fy = Math.max(0, Math.min(1, py - y0));
    const at = (xx: number, yy: number) => frame.data[(yy * 97 + xx) * 3 + c]!;
    const top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx, bot = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
    return Math.fround(norm((top + (bot - top) * fy + 0.5) | 0, ch));
  };
  const cases = [
    { region: { x: 0, y: 0, w: 97, h: 61 }, width: 64, height: 64, layout: 'nchw' as const },
    { region: { x: 10.4, y: 3.7, w: 50.2, h: 40.9 }, width: 32, height: 48, layout: 'nhwc' as const },
    { region: { x: 40, y: 20, w: 30, h: 30 }, width: 64, height: 64, layout: 'nhwc' as const, bgr: true },
    { region: { x: 5, y: 5, w: 80, h: 20 }, width: 40, height: 40, layout: 'nchw' as const, stretch: true },
  ];
  for (const [k, c] of cases.entries()) {
    const spec = { width: c.width, height: c.height, layout: c.layout, norm, pad: [-7, -8, -9], bgr: c.bgr, stretch: c.stretch };
    const fresh = letterbox(frame, c.region, spec);
    const outW = Math.min(c.width, Math.round(c.region.w * fresh.scaleX)), outH = Math.min(c.height, Math.round(c.region.h * fresh.scaleY));
    let wrong = 0;
    for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) for (let ch = 0; ch < 3; ch++) {
      const src = c.bgr ? 2 - ch : ch;
      const want = x < outW && y < outH ? sample(x, y, src, ch, c.region, fresh.scaleX, fresh.scaleY) : spec.pad[ch]!;
      const o = c.layout === 'nhwc' ? (y * c.width + x) * 3 + ch : ch * c.width * c.height + y * c.width + x;
      if (fresh.tensor[o] !== want) wrong++;
    }
    t.equal(wrong, 0, `case ${k}: every value is its bilinear sample or the padding`);
  }
});
