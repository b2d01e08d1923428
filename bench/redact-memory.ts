/**
 * bench/redact-memory: the peak resident memory of a whole export (`redactFile`, as `edge-nvr
 * redact` runs it: pass 1 on the detection thread, pass 2 beside it) per frame size, this
 * checkout against a baseline version in the same run, alternating round by round on the same
 * inputs so a shared machine's load lands on both. Per size: the Node process's peak (VmHWM,
 * MiB, model loading included; its ffmpeg processes are not in it), the wall rate and CPU per
 * frame (Node and its ffmpeg processes), and whether both versions hid the same boxes (the
 * manifests' frames, blanked frames, boxes per class and detections: a change in memory must
 * not change what is hidden).
 *
 *   npm run build && node dist/bench/redact-memory.js [--seconds 3] [--rounds 2] [--sizes 1280x720,1920x1080,3840x2160]
 *     [--baseline main | --baseline-root DIR] [--out F.json]
 *
 * Input: the first N seconds of Debian's Megamind.avi (real faces, a moving camera with cuts)
 * scaled to each size, 15 fps. `--baseline-root` takes a version already built (its dist/ and a
 * node_modules link), instead of checking out and building `--baseline`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clip, finishResults, MEGAMIND, startResults } from './redact-clips.js';
import { baseline, current, runJobs, type Impl } from './redact-impl.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '2' }, sizes: { type: 'string', default: '1280x720,1920x1080,3840x2160' },
  baseline: { type: 'string', default: 'main' }, 'baseline-root': { type: 'string' }, out: { type: 'string' } } });
const seconds = Number(values.seconds), rounds = Number(values.rounds);
const sizes = values.sizes!.split(',').map((s) => s.split('x').map(Number) as [number, number]);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-memory-'));
const base: Impl = values['baseline-root'] ? { label: `baseline at ${values['baseline-root']}`, root: values['baseline-root'], cleanup: () => {} } : baseline(values.baseline!);
const impls = [current(), base];
const round2 = (x: number) => Number(x.toFixed(2));

interface Run { peakMb: number; fps: number; cpuMs: number; hidden: string }
/** what a manifest says was hidden: equal strings, the same boxes per class and detections */
const hiddenOf = (out: string) => {
  const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as { frames: number; blanked_frames: number; boxes: Record<string, number>; detections: Record<string, number> };
  const sorted = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify({ frames: m.frames, blanked_frames: m.blanked_frames, boxes: sorted(m.boxes), detections: sorted(m.detections) });
};

const results: Record<string, unknown> = { ...startResults(seconds), versions: impls.map((i) => i.label), rounds };
try {
  for (const [w, h] of sizes) {
    const label = `megamind-${w}x${h}`;
    const input = clip(dir, MEGAMIND, seconds, w, h, label);
    const runs = new Map<Impl, Run[]>(impls.map((i) => [i, []]));
    for (let r = 0; r < rounds; r++) {
      // the order turns each round: neither version always runs first
      for (const impl of r % 2 ? [...impls].reverse() : impls) {
        const work = join(dir, `${label}-${r}-${impls.indexOf(impl)}`);
        mkdirSync(work, { recursive: true });
        const out = join(work, 'out.mp4');
        const [j] = await runJobs(impl, [{ input, out }], work);
        if (!j || j.error || j.node_peak_rss_mb === undefined) throw new Error(`${label}, ${impl.label}: ${j?.error ?? 'no result'}`);
        runs.get(impl)!.push({ peakMb: j.node_peak_rss_mb, fps: j.frames / j.wall_s, cpuMs: ((j.node_cpu_s + j.children_cpu_s) / j.frames) * 1000, hidden: hiddenOf(out) });
        rmSync(work, { recursive: true, force: true });
      }
    }
    const [mine, theirs] = impls.map((i) => runs.get(i)!) as [Run[], Run[]];
    const peak = (rs: Run[]) => Math.max(...rs.map((x) => x.peakMb));
    const fps = (rs: Run[]) => median(rs.map((x) => x.fps)), cpu = (rs: Run[]) => median(rs.map((x) => x.cpuMs));
    const hidden = new Set([...mine, ...theirs].map((x) => x.hidden));
    results[label] = {
      node_peak_rss_mb: { this: peak(mine), baseline: peak(theirs), ratio: round2(peak(mine) / peak(theirs)), runs: { this: mine.map((x) => x.peakMb), baseline: theirs.map((x) => x.peakMb) } },
      fps_wall: { this: round2(fps(mine)), baseline: round2(fps(theirs)), ratio: round2(fps(mine) / fps(theirs)) },
      cpu_ms_per_frame: { this: round2(cpu(mine)), baseline: round2(cpu(theirs)), ratio: round2(cpu(mine) / cpu(theirs)) },
      same_hidden: hidden.size === 1, hidden: [...hidden].map((x) => JSON.parse(x) as unknown),
    };
    process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
  }
} finally {
  for (const i of impls) i.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
finishResults(results, values.out);
