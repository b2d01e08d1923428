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
