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
