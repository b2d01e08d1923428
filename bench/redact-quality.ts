/**
 * bench/redact-quality: how well the egress gate hides plates and faces it has never seen, and
 * what it pixelates that is neither, for this checkout and a baseline version in the same run.
 *
 * Material, generated from Debian's photos, footage and fonts (test/support/scenes.ts), with the
 * held-out split (backgrounds, fonts and faces the tests and the calibration never use) and seeds
 * of its own:
 * - stills, per frame size and orientation (640x360 to 4K, portrait, 4:3, an odd size), day and
 *   night: plates of four national formats (EU, UK rear, US, CN) with random text, font, size from
 *   12 px characters, tilt, blur and noise, faces from 32 px; each redacted as `edge-nvr redact`
 *   does. A plate or face is hidden when what is left in its box does not follow its strokes
 *   (Laplacian correlation < 0.3); "changed elsewhere" is the share of the frame changed away from
 *   every object (false detections: what they pixelate is evidence lost).
 * - moving objects on real footage (vtest.avi, a fixed street camera), landscape and portrait:
 *   plates and faces entering at random frames from random edges; frames in which an object is
 *   at least a quarter on screen and not hidden.
 *
 *   npm run build && node dist/bench/redact-quality.js [--scenes 2] [--seed 1000] [--baseline main] [--out F.json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Frame } from '../redaction/frame.js';
import { readImage } from '../redaction/image-io.js';
import { decodeFrames, writeImage } from '../redaction/video-io.js';
import { videoInfo } from '../common/media-probe.js';
import { encodeClip, movingClip, Rng, scene, type MovingObject, type SceneObject } from '../test/support/scenes.js';
import { changedOutside, strokeCorrelation } from '../test/redaction/media.js';
import { baseline, current, runJobs, type Impl, type Job } from './redact-impl.js';

const { values } = parseArgs({ options: { scenes: { type: 'string', default: '2' }, seed: { type: 'string', default: '1000' }, baseline: { type: 'string', default: 'main' },
  out: { type: 'string' }, sizes: { type: 'string' }, moving: { type: 'string', default: '2' } } });
const SIZES = (values.sizes ?? '640x360,1280x720,1920x1080,3840x2160,720x1280,1080x1920,1024x768,768x1024,1001x777').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const perSize = Number(values.scenes);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-quality-'));
const STROKES = 0.3;

async function frames(path: string): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of decodeFrames({ path }, await videoInfo(path))) out.push(f);
  return out;
}

// The material, made once and shared by both versions.
const stills: Array<{ size: string; night: boolean; input: string; objects: SceneObject[] }> = [];
let seed = Number(values.seed);
for (const [w, h] of SIZES) {
  for (let k = 0; k < perSize; k++) {
    const night = k % 2 === 1;
    const s = scene(new Rng(seed++), { split: 'held-out', width: w, height: h, plates: 3, faces: 2, minCap: 12, minFace: 32, night });
    const input = join(dir, `still-${w}x${h}-${k}.png`);
    await writeImage(s.frame, input, 'png');
    stills.push({ size: `${w}x${h}`, night, input, objects: s.objects });
  }
}
const clips: Array<{ label: string; input: string; objects: MovingObject[] }> = [];
for (let k = 0; k < Number(values.moving); k++) {
  const [w, h] = k % 2 === 0 ? [1280, 720] : [720, 1280];
  const c = movingClip(new Rng(seed++), { footage: '/usr/share/doc/opencv-doc/examples/data/vtest.avi', width: w, height: h, frames: 60, plates: 3, faces: 2, cap: [14, 30], face: [40, 110] });
  const input = join(dir, `moving-${k}.mp4`);
  encodeClip(c.frames, input);
  clips.push({ label: `${w}x${h}`, input, objects: c.objects });
}

interface Row { plates: number; platesHidden: number; faces: number; facesHidden: number; changed: number[]; misses: string[] }
async function measureStills(impl: Impl, work: string) {
  const jobs: Job[] = stills.map((s, i) => ({ input: s.input, out: join(work, `out-${i}.png`) }));
  const results = await runJobs(impl, jobs, work);
  const rows = new Map<string, Row>();
  for (const [i, s] of stills.entries()) {
    const r = results[i]!;
    const row = rows.get(s.size) ?? { plates: 0, platesHidden: 0, faces: 0, facesHidden: 0, changed: [], misses: [] };
    rows.set(s.size, row);
    if (r.error) { row.misses.push(`error: ${r.error}`); continue; }
    const before = await readImage(s.input), after = await readImage(r.out);
    for (const o of s.objects) {
      const hidden = strokeCorrelation(before, after, o.box) < STROKES;
      if (o.kind === 'plate') { row.plates++; if (hidden) row.platesHidden++; } else { row.faces++; if (hidden) row.facesHidden++; }
      if (!hidden) row.misses.push(`${s.size}${s.night ? ' night' : ''} ${o.label}`);
    }
    row.changed.push(changedOutside(before, after, s.objects.map((o) => o.box)));
  }
  return { rows: Object.fromEntries(rows), wall_s: results.reduce((a, r) => a + r.wall_s, 0) };
}

async function measureClips(impl: Impl, work: string) {
  const jobs: Job[] = clips.map((c, i) => ({ input: c.input, out: join(work, `clip-${i}.mp4`) }));
  const results = await runJobs(impl, jobs, work);
  const out: Array<{ clip: string; objects: number; onScreen: number; clear: number; detail: string[] }> = [];
  for (const [i, c] of clips.entries()) {
    const r = results[i]!;
    if (r.error) { out.push({ clip: c.label, objects: c.objects.length, onScreen: 0, clear: -1, detail: [r.error] }); continue; }
    const before = await frames(c.input), after = await frames(r.out);
    let onScreen = 0, clear = 0;
    const detail: string[] = [];
    for (const o of c.objects) {
      let mine = 0;
      o.boxes.forEach((b, n) => {
        if (!b || !after[n]) return;
        const W = before[n]!.width, H = before[n]!.height;
        const x0 = Math.max(0, b.x), y0 = Math.max(0, b.y), x1 = Math.min(W, b.x + b.w), y1 = Math.min(H, b.y + b.h);
        if (x1 <= x0 || y1 <= y0 || ((x1 - x0) * (y1 - y0)) / (b.w * b.h) < 0.25) return;
        onScreen++;
        if (strokeCorrelation(before[n]!, after[n]!, { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }) >= STROKES) { clear++; mine++; }
      });
      if (mine) detail.push(`${o.label}: ${mine} frames in the clear`);
    }
    out.push({ clip: c.label, objects: c.objects.length, onScreen, clear, detail });
  }
  return out;
}

const impls = [current(), ...(values.baseline ? [baseline(values.baseline)] : [])];
const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, seed: Number(values.seed), scenes_per_size: perSize };
try {
  for (const impl of impls) {
    const work = join(dir, impl === impls[0] ? 'current' : 'baseline');
    mkdirSync(work, { recursive: true });
    const st = await measureStills(impl, work);
    const mv = await measureClips(impl, work);
    results[impl.label] = { stills: st, moving: mv };
    process.stdout.write(`\n## ${impl.label}\n\n| frame | plates hidden | faces hidden | changed elsewhere (mean, max) |\n|---|---|---|---|\n`);
    let P = 0, PH = 0, F = 0, FH = 0;
    for (const [size, r] of Object.entries(st.rows)) {
      P += r.plates; PH += r.platesHidden; F += r.faces; FH += r.facesHidden;
      const mean = r.changed.reduce((a, b) => a + b, 0) / Math.max(1, r.changed.length);
      process.stdout.write(`| ${size} | ${r.platesHidden}/${r.plates} | ${r.facesHidden}/${r.faces} | ${(mean * 100).toFixed(2)}%, ${(Math.max(0, ...r.changed) * 100).toFixed(2)}% |\n`);
    }
    process.stdout.write(`| all | ${PH}/${P} (${((100 * PH) / Math.max(1, P)).toFixed(1)}%) | ${FH}/${F} (${((100 * FH) / Math.max(1, F)).toFixed(1)}%) | |\n`);
    process.stdout.write(`misses: ${Object.values(st.rows).flatMap((r) => r.misses).join('; ') || 'none'}\n`);
    for (const m of mv) process.stdout.write(`moving ${m.clip}: ${m.clear} of ${m.onScreen} object-frames on screen in the clear (${m.objects} objects)${m.detail.length ? ': ' + m.detail.join('; ') : ''}\n`);
  }
} finally {
  for (const i of impls) i.cleanup();
}
if (values.out) writeFileSync(values.out, JSON.stringify(results, null, 2) + '\n');
rmSync(dir, { recursive: true, force: true });
