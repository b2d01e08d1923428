import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { redactFile } from '../../redaction/egress.js';
import { readImage } from '../../redaction/image-io.js';
import { egressContext, laplacianVariance, MEDIA, strokeCorrelation, tmp } from './media.js';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';

/** A street-like frame with a plate-style text rendered at a known place (1280x720). */
function plateFrame(dir: string, text: string, x: number, y: number, size: number): { path: string; box: { x: number; y: number; w: number; h: number } } {
  const path = join(dir, `plate-${x}-${y}.png`);
  const w = Math.round(size * text.length * 0.68), h = Math.round(size * 1.5);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=1', '-frames:v', '1', '-vf',
    `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=white:t=fill,drawtext=fontfile=${FONT}:text='${text}':x=${x + size * 0.2}:y=${y + size * 0.25}:fontsize=${size}:fontcolor=black`, path]);
  // inside the plate's own outline (that edge against the street is not text, and stays)
  return { path, box: { x: x + 3, y: y + 3, w: w - 6, h: h - 6 } };
}

async function detailLoss(t: Test, input: string, box: { x: number; y: number; w: number; h: number }, label: string) {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  const out = join(dir, 'out.png');
  const r = await redactFile(ctx, { input, out, requester: 'tap', reason: 'test' });
  t.equal(r.blanked_frames, 0);
  const a = await readImage(input), b = await readImage(out);
  const before = laplacianVariance(a, box);
  const after = laplacianVariance(b, box);
  const kept = strokeCorrelation(a, b, box);
  t.comment(`${label}: Laplacian variance in the plate ${before.toFixed(1)} -> ${after.toFixed(1)} (${((1 - after / before) * 100).toFixed(1)}% less); ` +
    `correlation of the strokes before/after ${kept.toFixed(3)}`);
  t.ok(before > 20, `${label}: the plate has detail to lose (${before.toFixed(1)})`);
  t.ok(after < before * 0.25, `${label}: Laplacian variance down by more than 75% (${before.toFixed(1)} -> ${after.toFixed(1)}; what is left is the mosaic's block edges)`);
  t.ok(kept < 0.1, `${label}: what is left does not follow the letters' strokes (correlation ${kept.toFixed(3)})`);
}

t.test('licenseplate_motion.jpg: the plate loses its detail', (t) => detailLoss(t, MEDIA.plate, { x: 232, y: 228, w: 124, h: 64 }, 'licenseplate_motion.jpg'));

for (const [text, x, y, size] of [['AB 123 CD', 400, 500, 40], ['B 7Q4 KX', 900, 120, 28], ['ZJ 88 031', 60, 300, 22]] as const) {
  t.test(`rendered plate "${text}" at ${size} px loses its detail`, async (t) => {
    const { path, box } = plateFrame(tmp(), text, x, y, size);
    await detailLoss(t, path, box, `"${text}" ${size}px`);
  });
}
