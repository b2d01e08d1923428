/**
 * bench/redact-thread: pass 1 on the detection thread (redaction/detection-worker.ts) against
 * pass 1 on the calling thread (EDGE_NVR_DETECTION_THREAD=0), and the thread with one onnxruntime
 * intra-op thread per session instead of two (EDGE_NVR_DETECTION_INTRA_OP=1), in whole exports of
 * this checkout: frames per second of wall time and CPU per frame (Node, all its threads, and its
 * ffmpeg processes), and what two idle cores would do at best (the CPU over two cores, never
 * faster than the Node process's busiest thread, whose CPU per thread is measured too). The variants alternate round by round on the same inputs, so a swing in a
 * shared machine's load lands on all of them.
 *
 *   npm run build && node dist/bench/redact-thread.js [--seconds 6] [--rounds 2] [--out F.json]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clip, finishResults, MEGAMIND, startResults, VTEST } from './redact-clips.js';
import { current, runJobs } from './redact-impl.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, rounds: { type: 'string', default: '2' }, out: { type: 'string' } } });
const seconds = Number(values.seconds), rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-thread-'));
const VARIANTS: Record<string, Record<string, string>> = {
  'calling thread': { EDGE_NVR_DETECTION_THREAD: '0' },
  'detection thread, 2 intra-op': { EDGE_NVR_DETECTION_THREAD: '1', EDGE_NVR_DETECTION_INTRA_OP: '2' },
  'detection thread, 1 intra-op': { EDGE_NVR_DETECTION_THREAD: '1', EDGE_NVR_DETECTION_INTRA_OP: '1' },
};
const round2 = (x: number) => Number(x.toFixed(2));

const impl = current();
const results: Record<string, unknown> = { ...startResults(seconds), version: impl.label, rounds };
for (const [src, w, h, label] of [[MEGAMIND, 1280, 720, 'megamind-720p'], [MEGAMIND, 1920, 1080, 'megamind-1080p'], [VTEST, 1280, 720, 'vtest-720p']] as const) {
  const path = clip(dir, src, seconds, w, h, label);
  const runs: Record<string, Array<{ fps: number; cpu: number; node: number; ffmpeg: number; twoCores: number; threads: Array<{ comm: string; cpu_s: number }> }>> = {};
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
          twoCores: j.frames / Math.max((j.node_cpu_s + j.children_cpu_s) / 2, busiest), threads: j.busiest_threads ?? [] });
      } finally {
        for (const [k, v] of saved) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  }
  const base = runs['calling thread']!;
  results[label] = Object.fromEntries(names.map((name) => {
    const rs = runs[name]!;
    const fps = median(rs.map((x) => x.fps)), cpu = median(rs.map((x) => x.cpu));
    return [name, { fps_wall: round2(fps), cpu_ms_per_frame: round2(cpu), node_ms: round2(median(rs.map((x) => x.node))), ffmpeg_ms: round2(median(rs.map((x) => x.ffmpeg))),
      fps_two_idle_cores_at_best: round2(median(rs.map((x) => x.twoCores))),
      wall_speedup_vs_calling_thread: round2(fps / median(base.map((x) => x.fps))), cpu_vs_calling_thread: round2(cpu / median(base.map((x) => x.cpu))),
      two_core_speedup_vs_calling_thread: round2(median(rs.map((x) => x.twoCores)) / median(base.map((x) => x.twoCores))),
      runs: rs.map((x) => ({ fps: round2(x.fps), cpu: round2(x.cpu), busiest_threads: x.threads })) }];
  }));
  process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
}
finishResults(results, values.out);
rmSync(dir, { recursive: true, force: true });
