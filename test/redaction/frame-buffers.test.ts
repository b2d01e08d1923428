import t from 'tap';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { videoInfo } from '../../common/media-probe.js';
import { frameBytes } from '../../redaction/frame.js';
import { hide } from '../../redaction/effects.js';
import { decodeFrames, Encoder, FrameBuffers } from '../../redaction/video-io.js';
import { megamindClip, tmp } from './media.js';

/*
 * Pass 2 reads its frames into buffers it gives back once the encoder's pipe has taken them
 * (redaction/egress.ts writePassTwo, bench/README.md "Redaction"): the frames decoded and the
 * file encoded must be what new buffers give, every frame.
 */
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

t.test('frames read into buffers given back are the frames read into new ones', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  const info = await videoInfo(clip);
  const plain: string[] = [];
  for await (const f of decodeFrames({ path: clip }, info, undefined, 'yuv420p')) plain.push(md5(f.data));
  const buffers = new FrameBuffers(frameBytes(info.width, info.height, 'yuv420p'), 2);
  const seen = new Set<Buffer>();
  const reused: string[] = [];
  for await (const f of decodeFrames({ path: clip }, info, undefined, 'yuv420p', buffers)) {
    reused.push(md5(f.data));
    seen.add(f.data);
    buffers.give(f.data);
  }
  t.ok(plain.length > 10, `${plain.length} frames`);
  t.same(reused, plain, 'every frame the same');
  t.ok(seen.size <= 2, `${seen.size} buffers for ${plain.length} frames`);
  const other = new FrameBuffers(17);
  other.give(Buffer.alloc(16));
  t.equal(other.take().length, 17, 'a buffer of another size is not kept');
});

t.test('an encoder handed frames whose buffers go back to the decoder once taken writes the file new buffers write', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  const info = await videoInfo(clip);
  const encode = async (out: string, buffers?: FrameBuffers) => {
    const encoder = new Encoder(out, info, 'libx264', 'yuv420p');
    let frames = 0, taken = 0;
    for await (const f of decodeFrames({ path: clip }, info, undefined, 'yuv420p', buffers)) {
      // something drawn on each frame, as pass 2 hides and watermarks
      hide(f, { x: 40 + frames, y: 30, w: 64, h: 64 }, 'pixelate');
      frames++;
      await encoder.write(f, () => { taken++; buffers?.give(f.data); });
    }
    await encoder.finish();
    return { frames, taken, decoded: execFileSync('ffmpeg', ['-v', 'error', '-i', out, '-f', 'framemd5', '-'], { encoding: 'utf8' }).split('\n').filter((l) => !l.startsWith('#')) };
  };
  const plain = await encode(join(dir, 'new.mp4'));
  const reused = await encode(join(dir, 'reused.mp4'), new FrameBuffers(frameBytes(info.width, info.height, 'yuv420p'), 2));
  t.equal(reused.taken, reused.frames, 'every frame was taken by the pipe');
  t.same(reused.decoded, plain.decoded, `the same ${plain.frames} frames encoded`);
});
