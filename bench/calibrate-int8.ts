/**
 * bench/calibrate-int8: the activation ranges of the text detector's INT8 model, measured on
 * calibration material and written to redaction/int8/<model>.ranges.json (committed), from which
 * scripts/quantize-models makes the INT8 model on every box, the same bytes everywhere.
 *
 * The material is what the tests and the calibration of thresholds use, never the benchmark's
 * held-out split: scenes of test/support/scenes.ts (calibration split: its backgrounds, fonts
 * and faces) at several sizes and orientations, by day and at night, and frames of Debian's
 * vtest.avi and Megamind.avi. Each frame goes through the detector's own inputs (TextDetector
 * inputs() and textInput(), video and still levels), so the ranges are those of what it is fed.
 * Each tensor's range is its minimum and maximum over every input.
 *
 *   scripts/quantize-models --calibrate     (runs this with the augmented model)
 *   node dist/bench/calibrate-int8.js AUGMENTED.onnx NAMES.json OUT.json
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import ort from '../redaction/ort.js';
import { sessionOptions } from '../redaction/onnx-detector.js';
import { TextDetector, textInput } from '../redaction/text-detector.js';
import type { Frame } from '../redaction/frame.js';
import { Rng, scene } from '../test/support/scenes.js';

const [augmented, namesFile, out] = process.argv.slice(2);
if (!augmented || !namesFile || !out) throw new Error('usage: calibrate-int8.js AUGMENTED.onnx NAMES.json OUT.json');
const names = JSON.parse(readFileSync(namesFile, 'utf8')) as string[];

const OPENCV = '/usr/share/doc/opencv-doc/examples/data';
function videoFrame(path: string, seconds: number): Frame {
  const [width, height] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim().split(',').map(Number) as [number, number];
  const data = execFileSync('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: width * height * 3 + 1024 });
  return { width, height, data };
}

const frames: Array<{ frame: Frame; still: boolean }> = [];
const rng = new Rng(7000);
for (const [width, height] of [[1280, 720], [1920, 1080], [720, 1280], [640, 360], [1024, 768]] as const) {
  for (const night of [false, true]) {
    frames.push({ frame: scene(rng, { split: 'calibration', width, height, plates: 3, faces: 2, minCap: 12, minFace: 32, night }).frame, still: night });
  }
}
for (const [file, at] of [['vtest.avi', 2], ['vtest.avi', 40], ['Megamind.avi', 1], ['Megamind.avi', 4]] as const) frames.push({ frame: videoFrame(`${OPENCV}/${file}`, at), still: false });

const text = await TextDetector.create();
const session = await ort.InferenceSession.create(augmented, sessionOptions());
const ranges = new Map<string, [number, number]>(names.map((n) => [n, [Infinity, -Infinity]]));
let inputs = 0;
for (const { frame, still } of frames) {
  for (const i of text.inputs(frame.width, frame.height, still)) {
    const { tensor } = textInput(frame, i.region, i.width, i.height);
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', tensor, [1, 3, i.height, i.width]) });
    for (const [name, r] of ranges) {
      const data = result[name]!.data as Float32Array;
      for (let k = 0; k < data.length; k++) { const v = data[k]!; if (v < r[0]) r[0] = v; if (v > r[1]) r[1] = v; }
    }
    inputs++;
  }
}
// six significant digits: the file reads the same on every machine that reruns this
const round = (v: number) => Number(v.toPrecision(6));
writeFileSync(out, JSON.stringify({
  about: 'activation ranges of ch_PP-OCRv4_det_infer (prepared by scripts/quantize-models.py) for its INT8 model; made by bench/calibrate-int8.ts',
  frames: frames.length, inputs,
  ranges: Object.fromEntries([...ranges].map(([n, [lo, hi]]) => [n, [round(lo), round(hi)]])),
}, null, 1) + '\n');
process.stdout.write(`calibrate-int8: ${names.length} tensors over ${inputs} inputs of ${frames.length} frames -> ${out}\n`);
