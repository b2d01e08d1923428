/**
 * bench/redact: frames per second of the egress pipeline (two passes: decode and detect, then
 * decode, hide, watermark and x264) against a baseline version of edge-nvr (by default `main`,
 * checked out with git worktree and built, see redact-impl.ts) and GStreamer's own `faceblur`
 * (OpenCV Haar cascade), all on the same inputs in the same run, so ratios hold on a shared
 * machine. Inputs at 15 fps, the rate cameras are recorded at here: the first N seconds of
 * Debian's Megamind.avi (real faces, a moving camera with cuts) at 720p and 1080p, and of
 * vtest.avi (a fixed street camera, where unchanged parts of the frame are not looked at again)
 * at 720p.
 *
 *   npm run build && node dist/bench/redact.js [--seconds 10] [--baseline main] [--profile] [--out F.json]
 *
 * --profile: each version that has it runs with EDGE_NVR_REDACTION_PROFILE=1, and its CPU and
 * wall time per stage go into the results (`profile`); it costs a few clock reads a frame.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLK_TCK, readStat } from './proc-tree.js';
import { clip, finishResults, MEGAMIND, startResults, VTEST } from './redact-clips.js';
import { baseline, current, runJobs, type Impl, type StageProfile } from './redact-impl.js';

const CASCADE_GZ = '/usr/share/doc/opencv-doc/opencv4/html/haarcascade_frontalface_default.xml.gz';
const CASCADE = '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, out: { type: 'string' }, baseline: { type: 'string', default: 'main' },
  profile: { type: 'boolean', default: false } } });
const seconds = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-redact-'));

/** CPU seconds of this process's reaped children (gst-launch). */
function childCpu(): number {
  return readStat(process.pid)!.reaped / CLK_TCK;
}

/**
 * What two idle cores would do at best, from CPU time rather than wall time (this machine is
 * shared and its load varies): the work spread over two cores, but never faster than the
 * busiest single thread of the Node process allows (before the detection thread, its main
 * thread ran detection and hiding; with it, whichever of the two did more).
 */
function twoCoreFps(frames: number, total: number, singleThread: number): number {
  return frames / Math.max(total / 2, singleThread);
}

function frameCount(path: string): number {
  return Number(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim());
}

/** The Haar cascade faceblur needs: opencv-data's file, else the copy opencv-doc ships gzipped. */
function cascade(): string | undefined {
  if (existsSync(CASCADE)) return CASCADE;
  if (!existsSync(CASCADE_GZ)) return undefined;
  const path = join(dir, 'haarcascade_frontalface_default.xml');
  writeFileSync(path, execFileSync('gunzip', ['-c', CASCADE_GZ]));
  return path;
}

async function edgeNvr(impl: Impl, path: string, label: string) {
  const work = join(dir, `${label}-${impl === impls[0] ? 'current' : 'baseline'}`);
  mkdirSync(work, { recursive: true });
  const profiles: StageProfile[] | undefined = values.profile ? [] : undefined;
  const [r] = await runJobs(impl, [{ input: path, out: join(work, 'out.mp4') }], work, profiles);
  if (!r || r.error) return { error: r?.error ?? 'no result' };
  return { profile: profiles?.[0], fps_wall: r.frames / r.wall_s, fps_two_idle_cores: twoCoreFps(r.frames, r.node_cpu_s + r.children_cpu_s, r.busiest_threads?.[0]?.cpu_s ?? r.node_cpu_s), busiest_threads: r.busiest_threads, frames: r.frames, wall_s: r.wall_s,
    node_cpu_ms_per_frame: (r.node_cpu_s / r.frames) * 1000, ffmpeg_cpu_ms_per_frame: (r.children_cpu_s / r.frames) * 1000 };
}

function faceblur(path: string, frames: number, label: string) {
  if (spawnSync('gst-inspect-1.0', ['faceblur']).status !== 0) return { missing: 'gst element faceblur not installed (Debian: gstreamer1.0-opencv)' };
  const profile = cascade();
  if (!profile) return { missing: 'no Haar cascade (Debian: opencv-data or opencv-doc)' };
  const out = join(dir, `faceblur-${label}.mp4`);
  const t0 = performance.now();
  const c0 = childCpu();
  const r = spawnSync('gst-launch-1.0', ['-q', 'filesrc', `location=${path}`, '!', 'qtdemux', '!', 'h264parse', '!', 'avdec_h264', '!', 'videoconvert', '!',
    'faceblur', `profile=${profile}`, '!', 'videoconvert', '!', 'x264enc', 'speed-preset=veryfast', '!', 'mp4mux', '!', 'filesink', `location=${out}`], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  const cpu = childCpu() - c0;
  if (r.status !== 0) return { missing: `faceblur pipeline failed: ${r.stderr.trim().split('\n').pop()}` };
  // faceblur (detection and blur) runs in one streaming thread: that thread bounds the rate too,
  // but its share is not measured apart, so this is an upper bound.
  return { fps_wall: frames / wall, fps_two_idle_cores_at_most: frames / (cpu / 2), frames, wall_s: wall, cpu_ms_per_frame: (cpu / frames) * 1000 };
}

/** Node and ffmpeg CPU per frame of a run, when it ran. */
function cpuPerFrame(r: { node_cpu_ms_per_frame?: number; ffmpeg_cpu_ms_per_frame?: number } | undefined): number | undefined {
  return r?.node_cpu_ms_per_frame !== undefined && r.ffmpeg_cpu_ms_per_frame !== undefined ? r.node_cpu_ms_per_frame + r.ffmpeg_cpu_ms_per_frame : undefined;
}

const impls = [current(), ...(values.baseline ? [baseline(values.baseline)] : [])];
const results: Record<string, unknown> = { ...startResults(seconds), versions: impls.map((i) => i.label) };
try {
  for (const [src, w, h, label] of [[MEGAMIND, 1280, 720, 'megamind-720p'], [MEGAMIND, 1920, 1080, 'megamind-1080p'], [VTEST, 1280, 720, 'vtest-720p']] as const) {
    const path = clip(dir, src, seconds, w, h, label);
    const frames = frameCount(path);
    const now = await edgeNvr(impls[0]!, path, label);
    const before = impls[1] ? await edgeNvr(impls[1], path, label) : undefined;
    const fb = faceblur(path, frames, label);
    const fps = (x: unknown) => (x as { fps_wall?: number } | undefined)?.fps_wall;
    const ratio = (a?: number, b?: number) => (a && b ? Number((a / b).toFixed(2)) : undefined);
    results[label] = { current: now, baseline: before, faceblur: fb, speedup_vs_baseline: ratio(fps(now), fps(before)), ratio_to_faceblur: ratio(fps(now), fps(fb)),
      cpu_ratio_vs_baseline: ratio(cpuPerFrame(before), cpuPerFrame(now)) };
    process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
  }
} finally {
  for (const i of impls) i.cleanup();
}
finishResults(results, values.out);
rmSync(dir, { recursive: true, force: true });
