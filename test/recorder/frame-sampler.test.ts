import t from 'tap';
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../../config/load.js';
import { createBackend } from '../../recorder/backends/create.js';
import type { RecorderBackend } from '../../recorder/backends/backend.js';
import { FrameDecoder } from '../../recorder/frame-decoder.js';
import { CAMERA_VIEW_BUDGET, EARLY_MS, FrameSampler, longestViewInterval, VIEW_SHARE, viewBudget, type RecordingFeed, type SampledFrame, type StreamInfo } from '../../recorder/frame-sampler.js';
import { boxHeader, parseMoof, parseMoov, type FragmentSample } from '../../recorder/mp4-fragments.js';
import { stagingDir } from '../../recorder/segment-store.js';
import { CameraSim } from '../support/camera-sim.js';
import { until } from '../support/daemon.js';
import { decodeTimecode } from '../support/timecode.js';

const log = pino({ level: 'silent' });
const FPS = 12;
// The subtests that record are independent (each its own simulator, recorders, decoder and data
// dir) and wait on the cameras' real time, a few % of a core each: side by side, the file takes
// about its longest subtest's time instead of the sum of them (bench/README.md, "The test suite's
// time (T3)"). Every assertion is as it was; each subtest still reports on its own.
t.jobs = 4;

/** Every fragment's samples in a file, by the module the sampler uses. */
function samplesOf(path: string): { codec: string; width: number; height: number; samples: FragmentSample[] } {
  const buf = readFileSync(path);
  let at = 0;
  let track: ReturnType<typeof parseMoov> = null;
  const samples: FragmentSample[] = [];
  while (at + 8 <= buf.length) {
    const h = boxHeader(buf, at)!;
    const size = Number.isFinite(h.size) ? h.size : buf.length - at;
    if (h.type === 'moov') track = parseMoov(buf.subarray(at + h.headerSize, at + size));
    if (h.type === 'moof' && track) samples.push(...parseMoof(buf.subarray(at + h.headerSize, at + size), at, track));
    at += size;
  }
  return { codec: track!.codec, width: track!.width, height: track!.height, samples };
}

/** ffprobe's own count of video packets and keyframes in a file. */
function ffprobePackets(path: string): { packets: number; keyframes: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=flags', '-of', 'csv=p=0', path], { encoding: 'utf8' });
  const lines = out.trim().split('\n').filter(Boolean);
  return { packets: lines.length, keyframes: lines.filter((l) => l.startsWith('K')).length };
}

// both backends at once, as a daemon runs them: one simulator, a recorder and a sampler per backend, one decoder
t.test('keyframes of the growing recording, decoded and downscaled, and the stream as recorded (ffmpeg and gstreamer side by side)', async (t) => {
  const BACKENDS = ['ffmpeg', 'gstreamer'] as const;
  const sim = await new CameraSim({ mounts: [...BACKENDS], width: 1280, height: 720, fps: FPS, gop: FPS, pattern: 'ball' }).start();
  t.teardown(() => sim.kill());
  const dataDir = t.testdir();
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  const runs = BACKENDS.map((backend) => {
    const recorder: RecorderBackend = createBackend(backend, {
      camera: backend, url: sim.url(backend), safeUrl: sim.url(backend), stagingDir: stagingDir(dataDir, backend), segmentSeconds: 3, timeoutSeconds: 5,
    }, log);
    const segments: string[] = [];
    recorder.on('segment', (seg) => segments.push(seg.stagedPath));
    recorder.start();
    t.teardown(() => recorder.stop());
    // a budget any decode fits in: a sample at every keyframe, at most one a second (the interval
    // the cost sets is the subject of its own test below; at the default budget a 720p sample
    // comes every 3-4 s, and four of them took 12 s)
    const sampler = new FrameSampler(backend, { dataDir, decoder, log, minIntervalMs: 1000, cpuBudget: 1 });
    const streams: StreamInfo[] = [];
    sampler.on('stream', (st) => streams.push(st));
    sampler.start();
    t.teardown(() => sampler.stop());
    return { backend, segments, sampler, streams, frames: [] as SampledFrame[], sums: [] as number[], last: Buffer.alloc(0) };
  });

  await until(() => runs.every((r) => (r.sampler.stream?.fps ?? 0) > 0), 30_000, 'a measured frame rate of each');
  for (const { backend, sampler } of runs) t.equal(sampler.samples, 0, `${backend}: nothing is decoded while nobody listens`);
  t.equal(decoder.pid, undefined, 'the decoder is not even started');

  // read when it comes: the next picture of either camera is written into the same buffer
  const sum = (b: Buffer) => b.reduce((a, x) => a + x, 0);
  for (const r of runs) r.sampler.on('frame', (f) => { r.frames.push(f); r.sums.push(sum(f.data)); r.last = Buffer.from(f.data); });
  await until(() => runs.every((r) => r.frames.length >= 4), 90_000, 'four sampled frames of each');
  const all = runs.flatMap((r) => r.frames);
  t.equal(new Set(all.map((x) => x.data.buffer)).size, 1, `every picture of both cameras is decoded into one buffer (${all.length} samples): memory grows neither with samples nor with cameras`);
  for (const { backend, frames, sums, sampler, streams, segments, last } of runs) {
    const f = frames.at(-1)!;
    const grey = last; // f.data as it was emitted: the buffer has been written over since
    t.ok(new Set(sums).size > 1, `${backend}: each sample is a new picture in it (the scene moves)`);
    const again = await f.still!();
    t.not(again.data.buffer, f.data.buffer, `${backend}: a frame's still is a picture of its own`);
    t.same([again.width, again.height, again.data.length], [f.width, f.height, f.width * f.height * 3], `${backend}: the still is in colour (RGB24), at the frame's size`);
    // the still's luma (BT.601, what the analysis computed from RGB before) against the frame's grey levels
    let off = 0, worst = 0;
    for (let i = 0; i < f.width * f.height; i++) {
      const d = Math.abs(0.299 * again.data[i * 3]! + 0.587 * again.data[i * 3 + 1]! + 0.114 * again.data[i * 3 + 2]! - grey[i]!);
      off += d;
      worst = Math.max(worst, d);
    }
    t.ok(off / (f.width * f.height) < 1.5, `${backend}: the same picture, decoded again from the keyframe the frame kept: its luma is the frame's grey within ${(off / (f.width * f.height)).toFixed(2)} levels on average (worst pixel ${worst.toFixed(1)})`);
    t.equal(f.width, 640, `${backend}: a 1280x720 stream is sampled at 640 px wide`);
    t.equal(f.height, 360, 'keeping its aspect');
    t.same([f.channels, grey.length], [1, 640 * 360], 'grey, a byte a pixel: all the analysis uses');
    t.ok(Date.now() - f.atMs < 10_000, `${backend}: a sample is of the recording as it grows, not of a closed segment`);
    let lo = 255, hi = 0;
    for (let i = 0; i < grey.length; i += 97) { lo = Math.min(lo, grey[i]!); hi = Math.max(hi, grey[i]!); }
    t.ok(hi - lo > 100, `${backend}: a real picture, not a blank one (values ${lo}..${hi})`);
    const gaps = frames.slice(1).map((x, i) => x.atMs - frames[i]!.atMs);
    // the interval less the slack the sampler gives a keyframe read early (EARLY_MS): 771 ms
    // between two samples' picture times was seen on a loaded machine
    t.ok(gaps.every((g) => g >= 1000 - EARLY_MS), `${backend}: no faster than the interval (gaps ${gaps.join(', ')} ms)`);

    const s = sampler.stream!;
    t.equal(s.codec, 'h264');
    t.same([s.width, s.height], [1280, 720], `${backend}: the stream as recorded: codec and resolution from the file`);
    t.ok(Math.abs(s.fps! - FPS) <= FPS * 0.15, `${backend}: the frame rate measured over the fragments: ${s.fps} (camera: ${FPS})`);
    t.ok(streams.length >= 1, 'stream info is reported as it changes');

    // the fragment parser against ffprobe, on a segment the recorder closed
    await until(() => segments.length >= 1, 20_000, 'a closed segment');
    const parsed = samplesOf(segments[0]!);
    const probe = ffprobePackets(segments[0]!);
    t.equal(parsed.samples.length, probe.packets, `${backend}: every sample of ${segments[0]!.split('/').pop()} found (${probe.packets})`);
    t.equal(parsed.samples.filter((x) => x.keyframe).length, probe.keyframes, 'and which ones are keyframes');
    t.ok(parsed.samples.every((x) => x.offset + x.size <= statSync(segments[0]!).size), 'inside the file');
  }
});

t.test('view sampling shares an eighth of a core past 16 cameras: 0.8 % each up to 16, then 12.8 % split', async (t) => {
  t.equal(CAMERA_VIEW_BUDGET, 0.008);
  for (const n of [1, 2, 16]) t.equal(viewBudget(n), 0.008, `${n} camera(s): 0.8 % each`);
  t.equal(viewBudget(0), 0.008, 'no camera yet counts as one');
  t.ok(Math.abs(viewBudget(32) - 0.004) < 1e-12, '32 cameras: 0.4 % each');
  t.ok(Math.abs(viewBudget(64) - 0.002) < 1e-12, '64 cameras: 0.2 % each');
  for (const n of [17, 40, 64, 200]) t.ok(Math.abs(viewBudget(n) * n - 0.128) < 1e-12, `${n} cameras take 12.8 % of a core together`);
  t.equal(longestViewInterval(), 10_000, 'at the default share a camera waits at most 10 s between samples');
  const config = parseConfig('box: { id: b }\ncameras: [{ id: c, source: { type: test } }]\n', 'test');
  t.equal(config.watchdog.view_cpu_percent / 100, VIEW_SHARE, 'the config\'s default share is the sampler\'s');
  // watchdog.view_cpu_percent: a smaller share is split the same way, and may stretch the wait
  for (const n of [8, 64]) t.ok(Math.abs(viewBudget(n, 0.032) * n - 0.032) < 1e-12, `${n} cameras share 3.2 % when given 3.2 %`);
  t.equal(viewBudget(4, 0.032), 0.008, 'each camera still takes at most 0.8 %');
  t.equal(longestViewInterval(0.032), 40_000, 'a quarter of the default share: up to 40 s between samples, so the CPU falls a quarter even where every camera waited 10 s');
  t.equal(longestViewInterval(0.5), 10_000, 'more than the default never waits longer than 10 s');
  t.equal(viewBudget(200, 1), 0.005, 'a whole core among 200 cameras');
});
t.test('the decoder dying costs samples, never recording; a new one takes over', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'], fps: 10, gop: 10, source: 'timecode' }).start();
  t.teardown(() => sim.kill());
  const dataDir = t.testdir();
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  const recorder = createBackend('ffmpeg', { camera: 'cam', url: sim.url('cam'), safeUrl: sim.url('cam'), stagingDir: stagingDir(dataDir, 'cam'), segmentSeconds: 2, timeoutSeconds: 5 }, log);
  let segments = 0;
  let exited = false;
  recorder.on('segment', () => segments++);
  recorder.on('exit', () => { exited = true; });
  recorder.start();
  t.teardown(() => recorder.stop());
  // a budget any decode fits in: samples come every second, before and after the kill
  const sampler = new FrameSampler('cam', { dataDir, decoder, log, minIntervalMs: 1000, cpuBudget: 1 });
  let frames = 0;
  sampler.on('frame', () => frames++);
  sampler.start();
  t.teardown(() => sampler.stop());
  await until(() => frames >= 2, 40_000, 'frames');
  const first = decoder.pid!;
  process.kill(first, 'SIGKILL');
  const before = { frames, segments };
  await until(() => frames >= before.frames + 2 && segments >= before.segments + 2, 40_000, 'frames and segments after the kill');
  t.not(decoder.pid, first, 'another decoder took over');
  t.notOk(exited, 'the recorder never stopped');
  t.ok(readdirSync(join(dataDir, 'recordings', 'cam', '.staging')).length >= 1, 'and kept writing its segment');
});

t.test('the interval follows the cost budget; a hurried sampler takes every keyframe it may', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'], fps: 10, gop: 10, source: 'timecode' }).start();
  t.teardown(() => sim.kill());
  const dataDir = t.testdir();
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  const recorder = createBackend('ffmpeg', { camera: 'cam', url: sim.url('cam'), safeUrl: sim.url('cam'), stagingDir: stagingDir(dataDir, 'cam'), segmentSeconds: 2, timeoutSeconds: 5 }, log);
  recorder.start();
  t.teardown(() => recorder.stop());
  // a budget no decode fits in: the interval is the longest allowed, 4 s (a function, asked each
  // time, as the daemon gives it: the share follows the number of cameras)
  let budget = 1e-6;
  let longest = 4000;
  const sampler = new FrameSampler('cam', { dataDir, decoder, log, minIntervalMs: 1000, maxIntervalMs: () => longest, cpuBudget: () => budget });
  const at: number[] = [];
  sampler.on('frame', (f) => at.push(f.atMs));
  sampler.start();
  t.teardown(() => sampler.stop());
  await until(() => at.length >= 3, 40_000, 'three samples at the slow interval');
  t.equal(sampler.intervalMs, 4000, 'the cost sets the interval: the longest');
  const slow = at.slice(1).map((x, i) => x - at[i]!);
  t.ok(slow.every((g) => g >= 3500), `one sample per 4 s (gaps ${slow.join(', ')} ms)`);
  budget = 1;
  t.equal(sampler.intervalMs, 1000, 'the budget asked again: a whole core, the cost fits in the shortest interval');
  budget = 1e-6;
  t.equal(sampler.intervalMs, 4000, 'and back');
  longest = 6000;
  t.equal(sampler.intervalMs, 6000, 'the longest interval asked again (a reloaded view_cpu_percent)');
  longest = 4000;
  sampler.hurry = true;
  t.equal(sampler.intervalMs, 1000, 'hurried: the shortest interval, whatever the cost');
  const from = at.length;
  await until(() => at.length >= from + 4, 30_000, 'hurried samples');
  const quick = at.slice(from + 1).map((x, i) => x - at[from + i]!);
  t.ok(quick.every((g) => g <= 2500), `a sample about every keyframe, 1 s apart (gaps ${quick.join(', ')} ms)`);
});

// both backends at once, as a daemon runs them: one simulator, a recorder and a sampler per backend, one decoder
t.test('told by the recorder, not polling: samples follow the recording across segments, the staging dir is rarely listed (ffmpeg and gstreamer side by side)', async (t) => {
  const BACKENDS = ['ffmpeg', 'gstreamer'] as const;
  const sim = await new CameraSim({ mounts: [...BACKENDS], fps: 10, gop: 10 }).start();
  t.teardown(() => sim.kill());
  const dataDir = t.testdir();
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  const runs = BACKENDS.map((backend) => {
    const recorder = createBackend(backend, { camera: backend, url: sim.url(backend), safeUrl: sim.url(backend), stagingDir: stagingDir(dataDir, backend), segmentSeconds: 2, timeoutSeconds: 5 }, log);
    // what the camera supervisor passes on: media written, a segment closed
    const feed = new EventEmitter();
    const run = { backend, recorder, closed: 0, frames: [] as SampledFrame[], sampler: undefined as unknown as FrameSampler };
    recorder.on('progress', () => feed.emit('progress'));
    recorder.on('segment', (seg) => { run.closed++; feed.emit('closed', seg); });
    recorder.start();
    t.teardown(() => recorder.stop());
    // a budget any decode fits in: a sample at every keyframe, at most one a second
    run.sampler = new FrameSampler(backend, { dataDir, decoder, log, minIntervalMs: 1000, cpuBudget: 1, feed: feed as unknown as RecordingFeed });
    run.sampler.on('frame', (f) => run.frames.push(f));
    run.sampler.start();
    t.teardown(() => run.sampler.stop());
    return run;
  });
  await until(() => runs.every((r) => r.frames.length >= 1 && r.closed >= 1), 40_000, 'a first sample and a closed segment of each');
  const from = runs.map((r) => ({ frames: r.frames.length, closed: r.closed, listings: r.sampler.dirListings }));
  await until(() => runs.every((r, i) => r.closed >= from[i]!.closed + 4), 40_000, 'four more segments of each');
  for (const [i, { backend, sampler, frames, closed }] of runs.entries()) {
    const taken = frames.slice(from[i]!.frames);
    // at least one sample for every two segments: one decoder serves both backends and yields to
    // the recorders, so a loaded 2-core CI machine took 3 samples over ffmpeg's 4 segments (8 s)
    t.ok(taken.length >= Math.ceil((closed - from[i]!.closed) / 2), `${backend}: sampled on, across ${closed - from[i]!.closed} segment boundaries (${taken.length} samples)`);
    t.ok(taken.every((f) => Date.now() - f.atMs < 12_000), `${backend}: each of the recording as it grew (gaps ${taken.slice(1).map((f, j) => f.atMs - taken[j]!.atMs).join(", ")} ms)`);
    t.ok((sampler.stream?.fps ?? 0) > 5, `${backend}: the frame rate still measured (${sampler.stream?.fps})`);
    const listings = sampler.dirListings - from[i]!.listings;
    // polled twice a second it listed the dir 16 times in 8 s; told, it opens the next file by name
    t.ok(listings <= 3, `${backend}: the staging dir listed ${listings} times over ${closed - from[i]!.closed} segments`);
  }
});

// a camera that nothing watches (view watching off) is still followed for its stream's shape and
// frame rate, but its growing file is not read at every progress report: at 64 cameras those
// reads were a third of the daemon's CPU in recording alone (bench/README.md)
t.test('nobody watching: the growing file is read every few seconds, not at every report; a listener gets the newest keyframe', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'], fps: 10, gop: 10, source: 'timecode' }).start();
  t.teardown(() => sim.kill());
  const dataDir = t.testdir();
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  const recorder = createBackend('ffmpeg', { camera: 'cam', url: sim.url('cam'), safeUrl: sim.url('cam'), stagingDir: stagingDir(dataDir, 'cam'), segmentSeconds: 60, timeoutSeconds: 5 }, log);
  const feed = new EventEmitter();
  let reports = 0;
  recorder.on('progress', () => { reports++; feed.emit('progress'); });
  recorder.on('segment', (seg) => feed.emit('closed', seg));
  recorder.start();
  t.teardown(() => recorder.stop());
  const sampler = new FrameSampler('cam', { dataDir, decoder, log, minIntervalMs: 1000, cpuBudget: 1, feed: feed as unknown as RecordingFeed }).start();
  t.teardown(() => sampler.stop());
  await until(() => (sampler.stream?.fps ?? 0) > 0, 30_000, 'the stream measured');
  const from = { reports, looks: sampler.fileLooks };
  await until(() => reports >= from.reports + 12, 40_000, 'twelve progress reports');
  const looks = sampler.fileLooks - from.looks;
  t.ok(looks <= 4, `${reports - from.reports} reports, the file looked at ${looks} times`);
  t.ok(looks >= 1, 'but looked at');
  t.ok(Math.abs((sampler.stream?.fps ?? 0) - 10) < 1.5, `the frame rate still measured (${sampler.stream?.fps})`);
  // someone starts watching: the first read catches up on seconds of fragments and offers the newest keyframe
  // (the picture's own time code, read while it is emitted: the buffer is the next picture's after)
  const ages: number[] = [];
  sampler.on('frame', (f) => ages.push(f.atMs - decodeTimecode(f.data, f.width, f.height)));
  const readsFrom = sampler.fileLooks;
  await until(() => ages.length >= 3, 30_000, 'three samples once watched');
  t.ok(sampler.fileLooks - readsFrom >= 3, 'watched: the file is read at the reports again');
  // fragments of a second: the newest keyframe read is a second or two old; the oldest of a
  // catching-up read would be five or more
  t.ok(ages.every((a) => a >= 0 && a < 3000), `each sample the newest keyframe when read: pictures ${ages.join(', ')} ms old`);
});

t.test('indexing first: while indexing is behind, unhurried samples wait for the longest interval; a confirmation does not', async (t) => {
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  let behind = false;
  const sampler = new FrameSampler('cam', { dataDir: t.testdir(), decoder, log, minIntervalMs: 1000, maxIntervalMs: 10_000, behind: () => behind });
  t.equal(sampler.intervalMs, 1000, 'nothing measured yet, indexing keeping up: the shortest interval');
  behind = true;
  t.equal(sampler.intervalMs, 10_000, 'a segment waiting for the catalog: the longest');
  sampler.hurry = true;
  t.equal(sampler.intervalMs, 1000, 'a change being confirmed keeps its quick samples');
  sampler.hurry = false;
  behind = false;
  t.equal(sampler.intervalMs, 1000, 'indexing caught up: back to the budget');
});
