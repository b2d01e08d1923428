/**
 * bench/detect-cost: where pass 1's detection CPU goes, on the bench's clips. Two parts, both on
 * the calling thread with one onnxruntime intra-op thread a session (as the detection thread
 * runs them):
 *
 * 1. Inferences by purpose: pass 1 (Redactor.look over every frame, then plan) with
 *    onnxruntime's `run` counted per input shape and per purpose: a detection round's inputs,
 *    BlazeFace's second look at a candidate (confirm), the look again after hiding (recheck),
 *    looking between rounds (between).
 * 2. The resampling's share: on every `--every`th frame, each detector's `detect` (the round's
 *    inputs, BlazeFace's confirmations) and, separately, `letterbox` of the same round inputs
 *    into the same tensors (confirmations not included), CPU time of each.
 *
 *   npm run build && node dist/bench/detect-cost.js [--seconds 6] [--every 7] [--out F.json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from '../redaction/ort.js';
import { BlazeFace } from '../redaction/blazeface.js';
import { loadDetectors } from '../redaction/detectors.js';
import type { Frame } from '../redaction/frame.js';
import { DEFAULT_SETTINGS, Redactor } from '../redaction/redactor.js';
import { letterbox } from '../redaction/resample.js';
import { TextDetector, textInput } from '../redaction/text-detector.js';
import { decodeFrames } from '../redaction/video-io.js';
import { clip, finishResults, MEGAMIND, startResults, VTEST } from './redact-clips.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, every: { type: 'string', default: '7' }, out: { type: 'string' } } });
const seconds = Number(values.seconds), every = Number(values.every);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-detect-cost-'));

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

// what the current inference is for (set while a purpose's method runs; the pipeline awaits one run at a time)
let purpose = 'round';
function during<T extends object>(proto: T, method: keyof T & string, label: string): void {
  const original = proto[method] as unknown as (...a: unknown[]) => Promise<unknown>;
  (proto as Record<string, unknown>)[method] = async function (this: unknown, ...a: unknown[]) {
    const before = purpose;
    purpose = label;
    try { return await original.apply(this, a); } finally { purpose = before; }
  };
}
during(BlazeFace.prototype, 'confirmScore', 'confirm');
during(Redactor.prototype as unknown as Record<string, unknown>, 'recheck', 'recheck');
during(Redactor.prototype as unknown as Record<string, unknown>, 'lookBetween', 'between');
const runs = new Map<string, { n: number; cpu_ms: number }>();
type Run = (feeds: Record<string, ort.Tensor>, ...rest: unknown[]) => Promise<unknown>;
const sessionProto = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;
const run = sessionProto.run;
sessionProto.run = async function (this: unknown, feeds: Record<string, ort.Tensor>, ...rest: unknown[]) {
  const key = `${purpose} ${Object.values(feeds)[0]!.dims.join('x')}`;
  const c0 = cpuMs();
  try { return await run.call(this, feeds, ...rest); } finally {
    const e = runs.get(key) ?? { n: 0, cpu_ms: 0 };
    e.n++; e.cpu_ms += cpuMs() - c0;
    runs.set(key, e);
  }
};

async function measure(path: string, width: number, height: number) {
  const info = { width, height, fps: 15 } as Parameters<typeof decodeFrames>[1];
  const detectors = await loadDetectors({ faces: true, plates: true, custom: [] }, 1);
  // 1. pass 1, inferences by purpose
  runs.clear();
  const redactor = new Redactor(detectors, DEFAULT_SETTINGS, () => '');
  const frames: Frame[] = [];
  let n = 0;
  const c0 = cpuMs();
  for await (const f of decodeFrames({ path }, info)) {
    if (n % every === 0) frames.push({ ...f, data: Buffer.from(f.data) });
    await redactor.look(f, n++);
  }
  await redactor.plan();
  const passOne = cpuMs() - c0;
  const inferences = Object.fromEntries([...runs].sort((a, b) => b[1].cpu_ms - a[1].cpu_ms).map(([k, v]) => [k, { runs: v.n, cpu_ms_per_frame: +(v.cpu_ms / n).toFixed(2) }]));
  // 2. the resampling's share of each detector's round
  const share: Record<string, unknown> = {};
  for (const d of detectors) {
    for (const f of frames.slice(0, 2)) await d.detect(f, {}); // warm
    let detect = 0, resample = 0, inputs = 0;
    for (let round = 0; round < 2; round++) {
      for (const f of frames) {
        let t = cpuMs();
        await d.detect(f, {});
        detect += cpuMs() - t;
        t = cpuMs();
        if (d instanceof TextDetector) {
          for (const i of d.inputs(f.width, f.height)) { textInput(f, i.region, i.width, i.height); inputs++; }
        } else if (d instanceof BlazeFace) {
          // BlazeFace.detectRegion's sampling of a round input
          for (const i of d.inputs(f.width, f.height)) { letterbox(f, i.region, { width: 256, height: 256, layout: 'nhwc', norm: (v) => v / 127.5 - 1, pad: [0, 0, 0] }); inputs++; }
        }
        resample += cpuMs() - t;
      }
    }
    const k = 2 * frames.length;
    share[d.name] = { detect_cpu_ms: +(detect / k).toFixed(2), resample_round_inputs_cpu_ms: +(resample / k).toFixed(2), round_inputs: inputs / k, resample_share: +(resample / detect).toFixed(3) };
  }
  return { frames: n, pass_one_cpu_ms_per_frame: +(passOne / n).toFixed(2), inferences, detection_frames: frames.length, resampling: share };
}

const results: Record<string, unknown> = startResults(seconds);
results.every = every;
try {
  for (const [label, src, w, h] of [['megamind-720p', MEGAMIND, 1280, 720], ['vtest-720p', VTEST, 1280, 720], ['megamind-1080p', MEGAMIND, 1920, 1080]] as const) {
    const r = await measure(clip(dir, src, seconds, w, h, label), w, h);
    results[label] = r;
    console.log(`${label}: ${JSON.stringify(r)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
finishResults(results, values.out);
