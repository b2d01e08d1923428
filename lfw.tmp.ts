import { readFileSync } from 'node:fs';
import { BlazeFace } from './redaction/blazeface.js';
import type { Frame } from './redaction/frame.js';
const raw = readFileSync('/tmp/lfw/lfw.u8');
const crop = (i: number, canvas: number, scale: number): Frame => {
  const W = canvas; const data = Buffer.alloc(W * W * 3, 128); const s = 25 * scale; const off = Math.floor((W - s) / 2);
  for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) { const v = raw[i * 625 + Math.floor(y / scale) * 25 + Math.floor(x / scale)]!; data.fill(v, ((y + off) * W + x + off) * 3, ((y + off) * W + x + off) * 3 + 3); }
  return { width: W, height: W, data };
};
for (const model of ['models/face_detection_back_256x256_barracuda.onnx', 'models/face_detection_front_128x128_barracuda.onnx'])
for (const th of [0.5, 0.3]) {
  const bf = await BlazeFace.create({ threshold: th, model });
  for (const [canvas, scale] of [[25, 1], [40, 1], [50, 1], [100, 2]] as const) {
    let faces = 0, fps = 0;
    for (let i = 0; i < 200; i++) { const n = (await bf.detect(crop(i, canvas, scale))).length; if (i < 100 && n > 0) faces++; if (i >= 100 && n > 0) fps++; }
    console.log(model.slice(7, 30), 'th', th, 'canvas', canvas, 'scale', scale, 'faces', faces, 'fp', fps);
  }
}
