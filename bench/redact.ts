/**
 * bench/redact: frames per second of the egress pipeline (decode, detect, track, hide, masks,
 * watermark, x264) at 720p and 1080p, beside GStreamer's own `faceblur` (OpenCV Haar cascade)
 * on the same input. Input: the first N seconds of Debian's Megamind.avi (real faces), scaled and
 * re-encoded at 15 fps, the frame rate cameras are recorded at here.
 *
 *   npm run build && node dist/bench/redact.js [--seconds 10]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Catalog } from '../recorder/catalog/catalog.js';
import { configuredDetectors, redactFile } from '../redaction/egress.js';
import { CLK_TCK, readStat } from './proc-tree.js';

const MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi';
const CASCADE_GZ = '/usr/share/doc/opencv-doc/opencv4/html/haarcascade_frontalface_default.xml.gz';
const CASCADE = '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, out: { type: 'string' } } });
const seconds = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-redact-'));

function input(w: number, h: number): string {
  const path = join(dir, `in-${h}p.mp4`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', MEGAMIND, '-t', String(seconds), '-an', '-vf', `scale=${w}:${h},fps=15`, '-c:v', 'libx264',
    '-preset', 'veryfast', '-g', '30', path]);
  return path;
}

/** CPU seconds of this process and of its reaped children (ffmpeg, gst-launch). */
function cpuSeconds(): { self: number; children: number } {
  const s = readStat(process.pid)!;
  return { self: s.self / CLK_TCK, children: s.reaped / CLK_TCK };
}

/**
 * What two idle cores would do, from CPU time rather than wall time (this machine is shared and
 * its load varies): the work spread over two cores, but never faster than the busiest single
 * thread allows (Node's main thread runs detection and hiding).
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

async function ours(path: string, frames: number, label: string) {
  const dataDir = join(dir, `data-${label}`);
  const catalog = Catalog.open(dataDir);
  await configuredDetectors(); // model loading is start-up cost, not per-frame cost
  const out = join(dir, `ours-${label}.mp4`);
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const r = await redactFile({ catalog, dataDir }, { input: path, out, requester: 'bench', reason: 'bench' });
  const wall = (performance.now() - t0) / 1000;
  const c1 = cpuSeconds();
  catalog.close();
  const node = c1.self - c0.self, ffmpeg = c1.children - c0.children;
  return { fps_wall: r.frames / wall, fps_two_idle_cores: twoCoreFps(r.frames, node + ffmpeg, node), frames: r.frames, wall_s: wall,
    node_cpu_ms_per_frame: (node / r.frames) * 1000, ffmpeg_cpu_ms_per_frame: (ffmpeg / r.frames) * 1000, expected: frames };
}

function faceblur(path: string, frames: number, label: string) {
  if (spawnSync('gst-inspect-1.0', ['faceblur']).status !== 0) return { missing: 'gst element faceblur not installed (Debian: gstreamer1.0-opencv)' };
  const profile = cascade();
  if (!profile) return { missing: 'no Haar cascade (Debian: opencv-data or opencv-doc)' };
  const out = join(dir, `faceblur-${label}.mp4`);
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const r = spawnSync('gst-launch-1.0', ['-q', 'filesrc', `location=${path}`, '!', 'qtdemux', '!', 'h264parse', '!', 'avdec_h264', '!', 'videoconvert', '!',
    'faceblur', `profile=${profile}`, '!', 'videoconvert', '!', 'x264enc', 'speed-preset=veryfast', '!', 'mp4mux', '!', 'filesink', `location=${out}`], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds().children - c0.children;
  if (r.status !== 0) return { missing: `faceblur pipeline failed: ${r.stderr.trim().split('\n').pop()}` };
  // faceblur (detection and blur) runs in one streaming thread: that thread bounds the rate too,
  // but its share is not measured apart, so this is an upper bound.
  return { fps_wall: frames / wall, fps_two_idle_cores_at_most: frames / (cpu / 2), frames, wall_s: wall, cpu_ms_per_frame: (cpu / frames) * 1000 };
}

const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, seconds };
for (const [w, h] of [[1280, 720], [1920, 1080]] as const) {
  const path = input(w, h);
  const frames = frameCount(path);
  const label = `${h}p`;
  results[label] = { ours: await ours(path, frames, label), faceblur: faceblur(path, frames, label) };
  process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
}
if (values.out) {
  mkdirSync(join(values.out, '..'), { recursive: true });
  writeFileSync(values.out, JSON.stringify(results, null, 2) + '\n');
}
rmSync(dir, { recursive: true, force: true });
