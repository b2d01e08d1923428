/**
 * bench/redact-thread: whole exports of this checkout in variants that alternate round by round
 * on the same inputs, so a swing in a shared machine's load lands on all of them: frames per
 * second of wall time, CPU per frame (Node, all its threads, and its ffmpeg processes), the Node
 * process's peak memory, and what two idle cores would do at best (the CPU over two cores, never
 * faster than the Node process's busiest thread, whose CPU per thread is measured too).
 *
 * --mode thread (default): pass 1 on the detection thread (redaction/detection-worker.ts) against
 * pass 1 on the calling thread (EDGE_NVR_DETECTION_THREAD=0), and the thread with two onnxruntime
 * intra-op threads per session instead of one (EDGE_NVR_DETECTION_INTRA_OP).
 * --mode overlap: pass 2 beside pass 1 (redaction/overlap.ts, the default) against pass 2 after
 * pass 1 (EDGE_NVR_OVERLAP=0), both with pass 1 on the detection thread.
 *
 *   npm run build && node dist/bench/redact-thread.js [--mode thread|overlap] [--seconds 6] [--rounds 2] [--out F.json]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clip, finishResults, MEGAMIND, startResults, VTEST } from './redact-clips.js';
import { current, runJobs } from './redact-impl.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'thread' }, seconds: { type: 'string', default: '6' }, rounds: { type: 'string', default: '2' }, out: { type: 'string' } } });
const seconds = Number(values.seconds), rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-thread-'));
/** per mode, the variants (the first is the baseline of the ratios) and the environment each runs with */
const MODES: Record<string, Record<string, Record<string, string>>> = {
  thread: {
    'calling thread': { EDGE_NVR_DETECTION_THREAD: '0' },
    'detection thread, 2 intra-op': { EDGE_NVR_DETECTION_THREAD: '1', EDGE_NVR_DETECTION_INTRA_OP: '2' },
    'detection thread, 1 intra-op': { EDGE_NVR_DETECTION_THREAD: '1', EDGE_NVR_DETECTION_INTRA_OP: '1' },
  },
  overlap: {
    'pass 2 after pass 1': { EDGE_NVR_DETECTION_THREAD: '1', EDGE_NVR_OVERLAP: '0' },
    'pass 2 beside pass 1': { EDGE_NVR_DETECTION_THREAD: '1', EDGE_NVR_OVERLAP: '1' },
  },
};
const VARIANTS = MODES[values.mode!];
if (!VARIANTS) throw new Error(`--mode ${values.mode}: expected ${Object.keys(MODES).join(' or ')}`);
const round2 = (x: number) => Number(x.toFixed(2));

const impl = current();
const results: Record<string, unknown> = { ...startResults(seconds), version: impl.label, mode: values.mode, rounds };
for (const [src, w, h, label] of [[MEGAMIND, 1280, 720, 'megamind-720p'], [MEGAMIND, 1920, 1080, 'megamind-1080p'], [VTEST, 1280, 720, 'vtest-720p']] as const) {
  const path = clip(dir, src, seconds, w, h, label);
  const runs: Record<string, Array<{ fps: number; cpu: number; node: number; ffmpeg: number; twoCores: number; peakMb?: number; threads: Array<{ comm: string; cpu_s: number }> }>> = {};
  const names = Object.keys(VARIANTS);
  for (let r = 0; r < rounds; r++) {
    // the order turns each round: none of them always runs first
    for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) {
      const work = join(dir, `${label}-${r}-${name.replace(/\W+/g, '-')}`);
      mkdirSync(work, { recursive: true });
      const saved = Object.keys(VARIANTS[name]!).map((k) => [k, process.env[k]] as const);
      Object.assign(process.env, VARIANTS[name]);
      try {
        const [j] = await runJobs(impl, [{ input: path, out: join(work, 'out.mp4') }], work);
        if (!j || j.error) throw new Error(`${label}, ${name}: ${j?.error ?? 'no result'}`);
        const busiest = j.busiest_threads?.[0]?.cpu_s ?? j.node_cpu_s;
        (runs[name] ??= []).push({ fps: j.frames / j.wall_s, cpu: ((j.node_cpu_s + j.children_cpu_s) / j.frames) * 1000, node: (j.node_cpu_s / j.frames) * 1000, ffmpeg: (j.children_cpu_s / j.frames) * 1000,
          // what two idle cores would do at best: the work over two cores, never faster than the busiest thread
          twoCores: j.frames / Math.max((j.node_cpu_s + j.children_cpu_s) / 2, busiest), peakMb: j.node_peak_rss_mb, threads: j.busiest_threads ?? [] });
      } finally {
        for (const [k, v] of saved) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  }
  const base = runs[names[0]!]!;
  results[label] = Object.fromEntries(names.map((name) => {
    const rs = runs[name]!;
    const fps = median(rs.map((x) => x.fps)), cpu = median(rs.map((x) => x.cpu));
    return [name, { fps_wall: round2(fps), cpu_ms_per_frame: round2(cpu), node_ms: round2(median(rs.map((x) => x.node))), ffmpeg_ms: round2(median(rs.map((x) => x.ffmpeg))),
      fps_two_idle_cores_at_best: round2(median(rs.map((x) => x.twoCores))),
      node_peak_rss_mb: rs.some((x) => x.peakMb === undefined) ? undefined : Math.max(...rs.map((x) => x.peakMb!)),
      [`wall_speedup_vs_${names[0]!.replace(/\W+/g, '_')}`]: round2(fps / median(base.map((x) => x.fps))), [`cpu_vs_${names[0]!.replace(/\W+/g, '_')}`]: round2(cpu / median(base.map((x) => x.cpu))),
      [`two_core_speedup_vs_${names[0]!.replace(/\W+/g, '_')}`]: round2(median(rs.map((x) => x.twoCores)) / median(base.map((x) => x.twoCores))),
      runs: rs.map((x) => ({ fps: round2(x.fps), cpu: round2(x.cpu), peak_mb: x.peakMb, busiest_threads: x.threads })) }];
  }));
  process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
}
finishResults(results, values.out);
rmSync(dir, { recursive: true, force: true });
