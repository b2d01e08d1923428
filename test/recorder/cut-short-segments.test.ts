/**
 * A full disk fails a recorder's writes part-way: the file it closes plays less than the time
 * it reports, and a fragmented MP4's container still declares the samples of a fragment whose
 * data is missing. A file is claimed for the time its packets play (recovery, and the live path
 * while the disk is full); the rest is a gap. The full-disk daemon test
 * (full-disk-empty-segments) holds every row to what its file plays.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordedMedia } from '../../common/media-probe.js';
import { writtenPart } from '../../watchdog/camera-supervisor.js';

t.test('a fragmented MP4 cut short: its time is what its packets play, and the segment claims only that', async (t) => {
  const dir = t.testdir();
  const whole = join(dir, 'whole.mp4');
  // the recorders' segment format: fragmented at keyframes, the moov up front
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=10', '-t', '3', '-c:v', 'libx264', '-bf', '0', '-g', '10',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', whole]);
  const cut = join(dir, 'cut.mp4');
  writeFileSync(cut, readFileSync(whole).subarray(0, Math.round(statSync(whole).size * 0.4)));
  const empty = join(dir, 'empty.mp4');
  writeFileSync(empty, '');

  const full = await recordedMedia(whole);
  const part = await recordedMedia(cut);
  if (full.kind !== 'media' || part.kind !== 'media') return t.fail(`both hold video: ${JSON.stringify([full, part])}`);
  t.equal(full.info.durationMs, 3000, 'the whole file plays 3 s');
  // each picture lasts 100 ms: what is read plays that many of them
  t.equal(part.info.durationMs, part.info.videoPackets * 100, `the cut file plays its ${part.info.videoPackets} pictures, not its last fragment's declared length`);
  t.ok(part.info.durationMs < 2000, `under the 2 s its fragments declare (${part.info.durationMs} ms)`);

  const T = 1_796_000_000_000;
  const wholeSeg = { camera: 'c', stagedPath: whole, startMs: T, endMs: T + 3000 };
  t.same(await writtenPart(wholeSeg), { seg: wholeSeg, lostMs: 0 }, 'a whole file keeps its times');
  const cutSeg = { camera: 'c', stagedPath: cut, startMs: T, endMs: T + 3000 };
  t.same(await writtenPart(cutSeg), { seg: { ...cutSeg, endMs: T + part.info.durationMs }, lostMs: 3000 - part.info.durationMs }, 'a cut file claims what it plays; the rest is lost');
  t.equal(await writtenPart({ camera: 'c', stagedPath: empty, startMs: T, endMs: T + 3000 }), 'empty', 'a file without a byte claims nothing');
  const gone = { camera: 'c', stagedPath: join(dir, 'missing.mp4'), startMs: T, endMs: T + 3000 };
  t.same(await writtenPart(gone), { seg: gone, lostMs: 0 }, 'a file that cannot be read keeps its times (it may be evidence)');
});
