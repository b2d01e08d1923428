import { execFileSync } from 'node:child_process';

/** What ffprobe decodes from a file: the proof that a segment plays. */
export function probe(path: string): { codec: string; frames: number; durationS: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames',
    '-show_entries', 'stream=codec_name,nb_read_frames:format=duration', '-of', 'json', path], { encoding: 'utf8' });
  const j = JSON.parse(out) as { streams: Array<{ codec_name: string; nb_read_frames: string }>; format: { duration?: string } };
  return { codec: j.streams[0]?.codec_name ?? '', frames: Number(j.streams[0]?.nb_read_frames ?? 0), durationS: Number(j.format.duration ?? 0) };
}
