import t from 'tap';
import { join } from 'node:path';
import { BlazeFace } from '../../redaction/blazeface.js';
import type { Detector } from '../../redaction/detector.js';
import { redactFile } from '../../redaction/egress.js';
import { TextDetector } from '../../redaction/text-detector.js';
import { encodeClip, movingClip, Rng, scenesAvailable, type MovingObject } from '../support/scenes.js';
import type { Frame } from '../../redaction/frame.js';
import { allFrames, egressContext, strokeCorrelation, tmp } from './media.js';

/*
 * Frames in the clear: plates and faces moving through real footage (Debian's vtest.avi, a fixed
 * street camera), each entering at a random frame from a random edge, redacted as an export is.
 * For every object the detectors find anywhere in its track, no frame where at least a quarter
 * of it is on screen may show it: what is left must not follow its strokes, from the first frame
 * it appears to the last, not only from the first frame a detector happened to run on (faces
 * run every 3rd frame, text every 5th).
 */
const FOOTAGE = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const missing = scenesAvailable();
const detectors: Record<MovingObject['kind'], Detector> = { face: await BlazeFace.create(), plate: await TextDetector.create() };

/** Whether the object's own detector finds it in up to 3 frames where it is whole on screen. */
async function foundInTrack(o: MovingObject, frames: Frame[]): Promise<boolean> {
  const whole = o.boxes.flatMap((b, n) => (b && b.x >= 0 && b.y >= 0 && b.x + b.w <= frames[n]!.width && b.y + b.h <= frames[n]!.height ? [n] : []));
  for (const n of [whole[0], whole[whole.length >> 1], whole[whole.length - 1]]) {
    if (n === undefined) continue;
    const b = o.boxes[n]!;
    const found = await detectors[o.kind].detect(frames[n]!, { near: [{ ...b, cls: '', score: 1 }] });
    const overlap = (f: { x: number; y: number; w: number; h: number }) =>
      Math.max(0, Math.min(f.x + f.w, b.x + b.w) - Math.max(f.x, b.x)) * Math.max(0, Math.min(f.y + f.h, b.y + b.h) - Math.max(f.y, b.y));
    if (found.some((f) => overlap(f) >= 0.5 * b.w * b.h)) return true;
  }
  return false;
}

for (const [label, seed, width, height] of [['landscape 800x600', 12, 800, 600], ['portrait 600x800', 31, 600, 800]] as const) {
  t.test(`${label}: no frame shows a moving plate or face the detectors find in the clear`, { skip: missing }, async (t) => {
    const dir = tmp();
    const ctx = egressContext(t, dir);
    const clip = movingClip(new Rng(seed), { footage: FOOTAGE, width, height, frames: 36, plates: 2, faces: 2, cap: [16, 28], face: [48, 96] });
    const input = join(dir, 'in.mp4'), out = join(dir, 'out.mp4');
    encodeClip(clip.frames, input);
    const r = await redactFile(ctx, { input, out, requester: 'tap', reason: 'test' });
    t.equal(r.blanked_frames, 0);
    const before = await allFrames(input), after = await allFrames(out);
    t.equal(after.length, before.length, 'every frame is in the output');
    let tracked = 0;
    for (const o of clip.objects) {
      if (!(await foundInTrack(o, before))) { t.comment(`${o.label}: not found by its detector when whole on screen; not part of the promise`); continue; }
      tracked++;
      const clear: string[] = [];
      let onScreen = 0;
      o.boxes.forEach((b, n) => {
        if (!b) return;
        const x0 = Math.max(0, b.x), y0 = Math.max(0, b.y), x1 = Math.min(width, b.x + b.w), y1 = Math.min(height, b.y + b.h);
        if (x1 <= x0 || y1 <= y0 || ((x1 - x0) * (y1 - y0)) / (b.w * b.h) < 0.25) return;
        onScreen++;
        const left = strokeCorrelation(before[n]!, after[n]!, { x: x0, y: y0, w: x1 - x0, h: y1 - y0 });
        if (left >= 0.3) clear.push(`frame ${n} (${left.toFixed(2)}, ${Math.round(100 * ((x1 - x0) * (y1 - y0)) / (b.w * b.h))}% on screen)`);
      });
      t.same(clear, [], `${o.label}: hidden in all ${onScreen} frames it is on screen`);
    }
    t.ok(tracked >= 3, `${tracked} of ${clip.objects.length} objects found by the detectors`);
  });
}
