import t from 'tap';
import { BlazeFace } from '../../redaction/blazeface.js';
import { Rng, scene, scenesAvailable } from '../support/scenes.js';

/*
 * Fewer false faces: night scenes (tail lights, headlights, street lamps: two bright "eyes" in
 * the dark) and day scenes, with plates and faces, as an export sees them (video levels).
 * Every face is found; boxes where there is no face stay rare, and it is the centred second
 * look that keeps them so (every candidate kept, `sure: 0`, finds more).
 */
const missing = scenesAvailable();

t.test('faces found, few boxes where there is none, by day and at night', { skip: missing }, async (t) => {
  const product = await BlazeFace.create();
  const unconfirmed = await BlazeFace.create({ sure: 0 });
  const rng = new Rng(4242);
  let faces = 0, found = 0, falseBoxes = 0, falseUnconfirmed = 0;
  const missed: string[] = [];
  for (let i = 0; i < 6; i++) {
    const s = scene(rng, { split: 'calibration', width: 960, height: 540, plates: 2, faces: 2, minCap: 12, minFace: 40, night: i % 2 === 0 });
    const onFace = (b: { x: number; y: number; w: number; h: number }) => s.objects.some((o) => o.kind === 'face' &&
      Math.abs(b.x + b.w / 2 - (o.box.x + o.box.w / 2)) < o.box.w * 0.5 && Math.abs(b.y + b.h / 2 - (o.box.y + o.box.h / 2)) < o.box.h * 0.5);
    const boxes = await product.detect(s.frame);
    for (const o of s.objects.filter((x) => x.kind === 'face')) {
      faces++;
      if (boxes.some((b) => onFace(b) && Math.abs(b.x + b.w / 2 - (o.box.x + o.box.w / 2)) < o.box.w * 0.5)) found++;
      else missed.push(`scene ${i}: ${o.label}`);
    }
    falseBoxes += boxes.filter((b) => !onFace(b)).length;
    falseUnconfirmed += (await unconfirmed.detect(s.frame)).filter((b) => !onFace(b)).length;
  }
  t.same(missed, [], `every face found (${found} of ${faces})`);
  t.ok(falseBoxes <= 3, `boxes on no face in 6 scenes: ${falseBoxes} (without the second look: ${falseUnconfirmed})`);
  t.ok(falseUnconfirmed > falseBoxes, `the second look is what removes them (${falseUnconfirmed} -> ${falseBoxes})`);
});
