import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import type { BackendExit, ClosedSegment } from '../../recorder/backends/backend.js';
import { GstreamerBackend } from '../../recorder/backends/gstreamer.js';
import { scrubCredentials } from '../../common/credentials.js';
import { CameraSim } from '../support/camera-sim.js';
import { sleep, until, within } from '../support/daemon.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('../support/record-child.ts', import.meta.url));
const PROJECT = fileURLToPath(new URL('../..', import.meta.url));

async function ffprobe(path: string): Promise<{ codec: string; packets: number; durationS: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_packets',
    '-show_entries', 'stream=codec_name,nb_read_packets:format=duration', '-of', 'json', path]);
  const j = JSON.parse(stdout) as { streams?: Array<{ codec_name?: string; nb_read_packets?: string }>; format?: { duration?: string } };
  return {
    codec: j.streams?.[0]?.codec_name ?? '',
    packets: Number(j.streams?.[0]?.nb_read_packets ?? 0),
    durationS: Number(j.format?.duration ?? 0),
  };
}

/** A backend with its events collected. */
function record(url: string, stagingDir: string, segmentSeconds = 2, timeoutSeconds = 5, log?: Logger) {
  const backend = new GstreamerBackend({ camera: basename(stagingDir), url, safeUrl: scrubCredentials(url), stagingDir, segmentSeconds, timeoutSeconds }, log);
  const segments: ClosedSegment[] = [];
  const progress: number[] = [];
  backend.on('segment', (s) => segments.push(s));
  backend.on('progress', (p) => progress.push(p.atMs));
  const exited = new Promise<BackendExit & { atMs: number }>((resolve) => {
    backend.once('exit', (e) => resolve({ ...e, atMs: Date.now() }));
  });
  return { backend, segments, progress, exited };
}

t.test('records two cameras at once into contiguous, playable fragmented MP4 segments', async (t) => {
  const sim = await new CameraSim({ mounts: ['gate', 'yard'], gop: 15, fps: 15 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const recs = sim.mounts.map((m) => record(sim.url(m), join(dir, m)));
  for (const r of recs) r.backend.start();
  await sleep(7000);
  const stopAt = Date.now();
  await Promise.all(recs.map((r) => r.backend.stop()));
  t.ok(Date.now() - stopAt < 3000, `stop() finalised both cameras in ${Date.now() - stopAt} ms`);

  for (const [i, r] of recs.entries()) {
    const cam = sim.mounts[i];
    const exit = await r.exited;
    t.equal(exit.requested, true, `${cam}: exit is reported as requested`);
    t.ok(r.progress.length >= 5, `${cam}: ${r.progress.length} progress events in 7 s`);
    t.ok(r.segments.length >= 2, `${cam}: ${r.segments.length} segments`);
    const { runStartMs } = r.backend;
    for (const [n, seg] of r.segments.entries()) {
      const name = basename(seg.stagedPath);
      t.equal(name, `${runStartMs}-${String(n).padStart(6, '0')}.mp4`, `${cam}: segment ${n} is named ${name}`);
      t.equal(seg.stagedPath, join(dir, cam, name), `${cam}: segment ${n} is in the staging dir`);
      const media = await ffprobe(seg.stagedPath);
      t.equal(media.codec, 'h264', `${cam}: ${name} holds h264`);
      t.ok(media.packets > 0, `${cam}: ${name} plays: ${media.packets} packets`);
      const spanS = (seg.endMs - seg.startMs) / 1000;
      t.ok(Math.abs(media.durationS - spanS) < 0.5, `${cam}: ${name} lasts ${media.durationS} s, reported ${spanS} s`);
      if (n < r.segments.length - 1) {
        t.ok(spanS >= 1.5 && spanS <= 3, `${cam}: segment ${n} is about 2 s (${spanS} s)`);
        t.equal(r.segments[n + 1].startMs, seg.endMs, `${cam}: segment ${n + 1} starts where ${n} ends`);
      }
    }
    const first = r.segments[0];
    const last = r.segments[r.segments.length - 1];
    t.ok(first.startMs >= runStartMs - 2000 && first.startMs <= runStartMs + 2000,
      `${cam}: first segment starts ${first.startMs - runStartMs} ms after start()`);
    t.ok(Math.abs(last.endMs - stopAt) <= 2000, `${cam}: last segment ends ${last.endMs - stopAt} ms from stop()`);
    t.same(readdirSync(join(dir, cam)).sort(), r.segments.map((s) => basename(s.stagedPath)).sort(),
      `${cam}: every staged file was reported`);
  }
});

t.test('a camera that dies while recording ends the run, and what was written stays valid', async (t) => {
  const sim = await new CameraSim({ mounts: ['door'], gop: 15, fps: 15 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const r = record(sim.url(), join(dir, 'door'));
  r.backend.start();
  // a 2 s segment closes once the next GOP is in (splitmuxsink): about 3.5 s after the start
  // on a quiet machine, later on a loaded one
  await until(() => r.segments.length >= 1, 20000, 'a segment closed before the camera died');
  t.ok(r.segments.length >= 1, 'a segment closed before the camera died');
  const killedAt = Date.now();
  await sim.kill();
  const exit = await within(r.exited, 15000);
  t.ok(exit, 'exit is reported');
  if (!exit) return;
  t.equal(exit.requested, false, 'the exit is a failure');
  t.ok(exit.atMs - killedAt < 15000, `exit ${exit.atMs - killedAt} ms after the camera died`);
  t.match(exit.reason, /closed the stream \(EOS\)/, `reason: ${exit.reason}`);
  t.ok(r.segments.length >= 2, `${r.segments.length} segments, the open one finalised at EOS`);
  for (const seg of r.segments) {
    const media = await ffprobe(seg.stagedPath);
    t.ok(media.codec === 'h264' && media.packets > 0, `${basename(seg.stagedPath)} plays: ${media.packets} packets`);
  }
  await r.backend.stop();
  t.pass('stop() after the exit resolves');
});

t.test('unreachable and unauthorised cameras end the run without leaking credentials', async (t) => {
  const password = 'Zebra-Secret-42';
  const sim = await new CameraSim({ mounts: ['lobby'], user: 'operator', password }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const logLines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(line); } });

  const wrong = record(sim.url().replace(encodeURIComponent(password), 'Wrong-Secret-17'), join(dir, 'wrong'), 2, 5, log);
  wrong.backend.start();
  const denied = await within(wrong.exited, 15000);
  t.ok(denied, 'a wrong password ends the run');
  t.equal(denied?.requested, false, 'as a failure');
  t.match(denied?.reason, /unauthorized \(401\)/, `reason: ${denied?.reason}`);
  t.notMatch(denied?.reason, /Wrong-Secret-17|operator/, 'the reason names no credentials');
  t.notMatch(logLines.join('\n'), /PyGIWarning|require_version/, 'the child starts without a warning on stderr (it would read as a recorder\'s last words)');

  const url = sim.url();
  await sim.kill(); // nothing listens on the port any more
  const startedAt = Date.now();
  const gone = record(url, join(dir, 'gone'), 2, 5, log);
  gone.backend.start();
  const exit = await within(gone.exited, 15000);
  t.ok(exit, 'exit is reported');
  t.equal(exit?.requested, false, 'the exit is a failure');
  t.ok(exit && exit.atMs - startedAt < 15000, `exit ${exit ? exit.atMs - startedAt : '-'} ms after start()`);
  t.notMatch(exit?.reason, new RegExp(`${password}|${encodeURIComponent(password)}|operator`), `reason has no credentials: ${exit?.reason}`);
  t.match(exit?.reason, /rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/lobby/, 'reason names the camera by its safe URL');
  t.equal(gone.segments.length, 0, 'no segment');
  await gone.backend.stop();
  t.ok(logLines.length >= 4, `${logLines.length} log lines written`);
  t.notOk(logLines.some((l) => /Secret|operator/.test(l)), 'no log line carries a user name or password');
});

/** A fragmented MP4 that mp4mux closed properly ends with its random-access index (mfra). */
function finished(path: string): boolean {
  const b = readFileSync(path);
  return b.length > 16 && b.toString('latin1', b.length - 16 + 4, b.length - 16 + 8) === 'mfro';
}

interface ChildEvent { event: string; [k: string]: unknown }

function spawnRecorder(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: ChildEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += String(d); });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as ChildEvent);
    } catch {
      // not ours
    }
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, events, closed, stderr: () => stderr };
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await sleep(100);
  }
  return true;
}

t.test('a recorder killed with SIGKILL leaves a playable file; its command line holds no credentials', async (t) => {
  const password = 'Otter-Secret-77';
  const sim = await new CameraSim({ mounts: ['hall'], gop: 15, fps: 15, user: 'keeper', password }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const r = record(sim.url(), join(dir, 'hall'), 60);
  r.backend.start();
  t.teardown(() => r.backend.stop());
  t.ok(await waitFor(() => r.progress.length > 0, 20000), 'media flowed');
  const cmdline = readFileSync(`/proc/${r.backend.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  t.match(cmdline, /gst-recorder\.py/, `the recorder is a process of its own: ${cmdline}`);
  t.notMatch(cmdline, new RegExp(`${password}|keeper|rtsp:`), 'its command line names no camera URL, user or password');
  await sleep(4000);
  process.kill(r.backend.pid!, 'SIGKILL');
  const exit = await within(r.exited, 10000);
  t.equal(exit?.requested, false, `a killed recorder is a failure: ${exit?.reason}`);
  t.match(exit?.reason, /killed by SIGKILL/);
  const files = readdirSync(join(dir, 'hall'));
  t.equal(files.length, 1, 'one open segment was left');
  t.equal(r.segments.length, 0, 'none had been closed');
  const media = await ffprobe(join(dir, 'hall', files[0]));
  t.equal(media.codec, 'h264', 'the partial file holds h264');
  // 4 s recorded at 15 fps; a kill loses the mp4mux fragment in memory (FRAGMENT_MS)
  t.ok(media.packets >= 40, `it plays up to its last fragment: ${media.packets} packets`);
  t.ok(media.durationS >= 2.5, `${media.durationS} s of the 4 s recorded`);
  t.notOk(finished(join(dir, 'hall', files[0])), 'and was never finished (no mfra index)');
});

t.test('when the daemon dies by kill -9, its recorder finishes the open file and exits', async (t) => {
  const sim = await new CameraSim({ mounts: ['porch'], gop: 15, fps: 15 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const parent = spawnRecorder([sim.url(), join(dir, 'porch'), '60']);
  t.teardown(() => { parent.child.kill('SIGKILL'); });
  const started = await waitFor(() => parent.events.some((e) => e.event === 'progress'), 20000);
  t.ok(started, `media flowed${started ? '' : `: ${parent.stderr()}`}`);
  const recorderPid = Number(parent.events.find((e) => e.event === 'started')?.pid);
  t.ok(recorderPid > 0, `the recorder runs as pid ${recorderPid}`);
  await sleep(3000);
  parent.child.kill('SIGKILL');
  await parent.closed;
  const gone = await waitFor(() => !existsSync(`/proc/${recorderPid}`) || readFileSync(`/proc/${recorderPid}/stat`, 'utf8').includes(') Z'), 10000);
  t.ok(gone, 'the recorder did not outlive the daemon');
  const files = readdirSync(join(dir, 'porch'));
  t.equal(files.length, 1, 'one segment was open');
  const media = await ffprobe(join(dir, 'porch', files[0]));
  t.ok(media.packets >= 40, `it holds what was recorded: ${media.packets} packets, ${media.durationS} s`);
  t.ok(finished(join(dir, 'porch', files[0])), 'and was finished properly at EOS (it ends with an mfra index)');
});

t.test('segments are reported in the order they were opened, even when finalised out of order', async (t) => {
  // async-finalize lets a file finish after the next one (a split just before EOS): fed the
  // recorder's lines of such a run, the backend still reports segment 0 before segment 1.
  const backend = new GstreamerBackend({ camera: 'c', url: 'rtsp://127.0.0.1:1/x', safeUrl: 'rtsp://127.0.0.1:1/x', stagingDir: '/nonexistent', segmentSeconds: 2, timeoutSeconds: 5 });
  const child = backend as unknown as { onLine(line: string): void };
  const segments: ClosedSegment[] = [];
  backend.on('segment', (s) => segments.push(s));
  const line = (event: string, location: string, wallMs: number) => child.onLine(JSON.stringify({ event, location, wall_ms: wallMs }));
  const t0 = 1_796_000_000_000;
  line('opened', '/s/0.mp4', t0 + 100);
  line('opened', '/s/1.mp4', t0 + 2100);
  line('closed', '/s/1.mp4', t0 + 2900);
  t.equal(segments.length, 0, 'segment 1 waits for segment 0');
  line('closed', '/s/0.mp4', t0 + 2100);
  t.same(segments.map((s) => s.stagedPath), ['/s/0.mp4', '/s/1.mp4'], 'then both, in order');
  t.same(segments.map((s) => [s.startMs - t0, s.endMs - t0]), [[100, 2100], [2100, 2900]], 'with the times the recorder gave, contiguous');
});
