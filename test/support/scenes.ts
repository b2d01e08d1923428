/**
 * Generated test and benchmark scenes for redaction: licence plates of several national formats
 * rendered with Debian's fonts (random text, font, size, place, perspective, blur, noise, night)
 * and faces cut from Debian's photos, composited onto real photos and real footage. Every object
 * is placed by the generator, so where it is, in every frame, is known exactly.
 *
 * Nothing here is tuned to the detectors: texts, fonts, sizes, places and backgrounds come from a
 * seeded random generator; tests and benchmarks use different seeds, and the benchmark's final
 * figures a held-out set of seeds, fonts and faces (`split: 'held-out'`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Frame } from '../../redaction/frame.js';

const OPENCV = '/usr/share/doc/opencv-doc/examples/data';
const OPENCV_HTML = '/usr/share/doc/opencv-doc/opencv4/html';
const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';

export type Split = 'calibration' | 'held-out';

/** Real photos without faces or text, as backgrounds (chosen by looking at them). */
const BACKGROUNDS: Record<Split, string[]> = {
  calibration: [`${OPENCV}/building.jpg`, `${OPENCV}/fruits.jpg`, `${OPENCV}/home.jpg`, `${OPENCV}/aero3.jpg`, `${SKIMAGE}/coffee.png`,
    `${SKIMAGE}/rocket.jpg`, `${SKIMAGE}/gravel.png`, `${OPENCV}/graf1.png`],
  'held-out': [`${OPENCV}/orange.jpg`, `${OPENCV}/aero1.jpg`, `${SKIMAGE}/grass.png`, `${SKIMAGE}/brick.png`, `${SKIMAGE}/motorcycle_left.png`,
    `${OPENCV}/leuvenB.jpg`, `${SKIMAGE}/hubble_deep_field.jpg`, `${OPENCV}/starry_night.jpg`],
};

/** Faces in Debian's photos (BlazeFace boxes at 0.8+, checked by eye): x, y, width of the face. */
const FACES: Record<Split, Array<{ path: string; x: number; y: number; w: number }>> = {
  calibration: [
    { path: `${OPENCV}/messi5.jpg`, x: 221, y: 96, w: 38 },
    { path: `${SKIMAGE}/astronaut.png`, x: 173, y: 75, w: 103 },
    { path: `${OPENCV_HTML}/227943776_1.jpg`, x: 138, y: 120, w: 164 },
    { path: `${OPENCV_HTML}/Basic_Linear_Transform_Tutorial_Result_big.jpg`, x: 72, y: 99, w: 63 },
  ],
  'held-out': [
    { path: `${OPENCV_HTML}/230501201_1.jpg`, x: 165, y: 261, w: 300 },
    { path: `${OPENCV_HTML}/facereg.jpg`, x: 117, y: 18, w: 66 },
    { path: `${OPENCV_HTML}/facereg.jpg`, x: 13, y: 15, w: 67 },
    { path: `${OPENCV_HTML}/imgs.jpg`, x: 654, y: 216, w: 98 },
  ],
};

const FONTS: Record<Split, string[]> = {
  calibration: ['/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf',
    '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf'],
  'held-out': ['/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf', '/usr/share/fonts/truetype/liberation2/LiberationMono-Bold.ttf',
    '/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf'],
};
const CJK_FONT = '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc';

/** What the scenes need from Debian (scripts/setup installs them). */
export function scenesAvailable(): string | undefined {
  for (const p of [...Object.values(BACKGROUNDS).flat(), ...Object.values(FACES).flat().map((f) => f.path), ...Object.values(FONTS).flat(), CJK_FONT]) {
    if (!existsSync(p)) return `${p} is missing (scripts/setup installs opencv-doc, python3-skimage, fonts-dejavu, fonts-liberation2, fonts-wqy-microhei)`;
  }
  return undefined;
}

/** mulberry32: small, seeded, the same everywhere. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  range(a: number, b: number): number { return a + (b - a) * this.next(); }
  int(a: number, b: number): number { return Math.floor(this.range(a, b + 1)); }
  pick<T>(a: readonly T[]): T { return a[Math.floor(this.next() * a.length)]!; }
}

function raw(args: string[], w: number, h: number): Frame {
  const data = execFileSync('ffmpeg', ['-v', 'error', ...args, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: w * h * 3 + 1024 });
  if (data.length !== w * h * 3) throw new Error(`ffmpeg gave ${data.length} bytes for ${w}x${h}`);
  return { width: w, height: h, data };
}

const imageCache = new Map<string, Frame>();
/** A photo at its own size (cached). */
export function photo(path: string): Frame {
  let f = imageCache.get(path);
  if (!f) {
    const [w, h] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim().split(',').map(Number);
    imageCache.set(path, f = raw(['-i', path], w!, h!));
  }
  return f;
}

/** A real photo scaled to cover width x height and cropped at a random place. */
export function background(rng: Rng, split: Split, width: number, height: number): Frame {
  const path = rng.pick(BACKGROUNDS[split]);
  const fx = rng.next().toFixed(3), fy = rng.next().toFixed(3);
  return raw(['-i', path, '-vf', `scale=${width}:${height}:force_original_aspect_ratio=increase,crop=${width}:${height}:(iw-${width})*${fx}:(ih-${height})*${fy}`], width, height);
}

export type PlateFormat = 'eu' | 'uk-rear' | 'us' | 'cn';
export const PLATE_FORMATS: PlateFormat[] = ['eu', 'uk-rear', 'us', 'cn'];

const L = 'ABCDEFGHJKLMNPRSTUVWXYZ', D = '0123456789';
function plateText(rng: Rng, format: PlateFormat): string {
  const s = (pool: string, n: number) => Array.from({ length: n }, () => rng.pick(pool.split(''))).join('');
  switch (format) {
    case 'eu': return rng.pick([() => `${s(L, 2)}-${s(D, 3)}-${s(L, 2)}`, () => `${s(L, 1)} ${s(L, 2)} ${s(D, 4)}`, () => `${s(D, 1)}-${s(L, 3)}-${s(D, 3)}`])();
    case 'uk-rear': return `${s(L, 2)}${s(D, 2)} ${s(L, 3)}`;
    case 'us': return rng.pick([() => `${s(D, 1)}${s(L, 3)}${s(D, 3)}`, () => `${s(L, 3)} ${s(D, 4)}`, () => `${s(L, 3)}-${s(D, 3)}`])();
    case 'cn': return `${rng.pick(['京', '沪', '粤', '苏', '浙', '川'])}${s(L, 1)}·${s(D + L, 5)}`;
  }
}

/**
 * A plate as an image: its format's proportions, colours and text, rendered with drawtext.
 * `capPx`: height of the capital letters; the plate is drawn twice that size and shrunk when it
 * is composited, so edges are smooth. Returns where the characters are, in plate pixels.
 */
export function renderPlate(rng: Rng, split: Split, format: PlateFormat, capPx: number): { image: Frame; text: string; chars: { x: number; y: number; w: number; h: number } } {
  const text = plateText(rng, format);
  const k = 2;
  const spec = {
    eu: { aspect: 520 / 110, cap: 0.62, bg: 'white', fg: 'black', band: '0x003399' },
    'uk-rear': { aspect: 520 / 111, cap: 0.62, bg: '0xF7D117', fg: 'black', band: '' },
    us: { aspect: 2, cap: 0.42, bg: rng.pick(['white', '0xF2F0E6', '0xE8EEF7']), fg: rng.pick(['0x12206B', '0x8B0000', 'black']), band: '' },
    cn: { aspect: 440 / 140, cap: 0.6, bg: '0x0B3C9E', fg: 'white', band: '' },
  }[format];
  const even = (v: number) => 2 * Math.round(v / 2);
  const font = format === 'cn' ? CJK_FONT : rng.pick(FONTS[split]);
  const size = Math.round(capPx * k / 0.72);
  const esc = text.replace(/:/g, '\\:');
  const drawText = (x: string, y: string, color: string) => `drawtext=fontfile=${font}:text='${esc}':fontsize=${size}:fontcolor=${color}:x=${x}:y=${y}`;
  // the text's width first (drawn alone on a wide canvas), so the plate is as wide as its text needs
  const probeW = even(size * (text.length + 2)), probeH = even(size * 2);
  const alone = raw(['-f', 'lavfi', '-i', `color=c=black:s=${probeW}x${probeH}`, '-vf', drawText('10', '10', 'white')], probeW, probeH);
  let textW = 0;
  for (let x = probeW - 1; x >= 0 && !textW; x--) for (let y = 0; y < probeH; y++) if (alone.data[(y * probeW + x) * 3]! > 128) { textW = x - 9; break; }
  const h = even(Math.max(16, (capPx * k) / spec.cap));
  const x0 = spec.band ? even(h * 0.38) : 0;
  const w = even(Math.max(h * spec.aspect, textW + x0 + h * 0.45));
  const band = spec.band ? `,drawbox=x=0:y=0:w=${x0}:h=${h}:color=${spec.band}:t=fill` : '';
  const top = format === 'us' ? `,drawtext=fontfile=${FONTS[split][0]}:text='${rng.pick(['CALIFORNIA', 'TEXAS', 'OHIO', 'NEVADA', 'MAINE'])}':fontsize=${Math.round(h * 0.16)}:fontcolor=${spec.fg}:x=(w-text_w)/2:y=${Math.round(h * 0.06)}` : '';
  const vf = `drawbox=x=${Math.round(h * 0.04)}:y=${Math.round(h * 0.04)}:w=${w - Math.round(h * 0.08)}:h=${h - Math.round(h * 0.08)}:color=${spec.fg}@0.9:t=${Math.max(1, Math.round(h * 0.025))}${band}${top}` +
    `,${drawText(`${x0}+(w-${x0}-text_w)/2`, `(h-text_h)/2+${format === 'us' ? Math.round(h * 0.08) : 0}`, spec.fg)}`;
  const image = raw(['-f', 'lavfi', '-i', `color=c=${spec.bg}:s=${w}x${h}`, '-vf', vf], w, h);
  // the characters: the bounding box of the pixels drawn in the text colour, inside the border
  let cx0 = w, cy0 = h, cx1 = 0, cy1 = 0;
  const bgPix = image.data.subarray(((h >> 1) * w + x0 + 2) * 3, ((h >> 1) * w + x0 + 2) * 3 + 3);
  const inner = Math.round(h * 0.1);
  // a US plate's state name above its number is small print, not the registration
  for (let y = format === 'us' ? Math.round(h * 0.25) : inner; y < h - inner; y++) for (let x = x0 + inner; x < w - inner; x++) {
    const i = (y * w + x) * 3;
    if (Math.abs(image.data[i]! - bgPix[0]!) + Math.abs(image.data[i + 1]! - bgPix[1]!) + Math.abs(image.data[i + 2]! - bgPix[2]!) > 200) {
      if (x < cx0) cx0 = x; if (x > cx1) cx1 = x; if (y < cy0) cy0 = y; if (y > cy1) cy1 = y;
    }
  }
  return { image, text, chars: { x: cx0, y: cy0, w: cx1 - cx0 + 1, h: cy1 - cy0 + 1 } };
}

/** A face from Debian's photos with some of its surroundings (1.8 face widths), as a square image, and the face inside it. */
export function faceImage(rng: Rng, split: Split): { image: Frame; face: { x: number; y: number; w: number; h: number } } {
  const f = rng.pick(FACES[split]);
  const src = photo(f.path);
  const side = Math.round(f.w * 1.8);
  const x0 = Math.round(f.x + f.w / 2 - side / 2), y0 = Math.round(f.y + f.w / 2 - side / 2);
  const image: Frame = { width: side, height: side, data: Buffer.alloc(side * side * 3) };
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
    const sx = Math.min(src.width - 1, Math.max(0, x0 + x)), sy = Math.min(src.height - 1, Math.max(0, y0 + y));
    src.data.copy(image.data, (y * side + x) * 3, (sy * src.width + sx) * 3, (sy * src.width + sx) * 3 + 3);
  }
  const off = (side - f.w) / 2;
  return { image, face: { x: off, y: off, w: f.w, h: f.w } };
}

type Pt = [number, number];

/** The homography taking the unit square's corners (0,0) (1,0) (1,1) (0,1) to `q`. */
function squareTo(q: [Pt, Pt, Pt, Pt]): number[] {
  const [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = q;
  const dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3, dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3;
  const den = dx1 * dy2 - dx2 * dy1;
  const g = (dx3 * dy2 - dx2 * dy3) / den, h = (dx1 * dy3 - dx3 * dy1) / den;
  return [x1 - x0 + g * x1, x3 - x0 + h * x3, x0, y1 - y0 + g * y1, y3 - y0 + h * y3, y0, g, h, 1];
}
function invert3(m: number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [A / det, -(b * i - c * h) / det, (b * f - c * e) / det, B / det, (a * i - c * g) / det, -(a * f - c * d) / det, C / det, -(a * h - b * g) / det, (a * e - b * d) / det];
}

export interface Placement {
  /** destination corners of the image: top-left, top-right, bottom-right, bottom-left */
  quad: [Pt, Pt, Pt, Pt];
  /** multiply the image's colours (night: a plate lit by headlights or not) */
  gain?: number;
  /** feather the outer share of the image into the background (faces) */
  feather?: number;
}

/** A rectangle with perspective and rotation: the quad a placement draws into. */
export function tilted(rng: Rng, x: number, y: number, w: number, h: number, amount: number): [Pt, Pt, Pt, Pt] {
  const a = rng.range(-amount, amount) * 0.25; // rotation, radians
  const cx = x + w / 2, cy = y + h / 2;
  const rot = ([px, py]: Pt): Pt => [cx + (px - cx) * Math.cos(a) - (py - cy) * Math.sin(a), cy + (px - cx) * Math.sin(a) + (py - cy) * Math.cos(a)];
  const j = () => rng.range(-amount, amount) * Math.min(w, h) * 0.5;
  const skew = rng.range(-amount, amount) * w * 0.15; // one side nearer the camera
  return [rot([x + j(), y - skew / 4 + j()]), rot([x + w + j(), y + skew / 4 + j()]), rot([x + w + j(), y + h - skew / 4 + j()]), rot([x + j(), y + h + skew / 4 + j()])];
}

/** Draws `image` into the frame at `p` (bilinear, perspective); returns the frame box of `inner` (a part of the image). */
export function composite(frame: Frame, image: Frame, p: Placement, inner: { x: number; y: number; w: number; h: number }): { x: number; y: number; w: number; h: number } {
  const H = squareTo(p.quad), Hi = invert3(H);
  const xs = p.quad.map((q) => q[0]), ys = p.quad.map((q) => q[1]);
  const X0 = Math.max(0, Math.floor(Math.min(...xs))), X1 = Math.min(frame.width - 1, Math.ceil(Math.max(...xs)));
  const Y0 = Math.max(0, Math.floor(Math.min(...ys))), Y1 = Math.min(frame.height - 1, Math.ceil(Math.max(...ys)));
  const gain = p.gain ?? 1, feather = p.feather ?? 0;
  const { width: iw, height: ih, data: src } = image;
  for (let y = Y0; y <= Y1; y++) for (let x = X0; x <= X1; x++) {
    const w = Hi[6]! * x + Hi[7]! * y + Hi[8]!;
    const u = (Hi[0]! * x + Hi[1]! * y + Hi[2]!) / w, v = (Hi[3]! * x + Hi[4]! * y + Hi[5]!) / w;
    if (u < 0 || v < 0 || u >= 1 || v >= 1) continue;
    let alpha = 1;
    if (feather > 0) alpha = Math.min(1, Math.min(u, v, 1 - u, 1 - v) / feather);
    const sx = u * iw - 0.5, sy = v * ih - 0.5;
    const x0 = Math.max(0, Math.floor(sx)), y0 = Math.max(0, Math.floor(sy)), x1 = Math.min(iw - 1, x0 + 1), y1 = Math.min(ih - 1, y0 + 1);
    const fx = Math.max(0, sx - x0), fy = Math.max(0, sy - y0);
    const o = (y * frame.width + x) * 3;
    for (let c = 0; c < 3; c++) {
      const top = src[(y0 * iw + x0) * 3 + c]! * (1 - fx) + src[(y0 * iw + x1) * 3 + c]! * fx;
      const bot = src[(y1 * iw + x0) * 3 + c]! * (1 - fx) + src[(y1 * iw + x1) * 3 + c]! * fx;
      const val = Math.min(255, (top * (1 - fy) + bot * fy) * gain);
      frame.data[o + c] = Math.round(frame.data[o + c]! * (1 - alpha) + val * alpha);
    }
  }
  // the inner rectangle's corners through the homography: its bounding box in the frame
  const pts: Pt[] = [[inner.x, inner.y], [inner.x + inner.w, inner.y], [inner.x + inner.w, inner.y + inner.h], [inner.x, inner.y + inner.h]].map(([ix, iy]) => {
    const u = ix! / iw, v = iy! / ih, w = H[6]! * u + H[7]! * v + H[8]!;
    return [(H[0]! * u + H[1]! * v + H[2]!) / w, (H[3]! * u + H[4]! * v + H[5]!) / w];
  });
  const bx0 = Math.min(...pts.map((q) => q[0])), by0 = Math.min(...pts.map((q) => q[1]));
  return { x: bx0, y: by0, w: Math.max(...pts.map((q) => q[0])) - bx0, h: Math.max(...pts.map((q) => q[1])) - by0 };
}

/** Box blur of radius r inside a box (camera defocus, motion). */
export function blurBox(frame: Frame, box: { x: number; y: number; w: number; h: number }, r: number): void {
  if (r < 1) return;
  const x0 = Math.max(0, Math.floor(box.x)), y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(frame.width, Math.ceil(box.x + box.w)), y1 = Math.min(frame.height, Math.ceil(box.y + box.h));
  const copy = Buffer.from(frame.data);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) for (let c = 0; c < 3; c++) {
    let s = 0, n = 0;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      const xx = x + dx, yy = y + dy;
      if (xx < 0 || yy < 0 || xx >= frame.width || yy >= frame.height) continue;
      s += copy[(yy * frame.width + xx) * 3 + c]!; n++;
    }
    frame.data[(y * frame.width + x) * 3 + c] = Math.round(s / n);
  }
}

/** Sensor noise over the whole frame. */
export function addNoise(rng: Rng, frame: Frame, amount: number): void {
  for (let i = 0; i < frame.data.length; i++) frame.data[i] = Math.max(0, Math.min(255, frame.data[i]! + Math.round((rng.next() - 0.5) * 2 * amount)));
}

/** Night: the scene darkened and tinted blue (objects are composited after, at their own gain). */
export function darken(rng: Rng, frame: Frame): void {
  const level = rng.range(0.12, 0.3);
  for (let i = 0; i < frame.data.length; i += 3) {
    frame.data[i] = Math.round(frame.data[i]! * level * 0.8);
    frame.data[i + 1] = Math.round(frame.data[i + 1]! * level * 0.9);
    frame.data[i + 2] = Math.round(frame.data[i + 2]! * level * 1.1);
  }
}

/**
 * The lights a night street has: pairs of red tail lights, white headlights and orange or white
 * street lamps, each a bright core with a glow. These are what a face detector at a low
 * threshold mistakes for faces (two bright "eyes" in the dark).
 */
export function lights(rng: Rng, frame: Frame, count: number, keepClear: Array<{ x: number; y: number; w: number; h: number }> = []): void {
  const blob = (cx: number, cy: number, r: number, rgb: [number, number, number]) => {
    const R = r * 4;
    for (let y = Math.max(0, Math.floor(cy - R)); y < Math.min(frame.height, cy + R); y++) for (let x = Math.max(0, Math.floor(cx - R)); x < Math.min(frame.width, cx + R); x++) {
      const d = Math.hypot(x - cx, y - cy) / r;
      const a = d < 1 ? 1 : Math.exp(-(d - 1) * 1.6) * 0.8;
      const i = (y * frame.width + x) * 3;
      for (let c = 0; c < 3; c++) frame.data[i + c] = Math.min(255, Math.round(frame.data[i + c]! + rgb[c]! * a));
    }
  };
  const clear = (x: number, y: number, r: number) => keepClear.every((b) => x + 4 * r < b.x || x - 4 * r > b.x + b.w || y + 4 * r < b.y || y - 4 * r > b.y + b.h);
  for (let k = 0; k < count; k++) {
    const kind = rng.pick(['tail', 'tail', 'head', 'lamp'] as const);
    const r = rng.range(2, Math.max(3, Math.min(frame.width, frame.height) / 60));
    const x = rng.range(0, frame.width), y = rng.range(0, frame.height);
    if (!clear(x, y, r * 6)) continue;
    if (kind === 'lamp') { blob(x, y, r * 1.5, rng.pick([[255, 170, 60], [240, 240, 255]] as Array<[number, number, number]>)); continue; }
    const gap = r * rng.range(4, 12);
    const rgb: [number, number, number] = kind === 'tail' ? [255, 30, 20] : [255, 250, 230];
    blob(x, y, r, rgb);
    blob(x + gap, y + rng.range(-1, 1), r, rgb);
  }
}

export interface SceneObject { kind: 'plate' | 'face'; box: { x: number; y: number; w: number; h: number }; label: string; size: number }

/** The share of an object's box inside any of `boxes` (edges included), sampled every 2nd pixel each way. */
export function coveredShare(o: SceneObject, boxes: Array<{ x: number; y: number; w: number; h: number }>): number {
  const b = o.box;
  let inside = 0, all = 0;
  for (let y = b.y; y < b.y + b.h; y += 2) {
    for (let x = b.x; x < b.x + b.w; x += 2) {
      all++;
      if (boxes.some((f) => x >= f.x && x <= f.x + f.w && y >= f.y && y <= f.y + f.h)) inside++;
    }
  }
  return inside / all;
}

export interface SceneOptions {
  split: Split;
  width: number;
  height: number;
  plates: number;
  faces: number;
  /** smallest plate character height and face width (frame pixels) */
  minCap: number;
  minFace: number;
  night?: boolean;
}

/**
 * One still scene: a real background, plates and faces at random places, sizes, tilts, blur and
 * noise, never overlapping. `objects` says where each plate's characters and each face are.
 */
export function scene(rng: Rng, o: SceneOptions): { frame: Frame; objects: SceneObject[] } {
  const frame = background(rng, o.split, o.width, o.height);
  if (o.night) darken(rng, frame);
  const objects: SceneObject[] = [];
  const taken: Array<{ x: number; y: number; w: number; h: number }> = [];
  const free = (b: { x: number; y: number; w: number; h: number }) => taken.every((t) => b.x + b.w < t.x || b.x > t.x + t.w || b.y + b.h < t.y || b.y > t.y + t.h);
  const short = Math.min(o.width, o.height);
  for (let k = 0; k < o.plates + o.faces; k++) {
    const isPlate = k < o.plates;
    for (let attempt = 0; attempt < 30; attempt++) {
      if (isPlate) {
        const cap = Math.round(o.minCap * Math.exp(rng.range(0, Math.log(Math.max(1.01, short / 12 / o.minCap)))));
        const format = rng.pick(PLATE_FORMATS);
        const plate = renderPlate(rng, o.split, format, cap);
        const scale = cap / (plate.chars.h * 0.95);
        const w = plate.image.width * scale, h = plate.image.height * scale;
        if (w > o.width * 0.6) continue;
        const x = rng.range(4, o.width - w - 4), y = rng.range(4, o.height - h - 4 - 12 * Math.max(1, o.height / 360));
        const area = { x: x - w * 0.1, y: y - h * 0.3, w: w * 1.2, h: h * 1.6 };
        if (!free(area)) continue;
        taken.push(area);
        const box = composite(frame, plate.image, { quad: tilted(rng, x, y, w, h, 0.3), gain: o.night ? rng.range(0.35, 0.9) : rng.range(0.8, 1) }, plate.chars);
        if (rng.next() < 0.4) blurBox(frame, { x: x - 2, y: y - 2, w: w + 4, h: h + 4 }, Math.round(rng.range(0, cap / 12)));
        objects.push({ kind: 'plate', box, label: `${format} "${plate.text}" ${cap}px`, size: cap });
      } else {
        const size = Math.round(o.minFace * Math.exp(rng.range(0, Math.log(Math.max(1.01, short / 3 / o.minFace)))));
        const f = faceImage(rng, o.split);
        const scale = size / f.face.w;
        const side = f.image.width * scale;
        const x = rng.range(0, o.width - side), y = rng.range(0, o.height - side - 12 * Math.max(1, o.height / 360));
        const area = { x, y, w: side, h: side };
        if (!free(area)) continue;
        taken.push(area);
        const box = composite(frame, f.image, { quad: tilted(rng, x, y, side, side, 0.05), feather: 0.18, gain: o.night ? rng.range(0.4, 0.8) : 1 }, f.face);
        objects.push({ kind: 'face', box, label: `face ${size}px`, size });
      }
      break;
    }
  }
  if (o.night) lights(rng, frame, Math.round(rng.range(6, 16)), taken);
  addNoise(rng, frame, o.night ? rng.range(3, 8) : rng.range(0, 4));
  return { frame, objects };
}

export interface MovingObject {
  kind: 'plate' | 'face';
  label: string;
  /** the object's characters or face, in frame pixels, per frame (undefined: not drawn) */
  boxes: Array<{ x: number; y: number; w: number; h: number } | undefined>;
}

/**
 * Real footage (first `frames` frames of `footage`, scaled to width x height) with plates and
 * faces moving through it: each enters at a random frame, from a random edge, at a random speed
 * (2-10 px a frame), and goes on until it leaves or the clip ends. Returns the frames and, for
 * every object, where it is in each frame.
 */
export function movingClip(rng: Rng, o: { footage: string; width: number; height: number; frames: number; plates: number; faces: number; cap: [number, number]; face: [number, number] }):
  { frames: Frame[]; objects: MovingObject[] } {
  const size = o.width * o.height * 3;
  const all = execFileSync('ffmpeg', ['-v', 'error', '-i', o.footage, '-vf', `scale=${o.width}:${o.height}`, '-frames:v', String(o.frames), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: size * o.frames + 1024 });
  const frames: Frame[] = [];
  for (let k = 0; k * size < all.length; k++) frames.push({ width: o.width, height: o.height, data: Buffer.from(all.subarray(k * size, (k + 1) * size)) });
  const objects: MovingObject[] = [];
  for (let k = 0; k < o.plates + o.faces; k++) {
    const isPlate = k < o.plates;
    let image: Frame, inner: { x: number; y: number; w: number; h: number }, label: string, w: number, h: number;
    if (isPlate) {
      const format = rng.pick(PLATE_FORMATS);
      const cap = rng.int(o.cap[0], o.cap[1]);
      const p = renderPlate(rng, 'calibration', format, cap);
      const scale = cap / (p.chars.h * 0.95);
      image = p.image; inner = p.chars; label = `${format} plate "${p.text}" ${cap}px`;
      w = p.image.width * scale; h = p.image.height * scale;
    } else {
      const f = faceImage(rng, 'calibration');
      const px = rng.int(o.face[0], o.face[1]);
      image = f.image; inner = f.face; label = `face ${px}px`;
      w = h = f.image.width * (px / f.face.w);
    }
    const enter = rng.int(1, Math.floor(frames.length * 0.6));
    const speed = rng.range(2, 10);
    const edge = rng.pick(['left', 'right', 'top', 'bottom'] as const);
    // start just outside the edge, heading across the frame with some drift
    let x = rng.range(0, o.width - w), y = rng.range(0, o.height - h - 20);
    let vx = rng.range(-1, 1), vy = rng.range(-1, 1);
    if (edge === 'left') { x = -w; vx = speed; } else if (edge === 'right') { x = o.width; vx = -speed; } else if (edge === 'top') { y = -h; vy = speed; } else { y = o.height; vy = -speed; }
    const tilt = tilted(rng, 0, 0, w, h, isPlate ? 0.2 : 0.04);
    const boxes: MovingObject['boxes'] = frames.map(() => undefined);
    for (let n = enter; n < frames.length; n++) {
      const dx = x + vx * (n - enter), dy = y + vy * (n - enter);
      const quad = tilt.map(([qx, qy]) => [qx + dx, qy + dy]) as typeof tilt;
      boxes[n] = composite(frames[n]!, image, { quad, feather: isPlate ? 0 : 0.18 }, inner);
    }
    objects.push({ kind: isPlate ? 'plate' : 'face', label: `${label} from the ${edge} at frame ${enter}, ${speed.toFixed(1)} px/frame`, boxes });
  }
  return { frames, objects };
}

/** Frames to an H.264 MP4 (near lossless: the test measures redaction, not compression). */
export function encodeClip(frames: Frame[], out: string, fps = 15): void {
  const f = frames[0]!;
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${f.width}x${f.height}`, '-r', String(fps), '-i', 'pipe:0',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-g', '30', '-pix_fmt', 'yuv420p', out], { input: Buffer.concat(frames.map((x) => x.data)), maxBuffer: 1 << 20 });
}
