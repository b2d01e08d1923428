import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditEntries } from '../../recorder/catalog/audit-log.js';
import { DetectionWorker, detectionIntraOp, detectionThreadEnabled, detectionWorker, readAhead } from '../../redaction/detection-worker.js';
import { configuredDetectors, detectorChoice } from '../../redaction/detectors.js';
import { redactFile } from '../../redaction/egress.js';
import type { Frame } from '../../redaction/frame.js';
import { DEFAULT_SETTINGS, Redactor, type PassOne } from '../../redaction/redactor.js';
import { encodeClip, movingClip, Rng, scenesAvailable } from '../support/scenes.js';
import { allFrames, egressContext, megamindClip, tmp } from './media.js';
import { within } from '../support/daemon.js';

/*
 * Pass 1 on the detection thread (redaction/detection-worker.ts) against pass 1 on the calling
 * thread, on real footage with plates and faces moving through it: the same plan, to the last
 * digit of every box, so the same pixels are hidden; and a thread that dies fails the export
 * closed.
 */
const FOOTAGE = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const missing = scenesAvailable();

function clip(dir: string): string {
  const c = movingClip(new Rng(77), { footage: FOOTAGE, width: 320, height: 240, frames: 24, plates: 2, faces: 2, cap: [16, 28], face: [48, 96] });
  const input = join(dir, 'in.mp4');
  encodeClip(c.frames, input);
  return input;
}

interface Manifest { frames: number; blanked_frames: number; boxes: Record<string, number>; detections: Record<string, number>; detectors: Array<{ name: string; version: string }> }
const manifestOf = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Manifest;

t.test('the detection thread plans what the calling thread plans, box for box, and the export hides them', { skip: missing }, async (t) => {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  const input = clip(dir);
  const frames = await allFrames(input);
  const here = new Redactor(await configuredDetectors(), DEFAULT_SETTINGS, () => '');
  for (const [n, f] of frames.entries()) await here.look(f, n);
  await here.plan();
  const expected: PassOne = here.passOne();

  const job = detectionWorker().start(detectorChoice(), DEFAULT_SETTINGS);
  // copies: a frame handed over is transferred, and the calling thread's frames were looked at above
  for (const [n, f] of frames.entries()) await job.look({ ...f, data: Buffer.from(f.data) } as Frame, n);
  const { passOne, detectors } = await job.plan();

  t.strictSame(passOne.planned, expected.planned, 'every frame\'s boxes are the same, coordinates to the last bit');
  t.strictSame(passOne.blanked, expected.blanked, 'the same frames blanked (none)');
  t.strictSame(passOne.stats, expected.stats, 'the same detector runs, detections, looks between rounds and region-cache reuse');
  t.same(detectors.map((d) => d.name), ['blazeface', 'ppocr-det']);
  const classes = new Set(expected.planned.flat().map((b) => b.cls));
  t.ok(classes.has('face') && classes.has('text'), `the plan hides faces and text (${[...classes].join(', ')}): the comparison is not of empty plans`);
  t.ok(expected.stats.looked_between > 0, `objects were looked for between rounds (${expected.stats.looked_between})`);

  // the whole export (decoding, the thread, pass 2) hides what the calling thread planned
  let messages = 0;
  const count = () => { messages++; };
  const thread = detectionWorker();
  thread.worker.on('message', count);
  t.teardown(() => { thread.worker.off('message', count); });
  const r = await redactFile(ctx, { input, out: join(dir, 'out.mp4'), requester: 'tap', reason: 'test' });
  t.ok(messages >= r.frames, `pass 1 ran on the detection thread (${messages} messages from it)`);
  const m = manifestOf(r.manifest);
  const perClass: Record<string, number> = {};
  for (const b of expected.planned.flat()) perClass[b.cls] = (perClass[b.cls] ?? 0) + 1;
  t.equal(m.blanked_frames, 0);
  t.strictSame(m.boxes, perClass, `the boxes hidden per class are the calling thread's plan (${JSON.stringify(perClass)})`);
  t.strictSame(m.detections, expected.stats.detections, 'and its detections');
  t.strictSame(m.detectors, (await configuredDetectors()).map((d) => ({ name: d.name, version: d.version })), 'the same detector versions in the manifest');
});

t.test('a detection thread that dies mid-export fails it closed; the next export starts a new one', async (t) => {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  const input = megamindClip(dir, 1);
  const out = join(dir, 'out.mp4');
  const thread = detectionWorker();
  // the first frame looked at: the thread is killed from outside, as an OOM or a crash would end it
  thread.worker.once('message', () => { void thread.worker.terminate(); });
  await t.rejects(redactFile(ctx, { input, out, requester: 'tap', reason: 'test' }), /the detection thread stopped \(it exited \(code 1\)\); the export is failed closed and nothing is written/);
  t.notOk(existsSync(out), 'no output');
  t.notOk(existsSync(`${out}.manifest.json`), 'no manifest');
  const failed = auditEntries(ctx.catalog).find((e) => e.action === 'redact.failed');
  t.match(failed?.details, /detection thread stopped/, 'the audit log names the failure');

  const next = detectionWorker();
  t.not(next, thread, 'a new thread for the next job');
  let messages = 0;
  const count = () => { messages++; };
  next.worker.on('message', count);
  t.teardown(() => { next.worker.off('message', count); });
  const r = await redactFile(ctx, { input, out, requester: 'tap', reason: 'test' });
  t.equal(r.blanked_frames, 0);
  t.ok(existsSync(out), 'the next export is written');
  t.ok(messages >= r.frames, 'on the new thread');

  // EDGE_NVR_DETECTION_THREAD=0: pass 1 on the calling thread, as before the thread existed
  const before = messages;
  process.env.EDGE_NVR_DETECTION_THREAD = '0';
  t.teardown(() => { delete process.env.EDGE_NVR_DETECTION_THREAD; });
  const inline = await redactFile(ctx, { input, out: join(dir, 'inline.mp4'), requester: 'tap', reason: 'test' });
  t.equal(inline.frames, r.frames);
  t.equal(messages, before, 'with EDGE_NVR_DETECTION_THREAD=0 the thread saw nothing');
  t.strictSame(manifestOf(inline.manifest).boxes, manifestOf(r.manifest).boxes, 'and the same boxes were hidden');
});

t.test('the switches and the read-ahead', async (t) => {
  t.ok(detectionThreadEnabled({}), 'the thread by default');
  t.notOk(detectionThreadEnabled({ EDGE_NVR_DETECTION_THREAD: '0' }), 'EDGE_NVR_DETECTION_THREAD=0: the calling thread');
  t.equal(detectionIntraOp({}), 1, 'one intra-op thread a session by default');
  t.equal(detectionIntraOp({ EDGE_NVR_DETECTION_INTRA_OP: '2' }), 2);
  for (const bad of ['0', '17', '1.5', 'two']) t.equal(detectionIntraOp({ EDGE_NVR_DETECTION_INTRA_OP: bad }), 1, `${bad}: the default`);
  t.same([readAhead(1280 * 720 * 3), readAhead(1920 * 1080 * 3), readAhead(3840 * 2160 * 3), readAhead(320 * 240 * 3)], [8, 5, 2, 8], 'frames ahead at 720p, 1080p, 4K and a small frame');
});

t.test('a thread without a job ends after its idle time, and gives its memory back; nothing fails for it', async (t) => {
  const thread = new DetectionWorker(300);
  const exited = new Promise<number>((resolve) => thread.worker.once('exit', resolve));
  // a job with no frames: the models load, the plan is empty (what the bench's warm-up does)
  const { passOne } = await thread.start(detectorChoice(), DEFAULT_SETTINGS).plan();
  t.same(passOne.planned, [], 'the job ran');
  t.ok(thread.alive, 'the thread lives on right after its job');
  const code = await within(exited, 20_000);
  t.equal(code, 1, 'it ended by itself once idle (terminated)');
  t.notOk(thread.alive, 'and says so: the next job asks for a new one');
  t.throws(() => thread.start(detectorChoice(), DEFAULT_SETTINGS), /ended \(idle\)/, 'it takes no job once ended');
});
