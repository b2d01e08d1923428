import t from 'tap';
import { execFileSync } from 'node:child_process';
import { burnMasks, hide, type Method } from '../../redaction/effects.js';
import { blankFrame, frameBytes, planes, type Frame } from '../../redaction/frame.js';
import { watermark } from '../../redaction/watermark.js';
import { background, Rng, scenesAvailable } from '../support/scenes.js';

/*
 * An export's second pass hides, masks and watermarks frames in yuv420p, as ffmpeg decodes them
 * and x264 encodes them (redaction/egress.ts): it must give what the RGB24 path gives once
 * ffmpeg converts it, which is what exports wrote before. A real photo with fine detail, odd box
 * edges, a polygon mask and the watermark, converted by ffmpeg itself.
 */
const missing = scenesAvailable();
const W = 322, H = 182; // even sizes, edges of boxes at odd pixels

function toYuv(f: Frame): Frame {
  const data = execFileSync('ffmpeg', ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${f.width}x${f.height}`, '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'],
    { input: f.data, maxBuffer: 1 << 24 });
  return { width: f.width, height: f.height, data, format: 'yuv420p' };
}

/** Mean and largest absolute difference of two planes over a rectangle. */
function diff(a: Frame, b: Frame, at: number, stride: number, r: { x0: number; y0: number; x1: number; y1: number }) {
  let s = 0, n = 0, max = 0;
  for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) {
    const d = Math.abs(a.data[at + y * stride + x]! - b.data[at + y * stride + x]!);
    s += d; n++; max = Math.max(max, d);
  }
  return { mean: s / n, max };
}

for (const method of ['pixelate', 'blur', 'fill'] as Method[]) {
  t.test(`${method} in yuv420p is what ${method} in RGB24 becomes through ffmpeg's conversion`, { skip: missing }, async (t) => {
    const rgb = background(new Rng(99), 'calibration', W, H);
    const yuv = toYuv(rgb);
    t.equal(yuv.data.length, frameBytes(W, H, 'yuv420p'));
    const boxes = [{ x: 31.4, y: 17.2, w: 91.3, h: 77.5 }, { x: 201, y: 101, w: 57, h: 61 }];
    const masks = [{ points: [[0.6, 0.05], [0.95, 0.1], [0.8, 0.4]] as Array<[number, number]> }];
    for (const f of [rgb, yuv]) {
      for (const b of boxes) hide(f, b, method);
      burnMasks(f, masks);
      watermark(f, 'box-7 20261201-abc');
    }
    const converted = toYuv(rgb);
    const { u, cw, ch } = planes(yuv);
    const inside = { x0: 32, y0: 18, x1: 122, y1: 94 };
    const lumaIn = diff(converted, yuv, 0, W, inside);
    t.ok(lumaIn.mean < 1 && lumaIn.max <= 2, `luma inside a hidden box: mean ${lumaIn.mean.toFixed(2)}, max ${lumaIn.max} levels apart`);
    const lumaAll = diff(converted, yuv, 0, W, { x0: 0, y0: 0, x1: W, y1: H });
    t.ok(lumaAll.mean < 0.5, `luma of the whole frame (mask, watermark, untouched parts): mean ${lumaAll.mean.toFixed(2)} levels apart`);
    const chroma = diff(converted, yuv, u, cw, { x0: 0, y0: 0, x1: cw, y1: ch });
    t.ok(chroma.mean < 1, `chroma: mean ${chroma.mean.toFixed(2)} levels apart (at most ${chroma.max} on a box's edge, where 2x2 cells straddle it)`);
    // and the hidden box holds no more detail than block means: luma takes at most 3x3 + edge values
    const values = new Set<number>();
    for (let y = inside.y0; y < inside.y1; y++) for (let x = inside.x0; x < inside.x1; x++) values.add(yuv.data[y * W + x]!);
    if (method === 'pixelate') t.ok(values.size <= 16, `pixelated luma: ${values.size} distinct values in the box`);
    if (method === 'fill') t.same([...values], [16], 'filled luma is black (16, what RGB black converts to)');
  });
}

t.test('a blank yuv420p frame is what black RGB24 becomes', async (t) => {
  const b = blankFrame(64, 36, 'yuv420p');
  t.same(b.data, toYuv(blankFrame(64, 36)).data);
});
