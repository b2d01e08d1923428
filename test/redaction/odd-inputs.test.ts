import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlazeFace } from '../../redaction/blazeface.js';
import { redactFile, type EgressContext } from '../../redaction/egress.js';
import { frameBytes, type Frame } from '../../redaction/frame.js';
import { readImage } from '../../redaction/image-io.js';
import { Encoder } from '../../redaction/video-io.js';
import { probe } from '../../common/media-probe.js';
import { parseConfig } from '../../config/load.js';
import { auditEntries } from '../../recorder/catalog/audit-log.js';
import { runCli } from '../support/cli.js';
import { allFrames, egressContext, MEDIA, meanDiff, tmp } from './media.js';

/*
 * Inputs the project's own recordings never are (docs/redaction.md "Inputs"): phone clips and
 * photos that a player turns upright, odd and tiny sizes, 4K, non-square pixels, other codecs,
 * audio, one frame, variable frame rate, broken files, awkward names. Each is decoded as the
 * detectors are given it (the one decoder both passes and stills use) and, where the output itself
 * is in question, redacted as `edge-nvr redact` does: what comes out must be the picture a viewer
 * of the input sees, with the face hidden, or the job must fail with a clear error, on record,
 * leaving nothing behind.
 *
 * The scene: a portrait crop of messi5.jpg (Debian's opencv-doc), one face 34 px wide, as a
 * viewer sees it: the reference every output is compared with.
 */
const dir = tmp();
const ctx: EgressContext = egressContext(t, dir);
const W = 240, H = 342;
const ref = join(dir, 'upright.png');
ff('-i', MEDIA.messi, '-vf', `crop=${W}:${H}:120:0`, ref);
const upright = await readImage(ref);
const detector = await BlazeFace.create({ tile: 'auto' });
const faces = (await detector.detect(upright)).filter((f) => f.score >= 0.5);

function ff(...args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
}

/** A few frames of the scene at 10 fps: `vf` makes the coded picture from the upright one. */
function clip(name: string, vf: string, codec: string[] = ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'], frames = 4, extra: string[] = []): string {
  const out = join(dir, name);
  ff('-loop', '1', '-framerate', '10', '-i', ref, ...extra, '-frames:v', String(frames), '-vf', vf, ...codec, out);
  return out;
}

/** The upright scene scaled to `w` x `h` (what a viewer of an input of that size sees). */
async function scaled(w: number, h: number): Promise<Frame> {
  const p = join(dir, `ref-${w}x${h}.png`);
  if (!existsSync(p)) ff('-i', ref, '-vf', `scale=${w}:${h},setsar=1`, '-compression_level', '0', p);
  return readImage(p);
}

/**
 * Share of blocks (a grid of about 12 on the picture's shorter side, away from the face and its
 * hidden box when `skip` names it, above the watermark band) whose mean luma is within 16 of the
 * reference's: about 1 for the same picture through a codec, with pixelated false detections
 * (a mosaic keeps a block's mean), far lower for one turned, squeezed or read at the wrong stride.
 */
function agreement(reference: Frame, out: Frame, skip: typeof faces = []): number {
  const luma = (f: Frame, x: number, y: number) => { const i = (y * f.width + x) * 3; return 0.299 * f.data[i]! + 0.587 * f.data[i + 1]! + 0.114 * f.data[i + 2]!; };
  const sx = reference.width / upright.width, sy = reference.height / upright.height;
  // a tracked box may grow well past the face it hides
  const grown = skip.map((f) => ({ x0: (f.x - 2 * f.w) * sx, y0: (f.y - 2 * f.h) * sy, x1: (f.x + 3 * f.w) * sx, y1: (f.y + 3 * f.h) * sy }));
  const band = Math.max(1, Math.floor(out.height / 360)) * 9 + 2;
  const B = Math.max(1, Math.floor(Math.min(reference.width, reference.height) / 12));
  let agree = 0, n = 0;
  for (let by = 0; by + B <= Math.min(reference.height, out.height - band); by += B) {
    for (let bx = 0; bx + B <= Math.min(reference.width, out.width); bx += B) {
      if (grown.some((g) => bx + B > g.x0 && bx < g.x1 && by + B > g.y0 && by < g.y1)) continue;
      let a = 0, b = 0;
      for (let y = by; y < by + B; y++) for (let x = bx; x < bx + B; x++) { a += luma(reference, x, y); b += luma(out, x, y); }
      n++;
      if (Math.abs(a - b) / (B * B) <= 16) agree++;
    }
  }
  return n ? agree / n : 0;
}

const AGREE = 0.85;

/** Each frame is the viewer's picture (`reference`, at the top left of the frame) of size `size`; with `hidden`, the scene's face is hidden in each. */
function shows(t: Test, what: string, got: Frame[], reference: Frame, size: [number, number], hidden: boolean): void {
  t.same([got[0]!.width, got[0]!.height], size, `${what}: ${size.join('x')}`);
  const sx = reference.width / upright.width, sy = reference.height / upright.height;
  for (const [i, f] of got.entries()) {
    const agree = agreement(reference, f, hidden ? faces : []);
    if (agree < AGREE || i === 0) t.ok(agree >= AGREE, `${what}, frame ${i}: the picture a viewer sees (${(agree * 100).toFixed(0)}% of blocks agree)`);
    for (const face of hidden ? faces : []) {
      const box = { x: face.x * sx, y: face.y * sy, w: face.w * sx, h: face.h * sy };
      const d = meanDiff(reference, f, box);
      if (d <= 8 || i === 0) t.ok(d > 8, `${what}, frame ${i}: the face at ${Math.round(box.x)},${Math.round(box.y)} is hidden (mean |diff| ${d.toFixed(1)})`);
    }
  }
}

async function redact(input: string, name: string, c: EgressContext = ctx) {
  return redactFile(c, { input, out: join(dir, 'out', name), requester: 'tap', reason: 'odd input' });
}

t.ok(faces.length === 1, `the scene has its one face to hide (found ${faces.length})`);
{
  const turned = { ...upright, data: Buffer.from(upright.data).reverse() };
  t.ok(agreement(upright, turned) < 0.5 && agreement(upright, turned, faces) < 0.5, `the measure tells a picture from itself turned a half turn (${(agreement(upright, turned) * 100).toFixed(0)}% agree)`);
}

t.test('a clip with a rotation in its display matrix (a phone held upright) is seen and exported upright, as a player shows it', async (t) => {
  // ffmpeg 5.1's rotate tag: rotate=90 makes a player turn the picture a quarter anticlockwise
  const coded = { 90: 'transpose=clock', 180: 'hflip,vflip', 270: 'transpose=cclock' } as const;
  ff('-loop', '1', '-framerate', '10', '-i', ref, '-filter_complex', `[0]split=3[a][b][c];[a]${coded[90]}[o90];[b]${coded[180]}[o180];[c]${coded[270]}[o270]`,
    ...[90, 180, 270].flatMap((r) => ['-map', `[o${r}]`, '-frames:v', '4', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(dir, `coded-${r}.mp4`)]));
  for (const rotate of [90, 180, 270]) {
    const tagged = join(dir, `rotate-${rotate}.mp4`);
    // the tag becomes a display matrix only on a stream copy
    ff('-i', join(dir, `coded-${rotate}.mp4`), '-c', 'copy', '-metadata:s:v', `rotate=${rotate}`, tagged);
    // what the detectors are given
    shows(t, `rotate=${rotate}, as decoded`, await allFrames(tagged), upright, [W, H], false);
    if (rotate !== 90) continue;
    const r = await redact(tagged, `rotate-${rotate}.mp4`);
    t.equal(r.blanked_frames, 0);
    shows(t, `rotate=${rotate}, exported`, await allFrames(r.out), upright, [W, H], true);
  }
  // 4K from a phone held upright: coded 3840x2160, shown 2160x3840
  const coded4k = clip('coded-4k.mp4', 'scale=2160:3840,setsar=1,transpose=clock', ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'], 1);
  const tall = join(dir, '4k.mp4');
  ff('-i', coded4k, '-c', 'copy', '-metadata:s:v', 'rotate=90', tall);
  // as decoded only: a 4K export costs the detectors' 4K levels (bench/, not the tests)
  shows(t, '4K portrait, as decoded', await allFrames(tall), await scaled(2160, 3840), [2160, 3840], false);
});

t.test('a JPEG with an EXIF orientation is seen upright, as a viewer shows it, for all eight', async (t) => {
  // what is stored, for each orientation, so that a viewer shows the upright scene
  const stored: Record<number, string> = { 1: 'null', 2: 'hflip', 3: 'hflip,vflip', 4: 'vflip', 5: 'transpose=cclock_flip', 6: 'transpose=cclock', 7: 'transpose=clock_flip', 8: 'transpose=clock' };
  const all = Object.entries(stored);
  ff('-i', ref, '-filter_complex', `[0]split=${all.length}${all.map(([o]) => `[i${o}]`).join('')};${all.map(([o, vf]) => `[i${o}]${vf}[o${o}]`).join(';')}`,
    ...all.flatMap(([o]) => ['-map', `[o${o}]`, '-q:v', '2', join(dir, `exif-${o}.jpg`)]));
  for (const [o] of all) {
    const path = join(dir, `exif-${o}.jpg`);
    withOrientation(path, Number(o));
    shows(t, `EXIF orientation ${o}`, [await readImage(path)], upright, [W, H], false);
  }
});

t.test('stills of other pixel formats and sizes are seen as a viewer sees them: alpha, 16-bit, grey, CMYK, odd, 1x1', async (t) => {
  // transparency is flattened onto black as decoded: the left third of this PNG is transparent
  const alpha = join(dir, 'alpha.png');
  ff('-i', ref, '-vf', `format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,${W / 3}),0,255)'`, alpha);
  const black = { ...upright, data: Buffer.from(upright.data) };
  for (let y = 0; y < H; y++) black.data.fill(0, y * W * 3, (y * W + W / 3) * 3);
  shows(t, 'PNG with alpha', [await readImage(alpha)], black, [W, H], false);

  const deep = join(dir, 'deep.png');
  ff('-i', ref, '-pix_fmt', 'rgb48be', deep);
  shows(t, '16-bit PNG', [await readImage(deep)], upright, [W, H], false);

  const grey = join(dir, 'grey.jpg');
  ff('-i', ref, '-pix_fmt', 'gray', '-q:v', '2', grey);
  shows(t, 'grey JPEG', [await readImage(grey)], upright, [W, H], false);

  // CMYK (Adobe, as Photoshop writes it) by Debian's Pillow: ffmpeg has no CMYK JPEG encoder
  const cmyk = join(dir, 'cmyk.jpg');
  execFileSync('/usr/bin/python3', ['-c', `from PIL import Image; Image.open(${JSON.stringify(ref)}).convert('CMYK').save(${JSON.stringify(cmyk)}, quality=95)`]);
  t.equal((await probe(cmyk, { videoOnly: true, picture: true })).streams[0]?.pix_fmt, 'gbrap', 'the CMYK JPEG is decoded with four channels');
  shows(t, 'CMYK JPEG', [await readImage(cmyk)], upright, [W, H], false);

  const odd = join(dir, 'odd.png');
  ff('-i', ref, '-vf', 'scale=359:511,setsar=1', odd);
  const r = await redact(odd, 'odd.png');
  shows(t, '359x511 PNG, redacted (stills keep their size)', [await readImage(r.out)], await scaled(359, 511), [359, 511], true);

  const dot = join(dir, 'dot.png');
  ff('-f', 'lavfi', '-i', 'color=c=0x808080:s=2x2', '-vf', 'scale=1:1', '-frames:v', '1', dot);
  const one = await readImage((await redact(dot, 'dot.png')).out);
  t.same([one.width, one.height], [1, 1], 'a 1x1 image is redacted to a 1x1 image (the watermark band covers it)');
});

t.test('videos of other pixel shapes and codecs are seen as a player shows them', async (t) => {
  // non-square pixels: coded 180x342 with a sample aspect ratio of 4:3 shows as 240x342, and is seen (and exported) in square pixels
  shows(t, 'SAR 4:3', await allFrames(clip('sar.mp4', `scale=180:${H},setsar=4/3`)), upright, [W, H], false);
  for (const [name, codec] of [['hevc.mp4', ['-c:v', 'libx265', '-x265-params', 'log-level=none', '-pix_fmt', 'yuv420p']],
    ['mjpeg.avi', ['-c:v', 'mjpeg', '-q:v', '3']], ['vp9.webm', ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-b:v', '1M']]] as const) {
    const frames = await allFrames(clip(name, 'null', [...codec]));
    t.equal(frames.length, 4, `${name}: every frame`);
    shows(t, name, frames, upright, [W, H], false);
  }
});

t.test('an odd-sized clip with sound and a variable frame rate: padded to even sides, masks and watermark in the picture, no sound, same length', async (t) => {
  // 359x511 at irregular times (gaps of 0.1 to 0.5 s over 2.7 s), with a sound track
  const input = join(dir, 'odd-vfr-audio.mkv');
  ff('-loop', '1', '-framerate', '10', '-i', ref, '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-frames:v', '12',
    '-vf', "scale=359:511,setsar=1,setpts='(N+floor(N*N/8))*0.1/TB'", '-fps_mode', 'vfr', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', '-c:a', 'libopus', '-shortest', input);
  t.same((await probe(input)).streams.map((s) => s.codec_type), ['video', 'audio'], 'the input has a sound track');
  // the camera's privacy mask: the top right quarter
  const config = parseConfig('box: { id: t }\nstorage: { path: /tmp/unused }\ncameras: [{ id: c, source: { type: test }, privacy_masks: [{ x: 0.75, y: 0, w: 0.25, h: 0.25 }] }]\n', 'test.yaml');
  const r = await redactFile({ ...ctx, config }, { input, out: join(dir, 'out', 'odd.mp4'), requester: 'tap', reason: 'odd input', camera: 'c' });
  t.same((await probe(r.out)).streams.map((s) => s.codec_type), ['video'], 'the export holds no sound: speech is not redacted, so it does not leave');
  const inS = (await probe(input, { videoOnly: true })).durationS!, outS = (await probe(r.out)).durationS!;
  t.ok(Math.abs(outS - inS) <= 0.25, `the export lasts as long as its source (${outS.toFixed(2)} s against ${inS.toFixed(2)} s)`);
  // H.264 in yuv420p needs even sides: a black column and row are added on the right and bottom; nothing is cropped
  const frames = await allFrames(r.out);
  shows(t, '359x511 exported', frames, await scaled(359, 511), [360, 512], true);
  const f = frames[0]!;
  const at = (x: number, y: number) => f.data[(y * 360 + x) * 3]!;
  let pad = 0, mask = 0, watermark = 0;
  for (let y = 0; y < 511; y++) pad = Math.max(pad, at(359, y));
  for (let y = 0; y < 127; y++) for (let x = 270; x < 359; x++) mask = Math.max(mask, at(x, y));
  for (let y = 503; y < 510; y++) for (let x = 1; x < 100; x++) watermark = Math.max(watermark, at(x, y));
  t.ok(pad <= 24, `the added column is black (brightest ${pad})`);
  t.ok(mask <= 24, `the privacy mask is black up to the picture's right edge (brightest ${mask})`);
  t.ok(watermark >= 200, `the watermark's letters are inside the picture (brightest ${watermark})`);

  // unpadded, x264 refuses the stream: the encoder's own words come back, not the pipe's EPIPE
  const encoder = new Encoder(join(dir, 'unpadded.mp4'), { width: 359, height: 511, fps: 10 }, 'libx264', 'yuv420p');
  const frame = { width: 359, height: 511, data: Buffer.alloc(frameBytes(359, 511, 'yuv420p'), 128), format: 'yuv420p' as const };
  await t.rejects((async () => { for (let i = 0; i < 50; i++) await encoder.write(frame); await encoder.finish(); })(),
    /encoding .*unpadded\.mp4 with libx264 failed \(exit 1\): .*divisible by 2/, 'an encoder that refuses the frames is named with its reason');
});

t.test('a one-frame 48x64 clip', async (t) => {
  const r = await redact(clip('tiny.mp4', 'scale=48:64,setsar=1', undefined, 1), 'tiny.mp4');
  const frames = await allFrames(r.out);
  t.equal(frames.length, 1, 'one frame out');
  shows(t, '48x64', frames, await scaled(48, 64), [48, 64], false);
});

t.test('a broken or empty input: a clear error, and nothing left in the output folder', async (t) => {
  const broken = join(dir, 'broken');
  const good = readFileSync(clip('whole.mp4', 'null', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'], 10));
  const cases: Array<[string, Buffer | (() => void), RegExp]> = [
    ['empty.mp4', Buffer.alloc(0), /not a video or image ffprobe can read/],
    ['noise.mp4', Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919 + 13) % 251)), /not a video or image ffprobe can read/],
    ['zero-frames.mp4', () => ff('-f', 'lavfi', '-i', `color=s=${W}x${H}`, '-frames:v', '0', join(broken, 'zero-frames.mp4')), /no video stream|no frame could be decoded/],
    // the index and the first bytes of the pictures only: what a copy cut short leaves
    ['cut.mp4', good.subarray(0, Math.floor(good.length * 0.3)), /no frame could be decoded|decoding .* failed|not a video or image/],
  ];
  mkdirSync(broken, { recursive: true });
  for (const [name, content, why] of cases) {
    if (typeof content === 'function') content(); else writeFileSync(join(broken, name), content);
    const outDir = join(dir, `out-${name}`);
    await t.rejects(redactFile(ctx, { input: join(broken, name), out: join(outDir, 'x.mp4'), requester: 'tap', reason: 'odd input' }), why, `${name}: refused`);
    t.same(existsSync(outDir) ? readdirSync(outDir) : [], [], `${name}: no output or partial file left`);
    const entry = auditEntries(ctx.catalog).find((e) => e.action === 'redact.failed'); // the newest
    t.equal(entry?.destination, join(outDir, 'x.mp4'), `${name}: audited as redact.failed`);
    t.match(JSON.parse(entry?.details ?? '{}').error, why, `${name}: the audit entry names why`);
  }
  // The CLI ends with the error, not with onnxruntime aborting the process (exit 134, "terminate
  // called after throwing Napi::Error"): the failed job's detection thread is still loading or
  // running a detector when the CLI's loop empties, and 50e0c2e aborted in 3 of 6 runs like these.
  for (let run = 1; run <= 3; run++) {
    const r = await runCli(['redact', '--data', join(dir, 'cli-data'), join(broken, 'cut.mp4'), join(dir, `cut-out-${run}`, 'x.mp4')], { timeoutMs: 60_000 });
    t.equal(r.code, 1, `the CLI on the cut-short file, run ${run}: exit 1 (${r.stderr.trim().split('\n').at(-1)})`);
  }
  // a FIFO kept ffprobe waiting for a writer until the command was killed (an outside probe)
  execFileSync('mkfifo', [join(broken, 'fifo.mp4')]);
  const fifo = await runCli(['redact', '--data', join(dir, 'cli-data'), join(broken, 'fifo.mp4'), join(dir, 'fifo-out', 'x.mp4')], { timeoutMs: 30_000 });
  t.equal(fifo.code, 2, 'a FIFO as the input: refused at once (exit 2)');
  t.match(fifo.stderr, /fifo\.mp4 is not a plain file \(a FIFO, a directory or a device\)/);
});

t.test('the CLI: a phone photo named with a leading "-", spaces, quotes, unicode and "%d", written into a folder that does not exist yet', async (t) => {
  const input = join(dir, '-odd "name" ü 100%d.jpg');
  ff('-i', ref, '-vf', 'transpose=cclock', '-q:v', '2', '-update', '1', input);
  withOrientation(input, 6);
  const out = join(dir, 'new', 'sub', 'out "q" ü %d.jpg');
  const r = await runCli(['redact', '--data', join(dir, 'cli-data'), '--json', '--', input, out], { timeoutMs: 120_000 });
  t.equal(r.code, 0, r.stderr);
  shows(t, 'EXIF 6, redacted by the CLI', [await readImage(out)], upright, [W, H], true);
  const bare = await runCli(['redact', '--data', join(dir, 'cli-data'), '-odd.jpg', join(dir, 'x.jpg')]);
  t.equal(bare.code, 2, 'without "--", a name starting with "-" is an unknown option, answered with usage');
  t.match(bare.stderr, /unknown option -o.*\n\(if "-odd\.jpg" is a file name, put -- before the file names, or write it as \.\/-odd\.jpg\)/);
});

/** Writes an EXIF APP1 segment holding only `orientation` after a JPEG's SOI, as a phone's camera does. */
function withOrientation(path: string, orientation: number): void {
  const jpeg = readFileSync(path);
  const tiff = Buffer.alloc(26);
  tiff.write('II*\0', 0, 'latin1');
  tiff.writeUInt32LE(8, 4); // IFD0 at 8
  tiff.writeUInt16LE(1, 8); // one entry
  tiff.writeUInt16LE(0x0112, 10); tiff.writeUInt16LE(3, 12); tiff.writeUInt32LE(1, 14); tiff.writeUInt16LE(orientation, 18); // Orientation, SHORT, 1
  tiff.writeUInt32LE(0, 22); // no next IFD
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  writeFileSync(path, Buffer.concat([jpeg.subarray(0, 2), head, body, jpeg.subarray(2)]));
}
