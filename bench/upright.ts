/**
 * bench/upright: what showing an input as a viewer sees it costs an export (docs/redaction.md
 * "Inputs"). Two figures, each against its baseline in the same run, alternated run by run:
 * - the probe: `videoInfo` (streams, pixel aspect, pixel format, display matrix and the first
 *   frame's, which decodes that frame) against the stream-only probe it replaced;
 * - pass 1's decoding to RGB24 of a phone's portrait clip (a rotation in its display matrix, turned
 *   by the decoder) against the same coded stream without the rotation; CPU of the ffmpeg children.
 * Inputs: the first N seconds of Debian's Megamind.avi at 1080p, 15 fps.
 *
 *   npm run build && node dist/bench/upright.js [--seconds 4] [--rounds 5] [--out F.json]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { probe, videoInfo } from '../common/media-probe.js';
import { decodeFrames } from '../redaction/video-io.js';
import { CLK_TCK, readStat } from './proc-tree.js';
import { clip, finishResults, MEGAMIND, startResults } from './redact-clips.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '5' }, out: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-upright-'));

async function wallMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Pass 1's decoding of `path` as the export does it: CPU ms a frame of the reaped ffmpeg. */
async function decodeCpu(path: string): Promise<{ ms_per_frame: number; frames: number; size: string }> {
  const info = await videoInfo(path);
  const k0 = readStat(process.pid)!.reaped;
  let frames = 0;
  for await (const f of decodeFrames({ path }, info)) { frames++; void f; }
  const k = readStat(process.pid)!.reaped - k0;
  return { ms_per_frame: ((k / CLK_TCK) * 1000) / frames, frames, size: `${info.width}x${info.height}` };
}

const results = startResults(Number(values.seconds));
try {
  const plain = clip(dir, MEGAMIND, Number(values.seconds), 1920, 1080, 'megamind-1080p');
  const turned = join(dir, 'in-megamind-1080p-rotate90.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', plain, '-c', 'copy', '-metadata:s:v', 'rotate=90', turned]);
  const probes = { stream_only: [] as number[], video_info: [] as number[] };
  const decodes = { upright: [] as number[], turned: [] as number[] };
  let sizes: Record<string, string> = {};
  for (let r = 0; r < Number(values.rounds); r++) {
    const order = r % 2 === 0 ? ['stream_only', 'video_info'] as const : ['video_info', 'stream_only'] as const;
    for (const k of order) probes[k].push(await wallMs(() => (k === 'video_info' ? videoInfo(turned) : probe(turned, { videoOnly: true }))));
    for (const k of (r % 2 === 0 ? ['upright', 'turned'] as const : ['turned', 'upright'] as const)) {
      const d = await decodeCpu(k === 'turned' ? turned : plain);
      decodes[k].push(d.ms_per_frame);
      sizes = { ...sizes, [k]: d.size };
    }
  }
  results.probe_wall_ms = { stream_only: median(probes.stream_only), video_info: median(probes.video_info),
    ratio: Number((median(probes.video_info) / median(probes.stream_only)).toFixed(2)), runs: probes };
  results.decode_ffmpeg_cpu_ms_per_frame = { upright: median(decodes.upright), turned: median(decodes.turned),
    ratio: Number((median(decodes.turned) / median(decodes.upright)).toFixed(2)), sizes, runs: decodes };
  process.stdout.write(`probe (wall ms, median): stream only ${median(probes.stream_only).toFixed(0)}, videoInfo ${median(probes.video_info).toFixed(0)}, ratio ${(median(probes.video_info) / median(probes.stream_only)).toFixed(2)}\n`);
  process.stdout.write(`pass-1 decode (ffmpeg CPU ms a frame, median): upright ${median(decodes.upright).toFixed(1)} (${sizes.upright}), turned ${median(decodes.turned).toFixed(1)} (${sizes.turned}), ratio ${(median(decodes.turned) / median(decodes.upright)).toFixed(2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
finishResults(results, values.out);
