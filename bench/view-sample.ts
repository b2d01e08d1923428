/**
 * bench/view-sample: what one view sample costs, by picture format: the keyframe decoder's CPU
 * (decode, scale, convert: the helper's own clock), the Node process's CPU while it waits for and
 * receives the picture (the pipe, the copy into the shared buffer), and the analysis of it
 * (`ViewAnalysis`, as in line), for RGB24 pictures and for grey ones, interleaved keyframe by
 * keyframe so both see the same machine. The keyframes come from footage encoded once into
 * fragmented MP4 (what the recorder writes), read by the sampler's own parser.
 *
 *   npm run build && node dist/bench/view-sample.js [--width 640 --height 360] [--rounds 5] [--clip FILE]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FrameDecoder, type PictureFormat } from '../recorder/frame-decoder.js';
import { boxHeader, parseMoof, parseMoov, type VideoTrack } from '../recorder/mp4-fragments.js';
import { ViewAnalysis } from '../watchdog/view-analysis.js';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '640' }, height: { type: 'string', default: '360' },
    rounds: { type: 'string', default: '5' }, clip: { type: 'string' }, seconds: { type: 'string', default: '20' },
  },
});
const W = Number(values.width), H = Number(values.height), ROUNDS = Number(values.rounds);
const clip = values.clip ?? (existsSync(VTEST) ? VTEST : undefined);

/** Footage as the recorder writes it (H.264 in fragmented MP4, a keyframe a second), its keyframes. */
function keyframes(dir: string): { track: VideoTrack; samples: Buffer[] } {
  const out = join(dir, 'clip.mp4');
  const input = clip ? ['-stream_loop', '-1', '-i', clip] : ['-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=15`];
  execFileSync('ffmpeg', ['-v', 'error', ...input, '-t', values.seconds, '-vf', `scale=${W}:${H}`, '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '1M',
    '-g', '15', '-pix_fmt', 'yuv420p', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', out]);
  const buf = readFileSync(out);
  let track: VideoTrack | null = null;
  const samples: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length;) {
    const h = boxHeader(buf, at)!;
    const size = Number.isFinite(h.size) ? h.size : buf.length - at;
    if (h.type === 'moov') track = parseMoov(buf.subarray(at + h.headerSize, at + size));
    if (h.type === 'moof' && track) {
      for (const s of parseMoof(buf.subarray(at + h.headerSize, at + size), at, track)) if (s.keyframe) samples.push(buf.subarray(s.offset, s.offset + s.size));
    }
    at += size;
  }
  if (!track || !samples.length) throw new Error('no keyframe in the encoded footage');
  return { track, samples };
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-view-sample-'));
  const decoder = new FrameDecoder();
  try {
    const { track, samples } = keyframes(dir);
    await decoder.ready();
    const formats: PictureFormat[] = ['rgb24', 'gray'];
    const sum = Object.fromEntries(formats.map((f) => [f, { helper: 0, node: 0, analysis: 0, n: 0, bytes: 0 }]));
    const analysis = Object.fromEntries(formats.map((f) => [f, new ViewAnalysis()]));
    const into: Record<string, Buffer> = Object.fromEntries(formats.map((f) => [f, Buffer.alloc(0)]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, sample] of samples.entries()) {
        for (const format of r % 2 ? [...formats].reverse() : formats) {
          const before = process.cpuUsage();
          const pic = await decoder.decode({ codec: track.codec, extradata: track.config, sample, maxWidth: 640, maxHeight: 360, format, into: into[format] });
          const received = process.cpuUsage(before);
          into[format] = pic.data;
          const a0 = process.cpuUsage();
          analysis[format]!.run({ kind: 'view', camera: `cam${i % 16}`, width: pic.width, height: pic.height, channels: format === 'gray' ? 1 : 3, data: pic.data, reference: null });
          const analysed = process.cpuUsage(a0);
          if (r === 0) continue; // warm-up: the first round of each
          const s = sum[format]!;
          s.helper += pic.cpuMs; s.node += cpuMs(received); s.analysis += cpuMs(analysed); s.n++; s.bytes = pic.data.length;
        }
      }
    }
    console.log(`bench/view-sample: ${samples.length} keyframes of ${clip ?? 'testsrc2'} at ${W}x${H}, ${ROUNDS - 1} rounds after a warm-up, interleaved\n`);
    console.log('| picture | bytes | decoder (helper CPU) ms | Node receiving ms | analysis ms | total ms a sample |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const row = (f: PictureFormat) => {
      const s = sum[f]!;
      const v = [s.helper / s.n, s.node / s.n, s.analysis / s.n];
      return { v, total: v.reduce((a, b) => a + b, 0), line: `| ${f} | ${s.bytes} | ${v.map((x) => x.toFixed(2)).join(' | ')} | ${v.reduce((a, b) => a + b, 0).toFixed(2)} |` };
    };
    const [rgb, gray] = [row('rgb24'), row('gray')];
    console.log(rgb.line);
    console.log(gray.line);
    console.log(`| gray / rgb24 | ${(sum.gray!.bytes / sum.rgb24!.bytes).toFixed(2)} | ${gray.v.map((x, k) => (x / rgb.v[k]!).toFixed(2)).join(' | ')} | ${(gray.total / rgb.total).toFixed(2)} |`);
  } finally {
    await decoder.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
