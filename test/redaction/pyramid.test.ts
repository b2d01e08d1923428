import t from 'tap';
import { BlazeFace, FACE_BAND, MIN_FACE } from '../../redaction/blazeface.js';
import { pyramid, type Input } from '../../redaction/pyramid.js';
import { MIN_TEXT, TEXT_BAND, TextDetector } from '../../redaction/text-detector.js';

/*
 * The promise, as geometry: for every frame size and orientation, every object from the
 * smallest promised size up to half the frame's shorter side lies whole inside at least one
 * input of the detector, at a size inside the band its model finds (docs/redaction.md).
 */
const SIZES = [[640, 360], [360, 640], [1280, 720], [720, 1280], [1024, 768], [768, 1024], [1920, 1080], [1080, 1920], [1001, 777], [2560, 1440], [3840, 2160], [2160, 3840]] as const;

function scaleOf(i: Input) { return Math.min(i.width / i.region.w, i.height / i.region.h); }

/** Objects w x h at a grid of places; the places no input holds at a size in [lo, hi]. */
function uncovered(inputs: Input[], W: number, H: number, w: number, h: number, size: number, lo: number, hi: number): string[] {
  const bad: string[] = [];
  for (let fy = 0; fy <= 1; fy += 1 / 7) for (let fx = 0; fx <= 1; fx += 1 / 9) {
    const x = fx * (W - w), y = fy * (H - h);
    const ok = inputs.some((i) => {
      const r = i.region, s = scaleOf(i);
      return x >= r.x - 0.5 && y >= r.y - 0.5 && x + w <= r.x + r.w + 0.5 && y + h <= r.y + r.h + 0.5 && size * s >= lo - 1e-6 && size * s <= hi + 1e-6;
    });
    if (!ok) bad.push(`${Math.round(x)},${Math.round(y)}`);
  }
  return bad;
}

const face = await BlazeFace.create();
const text = await TextDetector.create();

t.test('the smallest sizes promised are the ones README.md and docs/redaction.md state', async (t) => {
  t.same(MIN_FACE, { video: 32, still: 20 }, 'faces from 32 px wide in video, 20 px in stills');
  t.same(MIN_TEXT, { video: 12, still: 8 }, 'capitals from 12 px tall in video, 8 px in stills');
});

for (const still of [false, true]) {
  t.test(`faces (${still ? 'stills' : 'video'}): from ${still ? MIN_FACE.still : MIN_FACE.video} px to half the frame, in every frame size and orientation`, async (t) => {
    for (const [W, H] of SIZES) {
      const inputs = face.inputs(W, H, still);
      t.ok(inputs.every((i) => i.width === 256 && i.height === 256), `${W}x${H}: every input is the model's 256x256`);
      const bad: string[] = [];
      for (let size: number = still ? MIN_FACE.still : MIN_FACE.video; size <= Math.min(W, H) / 2; size = Math.ceil(size * 1.2)) {
        const miss = uncovered(inputs, W, H, size, size, size, FACE_BAND.modelMin, FACE_BAND.modelMax);
        if (miss.length) bad.push(`${size} px at ${miss.slice(0, 3).join(' ')}`);
      }
      t.same(bad, [], `${W}x${H}: ${inputs.length} inputs hold every face whole at 20-160 model px`);
    }
  });

  t.test(`text (${still ? 'stills' : 'video'}): lines of ${still ? MIN_TEXT.still : MIN_TEXT.video} px characters and up, in every frame size and orientation`, async (t) => {
    for (const [W, H] of SIZES) {
      const inputs = text.inputs(W, H, still);
      t.ok(inputs.every((i) => i.width % 32 === 0 && i.height % 32 === 0 && i.width <= 1280 && i.height <= 1280), `${W}x${H}: inputs are multiples of 32, at most 1280`);
      const bad: string[] = [];
      // a plate-like line: 6 characters, about 5 times as wide as tall, up to a fifth of the frame's width
      for (let cap: number = still ? MIN_TEXT.still : MIN_TEXT.video; cap * 5 <= W / 5; cap = Math.ceil(cap * 1.2)) {
        const miss = uncovered(inputs, W, H, cap * 5, cap * 1.4, cap, TEXT_BAND.modelMin, TEXT_BAND.modelMax);
        if (miss.length) bad.push(`${cap} px at ${miss.slice(0, 3).join(' ')}`);
      }
      t.same(bad, [], `${W}x${H}: ${inputs.length} inputs hold every line whole at 8-40 px characters`);
    }
  });
}

t.test('pyramid: the finest level never samples finer than the frame, and the last is the whole frame', async (t) => {
  const inputs = pyramid(320, 180, { minObject: 4, modelMin: 8, factor: 3, maxInput: 1280, finalSide: 320, fixed: false, align: 32, aspect: 7 });
  t.equal(inputs.length, 1, 'a small frame is one input');
  t.same(inputs[0]!.region, { x: 0, y: 0, w: 320, h: 180 });
  t.same([inputs[0]!.width, inputs[0]!.height], [320, 192], 'at scale 1, rounded up to 32');
});
