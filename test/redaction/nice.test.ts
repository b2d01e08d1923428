import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DETECTION_THREAD_NAME, detectionWorker } from '../../redaction/detection-worker.js';
import { detectorChoice } from '../../redaction/detectors.js';
import { DEFAULT_SETTINGS } from '../../redaction/redactor.js';
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

/** Name and nice value of each thread of this process (/proc/self/task). */
function threads(): Array<{ comm: string; nice: number }> {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), nice: niceOf(stat) };
  });
}

t.test('the detection thread and the onnxruntime threads it starts run niced too (Linux nice is per thread)', async (t) => {
  const base = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'));
  // two intra-op threads a session (the default is one: no pool threads), so that onnxruntime starts threads of its own here
  const job = detectionWorker().start(detectorChoice(), DEFAULT_SETTINGS, 2);
  await job.look({ width: 640, height: 360, data: Buffer.alloc(640 * 360 * 3, 90) }, 0);
  const { passOne } = await job.plan();
  t.same(passOne.stats.detector_runs, { blazeface: 1, 'ppocr-det': 1 }, 'both detectors ran on the thread');
  // the thread names itself before it loads onnxruntime; the threads it starts inherit the name
  const detecting = threads().filter((x) => x.comm === DETECTION_THREAD_NAME);
  // the thread itself and each session's intra-op pool thread (two threads a session: the caller and one more)
  t.ok(detecting.length >= 3, `the detection thread and onnxruntime's pool threads (${detecting.length} threads named ${DETECTION_THREAD_NAME})`);
  const expected = Math.min(19, base + EGRESS_NICE);
  t.same(detecting.map((x) => x.nice), detecting.map(() => expected), `every one at nice ${expected}, ${EGRESS_NICE} above the calling thread`);
  t.equal(niceOf(readFileSync('/proc/thread-self/stat', 'utf8')), base, 'the calling thread keeps its own priority');
});
