import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrames, Encoder } from '../../redaction/video-io.js';
import { videoInfo } from '../../common/media-probe.js';
import { megamindClip, tmp } from './media.js';

/*
 * What docs/redaction.md says of the software encoder: libx264 at preset superfast, CRF 26. x264
 * writes the options it ran with into the stream (its SEI text), so the output itself is read:
 * superfast is the preset whose motion search is `me=dia` with `subme=1` (veryfast: hex, 2).
 */
t.test('an export is encoded by libx264 at preset superfast, CRF 26', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  const info = await videoInfo(clip);
  const out = join(dir, 'out.mp4');
  const encoder = new Encoder(out, info, 'libx264');
  for await (const frame of decodeFrames({ path: clip }, info)) await encoder.write(frame);
  await encoder.finish();
  const options = /x264 - core [^\0]*?options: ([^\0]*)/.exec(readFileSync(out, 'latin1'))?.[1]?.split(' ') ?? [];
  t.ok(options.length > 0, 'the stream names the options x264 ran with');
  t.ok(options.includes('crf=26.0'), `CRF 26 (${options.find((o) => o.startsWith('crf=')) ?? 'none'})`);
  t.ok(options.includes('me=dia') && options.includes('subme=1'), `superfast's motion search (${options.filter((o) => /^(me|subme)=/.test(o)).join(' ')})`);
});
