import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GST_RECORDER } from '../../recorder/backends/gstreamer.js';

const run = promisify(execFile);

/*
 * Pictures that reach the muxer without a PTS (GStreamer's jitter buffer does that after a
 * burst: seen at 32 cameras on a loaded box) used to fail the whole run with mp4mux's "Buffer
 * has no PTS" and a hole while it restarted. An H.264 elementary stream read from a file makes
 * h264parse emit exactly that on demand (a DTS, no PTS): the recording child must record every
 * picture, say what it repaired, and end cleanly.
 */
t.test('pictures without a PTS are stamped from their DTS, recorded, and reported', async (t) => {
  const dir = t.testdir();
  const stream = join(dir, 'camera.h264');
  await run('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=40', '!', 'video/x-raw,width=160,height=120,framerate=10/1',
    '!', 'x264enc', 'key-int-max=10', '!', 'video/x-h264,stream-format=byte-stream', '!', 'filesink', `location=${stream}`]);

  const child = spawn('/usr/bin/python3', [GST_RECORDER, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stdin.end(JSON.stringify({
    launch: 'filesrc name=src ! h264parse ! progressreport name=progress silent=true ! splitmuxsink name=mux max-size-time=1000000000 muxer-factory=mp4mux',
    location: stream,
    files: join(dir, 'out-%03d.mp4'),
  }) + '\n');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const events = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; text?: string; message?: string });

  t.equal(code, 0, 'the child ends cleanly');
  t.same(events.filter((e) => e.event === 'error'), [], 'no error (the muxer took every picture)');
  t.ok(events.some((e) => e.event === 'eos'), 'end of stream reached');
  t.ok(events.some((e) => e.event === 'warning' && /without a timestamp repaired/.test(e.text ?? '')), 'the repair is reported');

  const files = readdirSync(dir).filter((f) => f.startsWith('out-')).sort();
  let frames = 0;
  for (const f of files) {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0',
      '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', join(dir, f)]);
    frames += Number(stdout.trim());
  }
  t.equal(frames, 40, `every picture recorded (${files.length} files)`);
});

/*
 * A burst handed on by the jitter buffer (a camera's start-up, a recorder starved of CPU on a
 * loaded box) gives several pictures the same PTS. The file that opens on it starts with its
 * keyframe: that picture's media time is the file's start, not the newest of the burst's (CI saw
 * a run's first file dated 1.2 s late so).
 */
t.test("a file opening in a burst of pictures sharing one PTS starts at the keyframe's media time", async (t) => {
  const ms = 1_000_000;
  const cases: Array<{ name: string; frames: Array<[number, number, boolean]>; at: number; want: number }> = [
    { name: 'a burst led by its keyframe', frames: [[900 * ms, 0, true], ...Array.from({ length: 9 }, (_, i): [number, number, boolean] => [900 * ms, (i + 1) * 100 * ms, false])], at: 900 * ms, want: 0 },
    { name: 'a keyframe inside a burst', frames: [[500 * ms, 0, false], [500 * ms, 100 * ms, false], [500 * ms, 200 * ms, true], [500 * ms, 300 * ms, false]], at: 500 * ms, want: 0.2 },
    { name: 'pictures evenly apart (the usual case)', frames: Array.from({ length: 10 }, (_, i): [number, number, boolean] => [(i * 100 + 33) * ms, i * 100 * ms, i % 5 === 0]), at: 533 * ms, want: 0.5 },
    { name: 'a time between pictures: the nearest one', frames: [[100 * ms, 0, true], [200 * ms, 100 * ms, false]], at: 190 * ms, want: 0.09 },
  ];
  const program = [
    'import importlib.util, json, sys',
    'spec = importlib.util.spec_from_file_location("rec", sys.argv[1])',
    'rec = importlib.util.module_from_spec(spec); spec.loader.exec_module(rec)',
    'for c in json.loads(sys.stdin.read()): print(json.dumps(rec.media_time([tuple(f) for f in c["frames"]], c["at"])))',
  ].join('\n');
  const child = spawn('/usr/bin/python3', ['-c', program, GST_RECORDER], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stdin.end(JSON.stringify(cases));
  t.equal(await new Promise<number | null>((resolve) => child.once('exit', resolve)), 0, 'the child module loads and answers');
  const got = out.trim().split('\n').map((l) => JSON.parse(l) as number);
  cases.forEach((c, i) => t.equal(got[i], c.want, `${c.name}: ${c.want} s`));
});
