/**
 * bench/region-cache: what looking again only around what changed (redaction/region-cache.ts)
 * saves the text detector, interleaved so that a shared machine's load falls on both alike: on
 * every 5th frame of each clip (the text detector's rounds) the detector looks at the frame
 * whole (no cache) and through the region cache (whole, in parts or not at all, as the export
 * does), the order alternating from round to round, each timed in CPU time of this process
 * (onnxruntime's threads included). Inputs: the first N seconds at 15 fps of Debian's vtest.avi
 * (a fixed street camera) at 720p and 1080p and of Megamind.avi (a moving camera) at 720p.
 * Also counted: boxes of the whole look that the cached answer covers less than half of (the
 * price of reusing an answer on pixels that did not change: DBNet's answer there flickers).
 *
 *   npm run build && node dist/bench/region-cache.js [--seconds 6] [--out F.json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { videoInfo } from '../common/media-probe.js';
import type { Box } from '../redaction/frame.js';
import { RegionCache } from '../redaction/region-cache.js';
import { TextDetector } from '../redaction/text-detector.js';
import { decodeFrames } from '../redaction/video-io.js';
import { clip, finishResults, MEGAMIND, startResults, VTEST } from './redact-clips.js';

const EVERY = 5;

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, out: { type: 'string' }, only: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-region-cache-'));

async function cpuOf<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const c0 = process.cpuUsage();
  const r = await fn();
  const c = process.cpuUsage(c0);
  return [r, (c.user + c.system) / 1000];
}

const inter = (a: Box, b: Box) => Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) * Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));

const detector = await TextDetector.create();
const results = startResults(Number(values.seconds));
try {
  for (const [src, w, h, label] of ([[MEGAMIND, 1280, 720, 'megamind-720p'], [VTEST, 1280, 720, 'vtest-720p'], [VTEST, 1920, 1080, 'vtest-1080p']] as const).filter((c) => !values.only || c[3] === values.only)) {
    const path = clip(dir, src, Number(values.seconds), w, h, label);
    const cache = new RegionCache();
    let n = 0, rounds = 0, whole = 0, cached = 0, notCovered = 0, wholeBoxes = 0;
    for await (const f of decodeFrames({ path }, await videoInfo(path))) {
      if (n++ % EVERY !== 0) continue;
      // both looks read a frame already in the CPU caches (the first reader of a fresh frame pays more)
      let sum = 0;
      for (let i = 0; i < f.data.length; i += 64) sum += f.data[i]!;
      if (sum < 0) throw new Error('unreachable');
      const a = () => cpuOf(() => detector.detect(f, {}));
      const b = () => cpuOf(() => detector.detect(f, { cache }));
      let full: [Box[], number], part: [Box[], number];
      if (rounds++ % 2 === 0) { full = await a(); part = await b(); } else { part = await b(); full = await a(); }
      whole += full[1]; cached += part[1];
      wholeBoxes += full[0].length;
      notCovered += full[0].filter((x) => part[0].reduce((s, y) => s + inter(x, y), 0) < 0.5 * x.w * x.h).length;
    }
    const s = cache.stats;
    results[label] = { rounds, whole_cpu_ms_per_round: whole / rounds, cached_cpu_ms_per_round: cached / rounds, ratio_whole_to_cached: Number((whole / cached).toFixed(2)),
      inputs: { looked_whole: s.looked, reused: s.reused, looked_in_parts: s.cropped, mean_share_of_parts: s.cropped ? Number((s.croppedShare / s.cropped).toFixed(3)) : 0 },
      whole_look_boxes: wholeBoxes, whole_look_boxes_covered_under_half: notCovered };
    process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
finishResults(results, values.out);
