import { readFileSync } from 'node:fs';
import { BlazeFace } from './redaction/blazeface.js';
import { readImage } from './redaction/image-io.js';
import type { Frame } from './redaction/frame.js';
const astro = await readImage('/usr/lib/python3/dist-packages/skimage/data/astronaut.png');
// the astronaut's face region, 160x160 around (172,74,104,104) padded
const src = { x: 150, y: 50, w: 150, h: 150 };
function paste(dst: Frame, px: number, py: number, size: number) {
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const sx = src.x + Math.floor(x * src.w / size), sy = src.y + Math.floor(y * src.h / size);
    astro.data.copy(dst.data, ((py + y) * dst.width + px + x) * 3, (sy * astro.width + sx) * 3, (sy * astro.width + sx) * 3 + 3);
  }
}
for (const facepx of [24, 30, 40]) {
  const f: Frame = { width: 1920, height: 1080, data: Buffer.from(readFileSync('/tmp/rt/bg1080.rgb')) };
  const spots: Array<[number, number]> = [];
  for (let i = 0; i < 12; i++) { const x = 100 + (i % 6) * 300, y = 150 + Math.floor(i / 6) * 500; paste(f, x, y, Math.round(facepx / 0.7)); spots.push([x, y]); }
  for (const tile of [0, 320, 384, 512, 640]) for (const th of [0.35, 0.5]) {
    const bf = await BlazeFace.create({ tile, threshold: th });
    const t = performance.now(); const b = await bf.detect(f); const ms = performance.now() - t;
    const hit = spots.filter(([x, y]) => b.some((bb) => bb.x < x + facepx * 1.4 && bb.x + bb.w > x && bb.y < y + facepx * 1.4 && bb.y + bb.h > y)).length;
    console.log('face', facepx, 'tile', tile, 'th', th, 'found', hit, '/12 boxes', b.length, ms.toFixed(0), 'ms');
  }
}
