import type { Test } from 'tap';
import { join } from 'node:path';
import { MIN_FACE } from '../../redaction/blazeface.js';
import { redactFile } from '../../redaction/egress.js';
import type { Frame } from '../../redaction/frame.js';
import { readImage } from '../../redaction/image-io.js';
import { MIN_TEXT } from '../../redaction/text-detector.js';
import { writeImage } from '../../redaction/video-io.js';
import { Rng, scene, type SceneObject } from '../support/scenes.js';
import { changedOutside, egressContext, strokeCorrelation, tmp } from './media.js';

/*
 * Portrait, 4:3 and larger than 1080p (sizes-*.test.ts): generated scenes (plates of several national formats with
 * random text, fonts, tilt, blur and noise, and faces from Debian's photos, on real photos), each
 * object at least the size the box promises for stills, redacted through `redactFile` as the CLI
 * does. Every plate's characters and every face must lose their strokes, and what changed outside
 * them (false detections) must stay under a stated share of the frame.
 */

/** Share of the frame a still may have pixelated away from any plate or face (docs/redaction.md). */
const MAX_CHANGED_ELSEWHERE = 0.05;
/** A plate's characters or a face are hidden when what is left does not follow their strokes. */
const MAX_STROKES_LEFT = 0.3;

/** Redacts a generated scene of this size as `edge-nvr redact` does and checks every object and the rest of the frame. */
export async function checkStill(t: Test, width: number, height: number, night: boolean): Promise<void> {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  // the seed is the frame size: each size its own scene, the same on every run
  const s = scene(new Rng(width * 7 + height), { split: 'calibration', width, height, plates: 3, faces: 2, minCap: MIN_TEXT.still + 4, minFace: MIN_FACE.still + 8, night });
  const input = join(dir, 'in.png'), out = join(dir, 'out.png');
  await writeImage(s.frame, input, 'png');
  const r = await redactFile(ctx, { input, out, requester: 'tap', reason: 'test' });
  t.equal(r.blanked_frames, 0);
  const before: Frame = await readImage(input), after = await readImage(out);
  t.same([after.width, after.height], [width, height], 'same size out');
  for (const o of s.objects) {
    const left = strokeCorrelation(before, after, o.box);
    t.ok(left < MAX_STROKES_LEFT, `${o.label} at ${Math.round(o.box.x)},${Math.round(o.box.y)}: hidden (strokes left ${left.toFixed(3)})`);
  }
  const elsewhere = changedOutside(before, after, s.objects.map((o: SceneObject) => o.box));
  t.ok(elsewhere <= MAX_CHANGED_ELSEWHERE, `changed away from the plates and faces: ${(elsewhere * 100).toFixed(2)}% of the frame (at most ${MAX_CHANGED_ELSEWHERE * 100}%)`);
}
