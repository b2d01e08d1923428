/**
 * Streams a camera (or something posing as one) may send that the simulator does not make: H.265,
 * audio only, a picture size that changes mid-stream. Each is served from a prepared file by
 * test/support/file-rtsp.py and recorded by the real daemon; the catalog must stay whole
 * (`verify` passes) and what cannot be recorded is said plainly.
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { fileCamera } from '../support/file-camera.js';

/** `seconds` of a test picture as MPEG-TS, encoded with `codec` at `size`. */
function picture(path: string, size: string, seconds: number, codec: 'libx264' | 'libx265' = 'libx264'): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=15`, '-t', String(seconds), '-c:v', codec,
    ...(codec === 'libx265' ? ['-x265-params', 'log-level=error'] : []), '-g', '15', '-pix_fmt', 'yuv420p', '-f', 'mpegts', path]);
  return path;
}

/** `dir`: the test's own (a second t.testdir() would empty it, the served file with it) */
async function record(t: Test, dir: string, url: string, until_: (daemon: DaemonProcess) => boolean, what: string) {
  const config = writeConfig(dir, [{ id: 'cam', url }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => until_(daemon), 40_000, what).catch((err: Error) => { throw new Error(`${err.message}; the log ends:\n${daemon.output.slice(-1500)}`); });
  t.equal((await daemon.stop('SIGTERM')).code, 0, 'the daemon stops cleanly');
  const verify = await runCli(['verify', '--config', config]);
  t.equal(verify.code, 0, `verify passes: ${verify.stdout.split('\n').at(-2)}${verify.stderr}`);
  return { daemon, dataDir: join(dir, 'data'), config };
}

function sizes(dataDir: string): string[] {
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  try {
    const paths = (db.prepare("SELECT path FROM segments WHERE camera = 'cam' ORDER BY start_ms").all() as Array<{ path: string }>).map((r) => r.path);
    return paths.map((p) => execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0',
      join(dataDir, p)], { encoding: 'utf8' }).trim());
  } finally {
    db.close();
  }
}

t.test('an H.265 camera is recorded as H.265', async (t) => {
  const dir = t.testdir();
  const file = picture(join(dir, 'h265.ts'), '640x360', 12, 'libx265');
  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux ! h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96`);
  const { dataDir } = await record(t, dir, url, (d) => d.countLog(segmentIndexed('cam')) >= 3, 'three segments');
  const shapes = sizes(dataDir);
  t.ok(shapes.length >= 3, `segments: ${shapes.join(' ')}`);
  t.ok(shapes.every((s) => s === 'hevc,640,360'), 'every one hevc 640x360');
});

t.test('a picture size that changes mid-stream: both sizes are recorded, the catalog stays whole', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'changing.ts');
  // MPEG-TS files joined byte for byte: a new SPS (640x360 -> 320x240) and timestamps starting over
  writeFileSync(file, Buffer.concat([picture(join(dir, 'a.ts'), '640x360', 6), picture(join(dir, 'b.ts'), '320x240', 6)].map((p) => readFileSync(p))));
  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96`);
  const { dataDir } = await record(t, dir, url, (d) => d.countLog(segmentIndexed('cam')) >= 6, 'six segments');
  const shapes = sizes(dataDir);
  t.ok(shapes.includes('h264,640,360') && shapes.includes('h264,320,240'), `segments of both sizes: ${shapes.join(' ')}`);
});

t.test('ffmpeg, the size changing with the timestamps running on: the pictures\' own size is reported and raised', async (t) => {
  const dir = t.testdir();
  const list = join(dir, 'list.txt');
  writeFileSync(list, `file '${picture(join(dir, 'a.ts'), '640x360', 10)}'\nfile '${picture(join(dir, 'b.ts'), '320x240', 20)}'\n`);
  // the concat demuxer carries the timestamps on: ffmpeg's recorder does not end its run at the
  // change (with timestamps starting over it did), and its stream copy keeps the run's first
  // header (640x360) in every file of the run. The box went on reporting 640x360, raising nothing.
  const file = join(dir, 'changing.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', '-f', 'mpegts', file]);
  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96`);
  const raised = /"event":"tamper_suspected","camera":"cam","kind":"stream_changed".*"seen":\{"codec":"h264","width":320,"height":240/;
  const { daemon } = await record(t, dir, url, (d) => d.countLog(raised) >= 1, 'stream_changed');
  t.match(daemon.output, /the camera's pictures are not the size the recording's header says/, 'the mismatch is logged');
});

t.test('GStreamer, by stream copy and masked on the box: a picture size change finishes the open file and starts a new run; every file plays', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'changing.ts');
  writeFileSync(file, Buffer.concat([picture(join(dir, 'a.ts'), '640x360', 5), picture(join(dir, 'b.ts'), '320x240', 5)].map((p) => readFileSync(p))));
  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96`);
  // the server starts the file over for each connection: each run sees 640x360, then the change
  const config = writeConfig(dir, [{ id: 'copy', url, backend: 'gstreamer' }, { id: 'box', url, yaml: 'capture_masks:\n  - { x: 0.25, y: 0.25, w: 0.5, h: 0.5 }\n' }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const changed = (camera: string) => new RegExp(`"camera":"${camera}".*the picture changed size mid-stream from 640x360 to 320x240: the open file is finished and a new run starts`);
  await until(() => ['copy', 'box'].every((c) => daemon.countLog(changed(c)) >= 1 && daemon.countLog(segmentIndexed(c)) >= 3), 60_000, 'a size change on each path')
    .catch((err: Error) => { throw new Error(`${err.message}; the log ends:\n${daemon.output.slice(-1500)}`); });
  t.equal((await daemon.stop('SIGTERM')).code, 0, 'the daemon stops cleanly');
  t.notMatch(daemon.output, /GStreamer-CRITICAL/, 'the recording child says nothing of GStreamer misuse (it printed a line for every picture)');
  const verify = await runCli(['verify', '--config', config]);
  t.equal(verify.code, 0, `verify passes: ${verify.stdout.split('\n').at(-2)}${verify.stderr}`);
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  const rows = db.prepare('SELECT camera, path FROM segments ORDER BY start_ms').all() as Array<{ camera: string; path: string }>;
  db.close();
  for (const cam of ['copy', 'box']) {
    const mine = rows.filter((r) => r.camera === cam);
    // before: the file open at the change had the new size's header over the old size's pictures, and nothing played it
    const unplayable = mine.filter((r) => {
      const out = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'csv=p=0', join(dir, 'data', r.path)], { encoding: 'utf8' });
      const [w, h, frames] = out.stdout.trim().split(',').map(Number);
      return out.status !== 0 || !(w! > 0 && h! > 0 && frames! > 0);
    });
    t.same(unplayable.map((r) => r.path), [], `${cam}: each of its ${mine.length} files has pictures that decode`);
  }
});

t.test('a camera that sends sound with its pictures: both backends record the pictures only (README: recordings carry no audio)', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'av.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '14', '-c:v', 'libx264', '-g', '15', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', file]);
  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux name=d d. ! queue ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 d. ! queue ! aacparse ! rtpmp4apay name=pay1 pt=97`);
  const config = writeConfig(dir, [{ id: 'ff', url, backend: 'ffmpeg' }, { id: 'gst', url, backend: 'gstreamer' }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('ff')) >= 2 && daemon.countLog(segmentIndexed('gst')) >= 2, 40_000, 'two segments of each camera');
  t.equal((await daemon.stop('SIGTERM')).code, 0, 'the daemon stops cleanly');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  for (const camera of ['ff', 'gst']) {
    const paths = (db.prepare('SELECT path FROM segments WHERE camera = ?').all(camera) as Array<{ path: string }>).map((r) => r.path);
    const streams = paths.map((p) => execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', join(dir, 'data', p)], { encoding: 'utf8' }).trim());
    t.ok(paths.length >= 2, `${camera}: ${paths.length} segments`);
    t.same([...new Set(streams)], ['video'], `${camera}: every segment holds one stream, the video`);
  }
});

t.test('an audio-only camera: marked down with a reason a person can act on, and retried', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'audio.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '20', '-c:a', 'aac', '-f', 'mpegts', file]);
  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux ! aacparse ! rtpmp4apay name=pay0 pt=97`);
  const reason = /"reason":"ffmpeg exited with status 1: the camera's stream has no video \(audio only\?\); set the camera, or pick a profile, that sends video"/;
  const { daemon } = await record(t, dir, url, (d) => d.countLog(reason) >= 2, 'two attempts, each with the reason');
  t.equal(daemon.countLog(segmentIndexed('cam')), 0, 'nothing recorded');
  t.match(daemon.output, /"state":"down"/, 'the camera is down');
  t.match(daemon.output, /"cause":"stream_unusable"/, 'the gap\'s cause points at the camera\'s settings, not a crash');
});
