/**
 * CPU per camera for capture-masked recording (decode, blank, encode with x264) against plain
 * stream copy, at 720p and 1080p, in the same run: `npm run bench:masks [-- --seconds 20]`.
 *
 * Each run records one simulated RTSP camera (test/support/camera-sim.ts, `ball` pattern) for
 * the same time with exactly the daemon's GStreamer launch line (`gstreamerLaunch`, the masked
 * one for a camera with capture masks) run by gst-launch-1.0, and reads the recorder's own CPU
 * time from /proc (the camera simulator's is not counted). A third run stops the masked line
 * after the overlay (fakesink instead of the encoder): the CPU part a hardware encoder leaves
 * to the CPU (decode, blank, convert), the basis of the boards' estimates. Output: a table with
 * % of one core and the ratio masked / copy, and bench/results/capture-masks-<date>.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gstreamerLaunch } from '../recorder/backends/gstreamer.js';
import { maskSvg, type Mask } from '../recorder/capture-masks.js';
import { CameraSim } from '../test/support/camera-sim.js';
import { CLK_TCK, readStat } from './proc-tree.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const SECONDS = Number(values.seconds);
/** a PIN pad and a neighbour's window: one rectangle, one polygon */
const MASKS: Mask[] = [{ x: 0.7, y: 0.55, w: 0.12, h: 0.18 }, { points: [[0, 0], [0.25, 0], [0.2, 0.3], [0, 0.35]] }];

async function recordFor(url: string, mode: 'copy' | 'masked' | 'no-encode', dir: string): Promise<number> {
  const masked = mode !== 'copy';
  const svg = join(dir, 'masks.svg');
  writeFileSync(svg, maskSvg(MASKS));
  let launch = gstreamerLaunch({ segmentSeconds: 10, timeoutSeconds: 5, captureMasks: masked ? { masks: MASKS, encoder: 'x264enc' } : undefined });
  // gst-launch takes the properties the daemon sets in code on the line itself
  launch = launch.replace('rtspsrc name=src', `rtspsrc name=src location=${url}`)
    .replace('splitmuxsink name=mux', `splitmuxsink name=mux location=${join(dir, 'seg-%05d.mp4')}`)
    .replace('rsvgoverlay name=masks', `rsvgoverlay name=masks location=${svg}`);
  // everything up to the frames the encoder would take, into a sink that costs nothing
  if (mode === 'no-encode') launch = launch.slice(0, launch.indexOf(' ! x264enc')) + ' ! fakesink sync=false';
  const proc = spawn('gst-launch-1.0', ['-q', '-e', ...splitLaunch(launch)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += String(d); });
  const exited = new Promise<void>((r) => proc.once('close', () => r()));
  await new Promise((r) => setTimeout(r, 3000)); // connected and past the first keyframe
  const before = readStat(proc.pid!);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const after = readStat(proc.pid!);
  proc.kill('SIGINT');
  await exited;
  if (!before || !after) throw new Error(`gst-launch-1.0 died: ${stderr.slice(-500)}`);
  return (after.self - before.self) / CLK_TCK / SECONDS;
}

/** The launch line as gst-launch's argv: split on spaces outside double quotes. */
function splitLaunch(line: string): string[] {
  return line.match(/(?:[^\s"]+|"[^"]*")+/g)!.map((a) => a.replace(/"/g, ''));
}

const rows: Array<{ resolution: string; copy_cores: number; masked_cores: number; ratio: number; no_encode_cores: number }> = [];
for (const [width, height] of [[1280, 720], [1920, 1080]] as const) {
  const sim = await new CameraSim({ mounts: ['cam'], width, height, fps: 15, gop: 30, bitrate: height >= 1080 ? 4000 : 2000, pattern: 'ball' }).start();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'bench-masks-'));
    try {
      mkdirSync(join(dir, 'copy'));
      mkdirSync(join(dir, 'masked'));
      mkdirSync(join(dir, 'no-encode'));
      const copy = await recordFor(sim.url('cam'), 'copy', join(dir, 'copy'));
      const masked = await recordFor(sim.url('cam'), 'masked', join(dir, 'masked'));
      const noEncode = await recordFor(sim.url('cam'), 'no-encode', join(dir, 'no-encode'));
      rows.push({ resolution: `${width}x${height}`, copy_cores: copy, masked_cores: masked, ratio: masked / Math.max(copy, 1e-4), no_encode_cores: noEncode });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await sim.kill();
  }
}

console.log(`capture masks, ${SECONDS} s per run, 15 fps, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
console.log('resolution  stream copy (% of a core)  masked x264 (% of a core)  masked / copy  masked without encoding (% of a core)');
for (const r of rows) {
  console.log(`${r.resolution.padEnd(10)}  ${(r.copy_cores * 100).toFixed(1).padStart(25)}  ${(r.masked_cores * 100).toFixed(1).padStart(25)}  ${r.ratio.toFixed(1).padStart(13)}  ${(r.no_encode_cores * 100).toFixed(1).padStart(37)}`);
}
mkdirSync('bench/results', { recursive: true });
const out = join('bench/results', `capture-masks-${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, cpu: cpus()[0]?.model, cores: cpus().length, rows }, null, 2) + '\n');
console.log(`written ${out}`);
