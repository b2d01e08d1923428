/**
 * bench/redact-calibrate: how the face detector's thresholds were chosen. Every candidate the
 * detector proposes (BlazeFace score >= 0.35, the low threshold that keeps recall) on face and
 * non-face material is scored twice: as found, and by the second look centred on it
 * (BlazeFace.confirmScore). The table gives, for each pair (sure, confirm) of "keep a candidate
 * scoring `sure` or more, or confirmed at `confirm` or more", the share of real faces kept
 * (recall) and the share of kept boxes that are faces (precision).
 *
 * Material (generated with test/support/scenes.ts from Debian's photos, calibration split):
 * day and night street-like scenes at 1280x720 with faces 32-240 px and plates, night scenes
 * with tail lights, headlights and street lamps and no face at all, and skimage's LFW crops
 * (100 faces, 100 non-faces, 25x25).
 *
 *   npm run build && node dist/bench/redact-calibrate.js [--scenes 24] [--seed 1]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlazeFace } from '../redaction/blazeface.js';
import { TextDetector } from '../redaction/text-detector.js';
import type { Box, Frame } from '../redaction/frame.js';
import { Rng, scene, type SceneObject } from '../test/support/scenes.js';

const { values } = parseArgs({ options: { scenes: { type: 'string', default: '24' }, seed: { type: 'string', default: '1' } } });
const N = Number(values.scenes);
const rng = new Rng(Number(values.seed));

interface Candidate { face: boolean; score: number; confirm: number; where: string }
const candidates: Candidate[] = [];
let faces = 0;
// every candidate is kept (sure 0), so its two scores can be read
const detector = await BlazeFace.create({ sure: 0 });
// every region DBNet proposes is kept (box threshold 0), so its mean probability can be read
const text = await TextDetector.create({ boxThreshold: 0 });
interface TextScene { plates: SceneObject[]; boxes: Box[]; area: number; night: boolean }
const textScenes: TextScene[] = [];

function isFace(b: Box, truth: SceneObject[]): boolean {
  return truth.some((o) => o.kind === 'face' && Math.abs(b.x + b.w / 2 - (o.box.x + o.box.w / 2)) < o.box.w * 0.5 && Math.abs(b.y + b.h / 2 - (o.box.y + o.box.h / 2)) < o.box.h * 0.5);
}

async function measure(frame: Frame, truth: SceneObject[], where: string, still = false) {
  faces += truth.filter((o) => o.kind === 'face').length;
  const found = await detector.detect(frame, { still });
  // one candidate per real face (the best), every other candidate as it is
  const best = new Map<SceneObject, Candidate>();
  for (const b of found) {
    const c = { face: isFace(b, truth), score: b.score, confirm: await detector.confirmScore(frame, b), where };
    if (!c.face) { candidates.push(c); continue; }
    const o = truth.find((t) => t.kind === 'face' && isFace(b, [t]))!;
    const prev = best.get(o);
    // the face counts as kept if any of its candidates is kept: keep the one most likely to be
    if (!prev || Math.max(c.score, c.confirm) > Math.max(prev.score, prev.confirm)) best.set(o, c);
  }
  candidates.push(...best.values());
}

for (let i = 0; i < N; i++) {
  const nightScene = i % 2 === 1;
  const withFaces = i % 3 !== 2;
  const s = scene(rng, { split: 'calibration', width: 1280, height: 720, plates: 2, faces: withFaces ? 3 : 0, minCap: 12, minFace: 32, night: nightScene });
  await measure(s.frame, s.objects, `${nightScene ? 'night' : 'day'} scene ${i}`);
  textScenes.push({ plates: s.objects.filter((o) => o.kind === 'plate'), boxes: await text.detect(s.frame), area: s.frame.width * s.frame.height, night: nightScene });
}

// LFW: 25x25 crops as frames of their own
const raw = join(tmpdir(), `lfw-${process.pid}.u8`);
execFileSync('/usr/bin/python3', ['-c', `import numpy as np; a=np.load('/usr/lib/python3/dist-packages/skimage/data/lfw_subset.npy'); (a*255).round().astype(np.uint8).tofile('${raw}')`]);
const bytes = readFileSync(raw);
rmSync(raw);
for (let i = 0; i < 200; i++) {
  const data = Buffer.alloc(25 * 25 * 3);
  for (let p = 0; p < 625; p++) data.fill(bytes[i * 625 + p]!, p * 3, p * 3 + 3);
  const truth: SceneObject[] = i < 100 ? [{ kind: 'face', box: { x: 0, y: 0, w: 25, h: 25 }, label: 'lfw', size: 25 }] : [];
  await measure({ width: 25, height: 25, data }, truth, `lfw ${i}`);
}

const real = candidates.filter((c) => c.face), fake = candidates.filter((c) => !c.face);
console.log(`faces: ${faces}; candidates on faces: ${real.length}; candidates elsewhere: ${fake.length} (${fake.filter((c) => c.where.startsWith('night')).length} in night scenes)`);
console.log('\n| keep if score >= sure, or confirmed >= confirm | recall | precision | false boxes |');
console.log('|---|---|---|---|');
for (const sure of [0.35, 0.5, 0.6, 0.7, 0.8, 1.01]) {
  for (const confirm of sure === 0.35 ? [1.01] : [0.35, 0.5, 0.6, 0.7, 1.01]) {
    const keep = (c: Candidate) => c.score >= sure || c.confirm >= confirm;
    const tp = real.filter(keep).length, fp = fake.filter(keep).length;
    console.log(`| sure ${sure > 1 ? 'never' : sure}, confirm ${confirm > 1 ? 'never' : confirm} | ${((100 * tp) / faces).toFixed(1)}% | ${((100 * tp) / Math.max(1, tp + fp)).toFixed(1)}% | ${fp} |`);
  }
}
console.log('\nfalse candidates (score, confirm):', fake.map((c) => `${c.where} ${c.score.toFixed(2)}/${c.confirm.toFixed(2)}`).join('; '));
console.log('\nfaces lost at sure 0.6 / confirm 0.5:', real.filter((c) => !(c.score >= 0.6 || c.confirm >= 0.5)).map((c) => `${c.where} ${c.score.toFixed(2)}/${c.confirm.toFixed(2)}`).join('; '));

/** Share of a plate's characters inside the kept boxes. */
function covered(o: SceneObject, boxes: Box[]): number {
  let inside = 0, n = 0;
  for (let y = o.box.y; y < o.box.y + o.box.h; y += 1) for (let x = o.box.x; x < o.box.x + o.box.w; x += 1) {
    n++;
    if (boxes.some((b) => x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h)) inside++;
  }
  return inside / Math.max(1, n);
}
/** Area of the kept boxes that touches no plate, as a share of the frame (boxes counted apart; overlaps count twice). */
function falseArea(s: TextScene, boxes: Box[]): number {
  const off = boxes.filter((b) => !s.plates.some((o) => b.x < o.box.x + o.box.w && b.x + b.w > o.box.x && b.y < o.box.y + o.box.h && b.y + b.h > o.box.y));
  return off.reduce((a, b) => a + b.w * b.h, 0) / s.area;
}
console.log('\n| text: keep a region if its mean probability >= | plates covered >= 90% | false regions | their area (mean share of frame, day / night) |');
console.log('|---|---|---|---|');
for (const t of [0, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7]) {
  let plates = 0, hidden = 0, falseBoxes = 0;
  const day: number[] = [], nightA: number[] = [];
  for (const s of textScenes) {
    const kept = s.boxes.filter((b) => b.score >= t);
    for (const o of s.plates) { plates++; if (covered(o, kept) >= 0.9) hidden++; }
    falseBoxes += kept.filter((b) => !s.plates.some((o) => b.x < o.box.x + o.box.w && b.x + b.w > o.box.x && b.y < o.box.y + o.box.h && b.y + b.h > o.box.y)).length;
    (s.night ? nightA : day).push(falseArea(s, kept));
  }
  const mean = (a: number[]) => (100 * a.reduce((x, y) => x + y, 0)) / Math.max(1, a.length);
  console.log(`| ${t} | ${hidden}/${plates} (${((100 * hidden) / plates).toFixed(1)}%) | ${falseBoxes} | ${mean(day).toFixed(2)}% / ${mean(nightA).toFixed(2)}% |`);
}
