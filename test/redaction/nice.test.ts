import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrames, EGRESS_NICE, Encoder } from '../../redaction/video-io.js';
import { videoInfo } from '../../common/media-probe.js';
import { megamindClip, tmp } from './media.js';

/** The nice value in a /proc/PID/stat line (field 19; the command name before it may hold spaces). */
function niceOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Command name and nice value of each running child of this process (/proc/PID/stat fields 2, 4 and 19). */
function children(): Array<{ comm: string; nice: number }> {
  const out: Array<{ comm: string; nice: number }> = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { continue; }
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    if (Number(rest[1]) === process.pid) out.push({ comm: stat.slice(stat.indexOf('(') + 1, close), nice: niceOf(stat) });
  }
  return out;
}

t.test('the egress decoder and encoder run niced, so the recorders keep the CPU', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 1);
  const info = await videoInfo(clip);
  const encoder = new Encoder(join(dir, 'out.mp4'), info, 'libx264');
  let seen: Array<{ comm: string; nice: number }> = [];
  for await (const frame of decodeFrames({ path: clip }, info)) {
    await encoder.write(frame);
    if (seen.length < 2) seen = children().filter((c) => c.comm === 'ffmpeg');
  }
  await encoder.finish();
  t.equal(seen.length, 2, 'a decoder and an encoder were running');
  // nice(1) adds to the niceness it inherits: run from a niced shell the children sit higher still
  const expected = Math.min(19, niceOf(readFileSync('/proc/self/stat', 'utf8')) + EGRESS_NICE);
  t.same(seen.map((c) => c.nice), [expected, expected], `both ${EGRESS_NICE} above this process, at ${expected}`);
  t.equal(EGRESS_NICE, 10);
});
