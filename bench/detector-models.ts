/**
 * bench/detector-models: each form of a detector model against the one npm ships, in the same
 * run, interleaved (each round runs every model once on the same input, in a rotating order),
 * so the ratios hold on a shared machine.
 *
 * - text (PP-OCRv4 det): `float` (npm), `folded` and `int8` (scripts/quantize-models), CPU ms
 *   per inference on the inputs TextDetector really makes for 720p and 1080p frames; then recall
 *   on generated scenes of the **held-out** split (backgrounds and fonts neither the tests nor
 *   the calibration use): plates whose characters are at least 90% inside the regions found,
 *   and regions found away from every plate.
 * - faces (BlazeFace): the npm float model against a QDQ INT8 one made the same way
 *   (scripts/quantize-models.py, every Conv but the first in INT8) with uniform activation
 *   ranges: speed only (it does not depend on the ranges); no INT8 face model ships.
 *
 *   npm run build && node dist/bench/detector-models.js [--rounds 20] [--scenes 12] [--seed 1000] [--out F.json]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from '../redaction/ort.js';
import { sessionOptions } from '../redaction/onnx-detector.js';
import { modelPath, ocrModelPath, projectRoot, TEXT_MODELS, type TextModel } from '../redaction/models.js';
import { TextDetector, textInput } from '../redaction/text-detector.js';
import type { Box } from '../redaction/frame.js';
import { coveredShare, Rng, scene, type SceneObject } from '../test/support/scenes.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, scenes: { type: 'string', default: '12' }, seed: { type: 'string', default: '1000' }, out: { type: 'string' } } });
const rounds = Number(values.rounds);
const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, load_before: loadavg() };
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

/** CPU ms per run of each session on each feed, interleaved with a rotating order. */
async function race(sessions: ort.InferenceSession[], feeds: Array<() => ort.Tensor>): Promise<number[]> {
  const total = sessions.map(() => 0);
  for (const s of sessions) await s.run({ [s.inputNames[0]!]: feeds[0]!() }); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const feed of feeds) {
      for (let k = 0; k < sessions.length; k++) {
        const i = (k + r) % sessions.length, s = sessions[i]!;
        const input = feed();
        const c0 = process.cpuUsage();
        await s.run({ [s.inputNames[0]!]: input });
        total[i]! += cpuMs(process.cpuUsage(c0));
      }
    }
  }
  return total.map((t) => t / (rounds * feeds.length));
}

const forms: TextModel[] = ['float', 'folded', 'int8'];
const pathOf = (m: TextModel) => (m === 'float' ? ocrModelPath() : modelPath(TEXT_MODELS[m]));

// text: the inputs of a 720p and a 1080p frame, as the detector makes them
const rng = new Rng(Number(values.seed));
const textRows: string[] = [];
const textSessions = await Promise.all(forms.map((m) => ort.InferenceSession.create(pathOf(m), sessionOptions())));
const probe = await TextDetector.create({ model: ocrModelPath() });
const speed: Record<string, Record<string, number>> = {};
for (const [w, h] of [[1280, 720], [1920, 1080]] as const) {
  const frame = scene(rng, { split: 'held-out', width: w, height: h, plates: 3, faces: 0, minCap: 12, minFace: 32 }).frame;
  for (const input of probe.inputs(w, h)) {
    const { tensor } = textInput(frame, input.region, input.width, input.height);
    const ms = await race(textSessions, [() => new ort.Tensor('float32', tensor, [1, 3, input.height, input.width])]);
    const key = `${input.width}x${input.height} (${w}x${h})`;
    speed[key] = Object.fromEntries(forms.map((m, i) => [m, ms[i]!]));
    textRows.push(`| ${key} | ${forms.map((m, i) => `${ms[i]!.toFixed(1)}${m === 'float' ? '' : ` (${(ms[0]! / ms[i]!).toFixed(2)})`}`).join(' | ')} |`);
  }
}
results.text_speed_cpu_ms = speed;

// text: recall and regions elsewhere on held-out scenes, every form on the same frames
const detectors = await Promise.all(forms.map((m) => TextDetector.create({ model: pathOf(m) })));
const sizes = [[1280, 720], [1920, 1080], [720, 1280], [1024, 768], [640, 360], [3840, 2160]] as const;
const found = forms.map(() => ({ plates: 0, hit: 0, elsewhere: 0 }));
const missed: string[][] = forms.map(() => []);
const overlaps = (a: Box | SceneObject['box'], b: SceneObject['box']) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
for (let k = 0; k < Number(values.scenes); k++) {
  const [w, h] = sizes[k % sizes.length]!;
  const night = k % 2 === 1;
  const s = scene(rng, { split: 'held-out', width: w, height: h, plates: 3, faces: 1, minCap: 12, minFace: 32, night });
  const plates = s.objects.filter((o) => o.kind === 'plate');
  for (const [i, d] of detectors.entries()) {
    const boxes = await d.detect(s.frame);
    for (const p of plates) {
      found[i]!.plates++;
      if (coveredShare(p, boxes) >= 0.9) found[i]!.hit++; else missed[i]!.push(`${w}x${h}${night ? ' night' : ''} ${p.label}`);
    }
    found[i]!.elsewhere += boxes.filter((b) => !plates.some((p) => overlaps(b, p.box))).length;
  }
}
results.text_recall = Object.fromEntries(forms.map((m, i) => [m, { ...found[i], missed: missed[i] }]));

// faces: BlazeFace float against a QDQ INT8 made by scripts/quantize-models.py (uniform ranges: speed only)
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-models-'));
let faceRow = '';
try {
  const script = join(projectRoot(), 'scripts', 'quantize-models.py');
  const face = modelPath('face_detection_back_256x256_barracuda.onnx');
  execFileSync('/usr/bin/python3', [script, 'prepare', face, join(dir, 'face.onnx')], { stdio: 'pipe' });
  const names = JSON.parse(execFileSync('/usr/bin/python3', [script, 'augment', join(dir, 'face.onnx'), join(dir, 'aug.onnx')], { encoding: 'utf8' })) as string[];
  writeFileSync(join(dir, 'ranges.json'), JSON.stringify({ ranges: Object.fromEntries(names.map((n) => [n, [-8, 8]])) }));
  execFileSync('/usr/bin/python3', [script, 'quantize', join(dir, 'face.onnx'), join(dir, 'ranges.json'), join(dir, 'face-int8.onnx')], { stdio: 'pipe' });
  const sessions = [await ort.InferenceSession.create(readFileSync(face), sessionOptions()), await ort.InferenceSession.create(join(dir, 'face-int8.onnx'), sessionOptions())];
  const frame = scene(rng, { split: 'held-out', width: 256, height: 256, plates: 0, faces: 1, minCap: 12, minFace: 64 }).frame;
  const data = Float32Array.from(frame.data, (v) => v / 127.5 - 1);
  const ms = await race(sessions, [() => new ort.Tensor('float32', data, [1, 256, 256, 3])]);
  results.face_speed_cpu_ms = { float: ms[0], int8: ms[1] };
  faceRow = `| BlazeFace 256x256 | ${ms[0]!.toFixed(2)} | ${ms[1]!.toFixed(2)} (${(ms[0]! / ms[1]!).toFixed(2)}) |`;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
results.load_after = loadavg();

process.stdout.write(`\n${cpus().length} x ${cpus()[0]?.model}, load ${(results.load_before as number[])[0]!.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after; ${rounds} interleaved rounds\n\n`);
process.stdout.write(`| text input (frame) | ${forms.map((m) => `${m}: CPU ms${m === 'float' ? '' : ' (float / this)'}`).join(' | ')} |\n|---|${forms.map(() => '---').join('|')}|\n${textRows.join('\n')}\n\n`);
process.stdout.write(`| held-out scenes (${values.scenes}) | ${forms.join(' | ')} |\n|---|${forms.map(() => '---').join('|')}|\n`);
process.stdout.write(`| plates found | ${found.map((f) => `${f.hit}/${f.plates}`).join(' | ')} |\n| regions away from every plate | ${found.map((f) => f.elsewhere).join(' | ')} |\n`);
for (const [i, m] of forms.entries()) if (missed[i]!.length) process.stdout.write(`missed by ${m}: ${missed[i]!.join('; ')}\n`);
process.stdout.write(`\n| face model | float: CPU ms | int8: CPU ms (float / int8) |\n|---|---|---|\n${faceRow}\n`);
if (values.out) writeFileSync(values.out, JSON.stringify(results, null, 2) + '\n');
