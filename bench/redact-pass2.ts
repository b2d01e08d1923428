/**
 * bench/redact-pass2: an export's second pass (decode, hide, masks, watermark, x264) in RGB24
 * against yuv420p (redaction/egress.ts), alternated run by run on the same clip so that a shared
 * machine's load falls on both alike. Each run decodes the clip, hides the same boxes in every
 * frame (two of a fifth of the frame's height, as faces near the camera), watermarks it and
 * encodes it with the export's encoder; CPU time of this process and of its ffmpeg children.
 * Inputs: the first N seconds at 15 fps of Debian's Megamind.avi at 720p and 1080p.
 * `--mode buffers`: both in yuv420p, each frame read into a new buffer against buffers given
 * back to the decoder once the encoder's pipe has taken them (FrameBuffers, as the export does).
 *
 *   npm run build && node dist/bench/redact-pass2.js [--seconds 6] [--rounds 3] [--mode formats|buffers] [--out F.json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { videoInfo } from '../common/media-probe.js';
import { hide } from '../redaction/effects.js';
import { watermark } from '../redaction/watermark.js';
import { frameBytes } from '../redaction/frame.js';
import { decodeFrames, Encoder, FrameBuffers, type PixelFormat } from '../redaction/video-io.js';
import { CLK_TCK, readStat } from './proc-tree.js';
import { clip, finishResults, MEGAMIND, startResults } from './redact-clips.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, rounds: { type: 'string', default: '3' }, mode: { type: 'string', default: 'formats' }, out: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-pass2-'));

/** One second pass in `pixFmt` (`reuse`: frames read into buffers given back): CPU ms a frame of this process and of its reaped children. */
async function pass2(path: string, pixFmt: PixelFormat, reuse = false): Promise<{ node: number; ffmpeg: number; frames: number }> {
  const info = await videoInfo(path);
  const side = Math.round(info.height / 5);
  const boxes = [{ x: info.width * 0.2, y: info.height * 0.3, w: side, h: side }, { x: info.width * 0.6, y: info.height * 0.25, w: side, h: side }];
  const out = join(dir, `out-${pixFmt}.mp4`);
  rmSync(out, { force: true });
  const c0 = process.cpuUsage(), k0 = readStat(process.pid)!.reaped;
  const encoder = new Encoder(out, info, 'libx264', pixFmt);
  let frames = 0;
  const buffers = reuse ? new FrameBuffers(frameBytes(info.width, info.height, pixFmt === 'yuv420p' ? 'yuv420p' : undefined)) : undefined;
  for await (const f of decodeFrames({ path }, info, undefined, pixFmt, buffers)) {
    for (const b of boxes) hide(f, b, 'pixelate');
    watermark(f, `bench ${frames}`);
    await encoder.write(f, buffers && (() => buffers.give(f.data)));
    frames++;
  }
  await encoder.finish();
  const c = process.cpuUsage(c0), k = readStat(process.pid)!.reaped - k0;
  return { node: (c.user + c.system) / 1000 / frames, ffmpeg: ((k / CLK_TCK) * 1000) / frames, frames };
}

const results = startResults(Number(values.seconds));
try {
  for (const [w, h, label] of [[1280, 720, 'megamind-720p'], [1920, 1080, 'megamind-1080p']] as const) {
    const path = clip(dir, MEGAMIND, Number(values.seconds), w, h, label);
    const mean = (xs: Array<{ node: number; ffmpeg: number }>, k: 'node' | 'ffmpeg') => xs.reduce((s, x) => s + x[k], 0) / xs.length;
    if (values.mode === 'buffers') {
      const runs: Record<'new' | 'reused', Array<{ node: number; ffmpeg: number }>> = { new: [], reused: [] };
      for (let r = 0; r < Number(values.rounds); r++) {
        for (const v of (r % 2 === 0 ? ['new', 'reused'] : ['reused', 'new']) as Array<'new' | 'reused'>) runs[v].push(await pass2(path, 'yuv420p', v === 'reused'));
      }
      const per = (v: 'new' | 'reused') => ({ node_cpu_ms_per_frame: mean(runs[v], 'node'), ffmpeg_cpu_ms_per_frame: mean(runs[v], 'ffmpeg') });
      results[label] = { new: per('new'), reused: per('reused'), node_ratio_new_to_reused: Number((per('new').node_cpu_ms_per_frame / per('reused').node_cpu_ms_per_frame).toFixed(2)), runs };
      process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
      continue;
    }
    const runs: Record<PixelFormat, Array<{ node: number; ffmpeg: number }>> = { rgb24: [], yuv420p: [] };
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const fmt of (r % 2 === 0 ? ['rgb24', 'yuv420p'] : ['yuv420p', 'rgb24']) as PixelFormat[]) runs[fmt].push(await pass2(path, fmt));
    }
    const per = (fmt: PixelFormat) => ({ node_cpu_ms_per_frame: mean(runs[fmt], 'node'), ffmpeg_cpu_ms_per_frame: mean(runs[fmt], 'ffmpeg'), all: mean(runs[fmt], 'node') + mean(runs[fmt], 'ffmpeg') });
    const rgb = per('rgb24'), yuv = per('yuv420p');
    results[label] = { rgb24: rgb, yuv420p: yuv, ratio_rgb_to_yuv: Number((rgb.all / yuv.all).toFixed(2)), runs };
    process.stdout.write(`${label}: ${JSON.stringify(results[label])}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
finishResults(results, values.out);
