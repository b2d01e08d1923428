import { execFileSync } from 'node:child_process';

const SCENE = '/usr/share/doc/opencv-doc/examples/data/building.jpg';

/**
 * A photograph (Debian's opencv-doc) at width x height with fresh sensor noise and a small bright
 * patch in a new place per frame (what keeps a picture from reading static: a ticking clock,
 * someone far off), and the same picture under a dark hand over the lens. RGB24, 8 normal frames.
 */
export function tamperPictures(width: number, height: number): { normal: Buffer[]; covered: Buffer } {
  const n = 8;
  const graph = `[0:v]scale=${width}:${height}:force_original_aspect_ratio=increase,crop=${width}:${height},split=${n + 1}${Array.from({ length: n + 1 }, (_, i) => `[s${i}]`).join('')};`
    + Array.from({ length: n }, (_, i) => `[s${i}]drawbox=x=${20 + i * 34}:y=12:w=24:h=16:color=white@1:t=fill,noise=alls=5:allf=t+u:all_seed=${i + 1}[o${i}]`).join(';')
    + `;[s${n}]drawbox=x=0:y=0:w=iw:h=ih:color=0x3a2a22@1:t=fill,noise=alls=3:allf=t[o${n}];`
    + `${Array.from({ length: n + 1 }, (_, i) => `[o${i}]`).join('')}vstack=inputs=${n + 1}`;
  const data = execFileSync('ffmpeg', ['-v', 'error', '-i', SCENE, '-filter_complex', graph, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  const size = width * height * 3;
  const all = Array.from({ length: n + 1 }, (_, i) => data.subarray(i * size, (i + 1) * size));
  return { normal: all.slice(0, n), covered: all[n]! };
}
