/**
 * README, record: "stream copy, never a transcode" (the camera has no capture masks). Other tests
 * check the recorded codec only, which a re-encode to H.264 keeps. This one checks that the coded
 * pictures in the recordings are the camera's own, byte for byte, with both backends:
 * - the camera serves a prepared H.264 file (test/support/file-rtsp.py, gst-rtsp-server, as
 *   stream-shapes.test.ts does), so what it sends is known without any RTSP client: the file's
 *   slice NAL units (the coded pictures; parameter sets, SEI and delimiters aside, which a
 *   container may carry differently);
 * - the daemon records it with ffmpeg (camf) and with GStreamer (camg); every recorded segment's
 *   slice NAL units, in order, must be a contiguous run of the file's, each identical (sha256);
 * - a control: the same comparison rejects a segment re-encoded to H.264 at the same size and
 *   keyframe interval, so a transcode to the same codec cannot pass it.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { fileCamera } from '../support/file-camera.js';

/**
 * The sha256 of each slice NAL unit (types 1 and 5: the coded pictures) of a file's first video
 * stream, in order. The stream is written out as Annex B by a stream copy (an MP4's length
 * prefixes become start codes; the NAL units' bytes are untouched), then split at its start codes.
 */
function sliceHashes(path: string): string[] {
  const es = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:v:0', '-c', 'copy', '-f', 'h264', '-'], { maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  const starts: number[] = [];
  for (let i = 0; i + 2 < es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) { starts.push(i + 3); i += 2; }
  }
  const out: string[] = [];
  starts.forEach((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1]! - 3 : es.length;
    while (end > s && es[end - 1] === 0) end--; // a 4-byte start code's leading zero, trailing zero bytes
    const type = es[s]! & 0x1f;
    if (type === 1 || type === 5) out.push(createHash('sha256').update(es.subarray(s, end)).digest('hex'));
  });
  return out;
}

/** Where `run` sits in `source` as a contiguous, identical run of slices, or -1. */
function runAt(source: string[], run: string[]): number {
  for (let i = source.indexOf(run[0]!); i >= 0; i = source.indexOf(run[0]!, i + 1)) {
    if (run.every((h, k) => source[i + k] === h)) return i;
  }
  return -1;
}

t.test('ffmpeg and GStreamer record the camera\'s own coded pictures, byte for byte; a re-encode to H.264 is told apart', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'camera.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-t', '12', '-c:v', 'libx264', '-preset', 'veryfast',
    '-g', '15', '-pix_fmt', 'yuv420p', '-f', 'mpegts', file]);
  const source = sliceHashes(file);
  t.equal(source.length, 180, 'the camera\'s file: 12 s at 15 fps, one slice a picture');
  t.equal(new Set(source).size, source.length, 'no two of its pictures are coded alike (a run is found in one place only)');

  const url = await fileCamera(t, `filesrc location=${file} ! tsdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96`);
  const config = writeConfig(dir, [{ id: 'camf', url, backend: 'ffmpeg' }, { id: 'camg', url, backend: 'gstreamer' }], { segmentSeconds: 2 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('camf')) >= 2 && daemon.countLog(segmentIndexed('camg')) >= 2, 40_000, 'two segments of each camera')
    .catch((err: Error) => { throw new Error(`${err.message}; the log ends:\n${daemon.output.slice(-1500)}`); });
  t.equal((await daemon.stop()).code, 0, 'the daemon stops cleanly, closing the open segments');

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  const segments = db.prepare('SELECT camera, path FROM segments ORDER BY camera, start_ms').all() as Array<{ camera: string; path: string }>;
  db.close();
  let recorded: string | undefined;
  for (const camera of ['camf', 'camg']) {
    const mine = segments.filter((s) => s.camera === camera);
    t.ok(mine.length >= 2, `${camera}: ${mine.length} segments`);
    let pictures = 0;
    for (const s of mine) {
      const slices = sliceHashes(join(dir, 'data', s.path));
      pictures += slices.length;
      const at = slices.length ? runAt(source, slices) : -1;
      t.ok(at >= 0, `${camera} ${s.path}: its ${slices.length} pictures are ${at >= 0 ? `the camera's pictures ${at}-${at + slices.length - 1}, in order, byte for byte` : 'NOT a run of the camera\'s pictures'}`);
      recorded ??= join(dir, 'data', s.path);
    }
    t.ok(pictures >= 30, `${camera}: ${pictures} pictures compared (2 s or more)`);
  }

  // the control: what a transcode to the same codec, size and keyframe interval would have written
  const reencoded = join(dir, 'reencoded.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', recorded!, '-map', '0:v:0', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '15', '-pix_fmt', 'yuv420p', reencoded]);
  const transcoded = sliceHashes(reencoded);
  t.ok(transcoded.length > 0, `the re-encoded segment has ${transcoded.length} pictures`);
  t.equal(transcoded.filter((h) => source.includes(h)).length, 0, 'not one of them is the camera\'s: the comparison tells a re-encode from a copy');
});
