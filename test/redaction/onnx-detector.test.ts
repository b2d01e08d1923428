import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../config/load.js';
import type { OnnxDetectorConfig } from '../../config/schema.js';
import { BlazeFace } from '../../redaction/blazeface.js';
import { redactFile } from '../../redaction/egress.js';
import type { Box } from '../../redaction/frame.js';
import { iou } from '../../redaction/frame.js';
import { readImage } from '../../redaction/image-io.js';
import { modelPath, ocrModelPath } from '../../redaction/models.js';
import { OnnxDetector } from '../../redaction/onnx-detector.js';
import { TextDetector } from '../../redaction/text-detector.js';
import { egressContext, MEDIA, meanDiff, tmp } from './media.js';

/*
 * The configurable detector against real models: BlazeFace with its anchor decoding appended as
 * ONNX ops (blazeface-boxes.py, four common row layouts) must find exactly what the built-in
 * BlazeFace decoder finds, and PP-OCRv4 configured as a heatmap what the built-in text detector
 * finds. The config goes through parseConfig, so defaults and validation are the product's.
 */

const dir = tmp();
const wrapped = join(dir, 'blazeface-boxes.onnx');
execFileSync('/usr/bin/python3', [fileURLToPath(new URL('./blazeface-boxes.py', import.meta.url)), modelPath('face_detection_back_256x256_barracuda.onnx'), wrapped]);

const BASE = 'box: { id: t }\nstorage: { path: /tmp/unused }\ncameras: [{ id: c, source: { type: test } }]\n';
/** One detector entry (YAML flow mapping) through the real config loader, defaults filled. */
function detectorConfig(entry: string): OnnxDetectorConfig {
  return parseConfig(`${BASE}redaction: { faces: false, plates: false, detectors: [${entry}] }\n`, 'test.yaml').redaction.detectors[0]!;
}
// BlazeFace's own input: 256x256 RGB NHWC in [-1, 1], grey letterbox padding; its NMS overlap
const FACE_INPUT = `input: { width: 256, height: 256, layout: nhwc, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], pad_value: 127.5 }`;
const face = (output: string, extra = '') =>
  `{ name: bf, model: ${wrapped}, label: face, threshold: 0.35, pad: 0, ${FACE_INPUT}, output: { format: boxes, nms_iou: 0.3, ${output} }${extra} }`;

const LAYOUTS: Record<string, string> = {
  'rows of cx cy w h score': 'tensor: rows, box: cxcywh, score_at: 4',
  'transposed rows (YOLOv8)': 'tensor: rows_t, transposed: true, box: cxcywh, score_at: 4',
  'per-class scores with labels': 'tensor: classes, transposed: true, box: cxcywh, classes_at: 4, labels: [face]',
  'logit first, normalized x1 y1 x2 y2': 'tensor: ssd, box: xyxy, box_at: 1, normalized: true, score_at: 0, sigmoid: true',
};

function sameBoxes(t: Test, got: Box[], want: Box[], label: string) {
  t.equal(got.length, want.length, `${label}: ${got.length} boxes, the built-in decoder ${want.length}`);
  for (const w of want) {
    const best = Math.max(0, ...got.map((g) => iou(g, w)));
    t.ok(best > 0.98, `${label}: the face at ${Math.round(w.x)},${Math.round(w.y)} is found (IoU ${best.toFixed(3)})`);
  }
  t.ok(got.every((g) => g.cls === 'face'), `${label}: labelled face`);
}

for (const image of ['messi', 'astronaut'] as const) {
  t.test(`${image}: every layout finds the faces the built-in BlazeFace finds`, async (t) => {
    const frame = await readImage(MEDIA[image]);
    const want = await (await BlazeFace.create({ tile: 0 })).detect(frame);
    t.ok(want.length >= 1, `the built-in detector finds ${want.length} face(s)`);
    for (const [label, output] of Object.entries(LAYOUTS)) {
      const d = await OnnxDetector.create(detectorConfig(face(output)));
      sameBoxes(t, await d.detect(frame), want, label);
    }
  });
}

t.test('tiles: a configured detector with tile finds the small faces of a 1080p frame like the built-in one', async (t) => {
  const frame = await readImage(MEDIA.astronaut);
  const big = { width: 1920, height: 1080, data: Buffer.alloc(1920 * 1080 * 3, 90) };
  // the 512x512 photo shrunk to 160 px, pasted at (1300, 700): its face is about 25 px
  const small = execFileSync('ffmpeg', ['-v', 'error', '-i', MEDIA.astronaut, '-vf', 'scale=160:160', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
  for (let y = 0; y < 160; y++) small.copy(big.data, ((700 + y) * 1920 + 1300) * 3, y * 160 * 3, (y + 1) * 160 * 3);
  t.ok(frame.width === 512, 'astronaut.png is 512 px');
  const want = await (await BlazeFace.create({ tile: 384 })).detect(big);
  const d = await OnnxDetector.create(detectorConfig(face(LAYOUTS['rows of cx cy w h score']!, ', tile: 384')));
  const got = await d.detect(big);
  t.ok(want.length >= 1 && want.every((b) => b.x > 1250 && b.y > 650), `the built-in detector finds the small face (${want.length})`);
  sameBoxes(t, got, want, 'tiled');
  const whole = await OnnxDetector.create(detectorConfig(face(LAYOUTS['rows of cx cy w h score']!)));
  const alone = await whole.detect(big);
  t.notOk(alone.some((b) => iou(b, want[0]!) > 0.5), `without tiles the 25 px face is not found (${alone.length} boxes elsewhere): tiles are what found it`);
});

t.test('heatmap: PP-OCRv4 configured by path finds the text the built-in text detector finds', async (t) => {
  const frame = await readImage(MEDIA.plate);
  // one input of the built-in detector: the whole frame letterboxed into a side x side square
  const side = Math.min(640, Math.ceil(Math.max(frame.width, frame.height) / 32) * 32);
  const want = await (await TextDetector.create()).detectRegion(frame, { x: 0, y: 0, w: frame.width, h: frame.height }, side, side);
  const d = await OnnxDetector.create(detectorConfig(`{ name: ocr, model: ${ocrModelPath()}, label: text, threshold: 0.3, pad: 0,
    input: { width: ${side}, height: ${side}, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], pad_value: [123.675, 116.28, 103.53] }, output: { format: heatmap, grow: 1 } }`));
  const got = await d.detect(frame);
  t.ok(want.length >= 1, `the built-in text detector finds ${want.length} region(s)`);
  t.equal(got.length, want.length, 'as many regions');
  for (const w of want) t.ok(Math.max(0, ...got.map((g) => iou(g, w))) > 0.98, `region at ${Math.round(w.x)},${Math.round(w.y)} found`);
  t.ok(got.every((g) => g.cls === 'text'), 'labelled text');
});

t.test('a layout that does not fit the model is refused at load, naming the field', async (t) => {
  const rows = LAYOUTS['rows of cx cy w h score']!;
  const cases: Array<[string, string, RegExp]> = [
    ['nchw for an nhwc model', face(rows).replace('layout: nhwc', 'layout: nchw'), /redaction\.detectors\[0\]\.input: the model's input input:0 has shape \[1, 256, 256, 3\] but the config gives \[1, 3, 256, 256\] \(layout nchw\); expected layout nhwc \(the model's 3 channels are last\)$/],
    ['wrong size', face(rows).replace('width: 256', 'width: 320'), /\.input: .*\[1, 256, 256, 3\].*width and height/],
    ['unknown output', face('tensor: boxes, box: cxcywh, score_at: 4'), /\.output\.tensor: the model has no output "boxes"; its outputs are rows, rows_t, classes, ssd/],
    ['unknown input', face(rows).replace('input: {', 'input: { tensor: image,'), /\.input\.tensor: the model has no input "image"; its inputs are input:0/],
    ['score beyond the row', face('tensor: rows, box: cxcywh, score_at: 7'), /\.output: rows of rows hold 5 values .* need 8; check transposed/],
    ['changed model', face(rows, `, sha256: '${'0'.repeat(64)}'`), /\.sha256: .* has sha256 [0-9a-f]{64}, not the configured 0{64}; refusing a model that changed/],
    ['missing model', face(rows).replace(wrapped, join(dir, 'nope.onnx')), /nope\.onnx is missing .*refusing to export without it/],
    ['not a model', face(rows).replace(wrapped, MEDIA.plate), /\.model: .* is not a model onnxruntime can load/],
  ];
  for (const [label, entry, want] of cases) {
    await t.rejects(OnnxDetector.create(detectorConfig(entry), 'redaction.detectors[0]'), want, label);
  }
  const sha = createHash('sha256').update(readFileSync(wrapped)).digest('hex');
  t.ok(await OnnxDetector.create(detectorConfig(face(rows, `, sha256: ${sha}`))), 'the right sha256 loads');
});

t.test('redact with only a configured detector: its faces are hidden, the manifest names it', async (t) => {
  const work = tmp();
  const ctx = egressContext(t, work);
  const config = parseConfig(`${BASE}redaction: { faces: false, plates: false, detectors: [${face(LAYOUTS['rows of cx cy w h score']!, ', tile: 512').replace('pad: 0', 'pad: 0.25')}] }\n`, 'test.yaml');
  const out = join(work, 'messi.png');
  const r = await redactFile({ ...ctx, config }, { input: MEDIA.messi, out, requester: 'tap', reason: 'test' });
  const manifest = JSON.parse(readFileSync(r.manifest, 'utf8')) as { detectors: Array<{ name: string; version: string }>; boxes: Record<string, number> };
  t.same(manifest.detectors.map((d) => d.name), ['bf'], 'only the configured detector ran');
  t.match(manifest.detectors[0]!.version, /^blazeface-boxes\.onnx@sha256:[0-9a-f]{16} boxes /, 'its model file and hash are recorded');
  t.ok((manifest.boxes.face ?? 0) >= 1, `face boxes hidden: ${manifest.boxes.face}`);
  const before = await readImage(MEDIA.messi), after = await readImage(out);
  const builtIn = await BlazeFace.create({ tile: 'auto' });
  const faces = await builtIn.detect(before);
  t.ok(faces.length >= 1, 'the built-in detector sees a face in the original');
  for (const f of faces) t.ok(meanDiff(before, after, f) > 8, `pixels of the face at ${Math.round(f.x)},${Math.round(f.y)} changed (${meanDiff(before, after, f).toFixed(1)})`);
  // the faces it found in the original are gone (the built-in detector, finer than the
  // configured one, may score a low candidate elsewhere: that is not a face the redaction missed)
  const left = (await builtIn.detect(after)).filter((b) => faces.some((f) => iou(f, b) > 0.3));
  t.same(left, [], 'the built-in detector finds none of those faces in the output');
});
