import { BlazeFace } from './redaction/blazeface.js';
import { decodeFrames, probeVideo } from './redaction/video-io.js';
const info = probeVideo('/tmp/rt/mm3.mp4');
const red = []; for await (const f of decodeFrames({ path: '/tmp/rt/mm-red2.mp4' }, info)) red.push(f);
const det = await BlazeFace.create({ tile: 384 });
let l35 = 0, l5 = 0; const lines = [];
for (let k = 0; k < red.length; k++) { const b = await det.detect(red[k]!); l35 += b.length; l5 += b.filter((x) => x.score >= 0.5).length; if (b.length) lines.push(`${k}: ${b.map((x) => `${x.x | 0},${x.y | 0},${x.w | 0}@${x.score.toFixed(2)}`).join(' ')}`); }
console.log(lines.join('\n')); console.log({ l35, l5, frames: red.length });
