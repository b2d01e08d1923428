import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Catalog, SegmentRow } from '../../recorder/catalog/catalog.js';
import { SegmentStore, stagingDir } from '../../recorder/segment-store.js';

/** A real, playable fragmented MP4 of `seconds` (generated: test media never comes from outside). */
export function makeClip(path: string, seconds = 1, bitrateK = 200, opts: { noisy?: boolean } = {}): string {
  // testsrc compresses to far under most bitrates; noise makes the clip as large as asked
  const source = opts.noisy ? ['-f', 'lavfi', '-i', 'color=size=320x180:rate=10', '-vf', 'noise=alls=80:allf=t'] : ['-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=10'];
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...source, '-t', String(seconds),
    '-c:v', 'libx264', '-b:v', `${bitrateK}k`, '-g', '10', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', path]);
  return path;
}

/**
 * Recordings from the past, committed through the real segment store (the same path a
 * backend's segments take), so retention and holds can be shown without waiting for days.
 */
export async function backdate(dataDir: string, catalog: Catalog, clip: string, camera: string, startsMs: number[], lengthMs = 60_000): Promise<SegmentRow[]> {
  const store = new SegmentStore(dataDir, catalog, pino({ level: 'silent' }));
  const staging = stagingDir(dataDir, camera);
  mkdirSync(staging, { recursive: true });
  const rows: SegmentRow[] = [];
  for (const [i, start] of startsMs.entries()) {
    const staged = join(staging, `${start}-${String(i).padStart(6, '0')}.mp4`);
    copyFileSync(clip, staged);
    rows.push(await store.commit({ camera, stagedPath: staged, startMs: start, endMs: start + lengthMs }));
  }
  await store.close();
  return rows;
}
