import t from 'tap';
import { execFileSync } from 'node:child_process';
import { change, classify, compare, describeFrame, learnReference, prepareReference, THRESHOLDS, type ViewSample } from '../../watchdog/tamper-analysis.js';

/*
 * The view analysis on its own, on real photographs (Debian's opencv-doc and skimage) that the
 * live tests do not use, with each change made by ffmpeg's filters (not the test camera's numpy
 * effects): one way of covering, spraying, blurring or turning is not what it was tuned on.
 */
const OPENCV = '/usr/share/doc/opencv-doc/examples/data';
const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const SCENES = [`${OPENCV}/home.jpg`, `${OPENCV}/aero1.jpg`, `${OPENCV}/box_in_scene.png`, `${OPENCV}/stuff.jpg`, `${SKIMAGE}/coffee.png`, `${SKIMAGE}/chelsea.png`];
const PERSON = `${SKIMAGE}/astronaut.png`;
const W = 480, H = 360;

/**
 * The image at 480x360 (cropped to fill) through each filter chain, in one ffmpeg run: a filter
 * may use [p], a person (skimage's astronaut) as tall as the picture and a third as wide.
 */
function frames(image: string, filters: string[]): Array<{ width: number; height: number; data: Buffer }> {
  const n = filters.length;
  const graph = `[0:v]scale=${W}:${H}:force_original_aspect_ratio=increase,crop=${W}:${H},split=${n}${filters.map((_, i) => `[s${i}]`).join('')};`
    + `[1:v]scale=-1:${H},crop=${W / 3}:${H}[p];`
    + filters.map((f, i) => `[s${i}]${f},null[o${i}]`).join(';')
    + (filters.some((f) => f.includes('[p]')) ? '' : ';[p]nullsink')
    + `;${filters.map((_, i) => `[o${i}]`).join('')}vstack=inputs=${n}`;
  const data = execFileSync('ffmpeg', ['-v', 'error', '-i', image, '-i', PERSON, '-filter_complex', graph, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  t.equal(data.length, W * H * 3 * n, `${image} decoded`);
  return filters.map((_, i) => ({ width: W, height: H, data: data.subarray(i * W * H * 3, (i + 1) * W * H * 3) }));
}

const sample = (f: { width: number; height: number; data: Buffer }, atMs = 0): ViewSample => describeFrame(f, atMs);

/** sensor noise, different on every call */
let seed = 1;
const noise = () => `noise=alls=5:allf=t+u:all_seed=${seed++}`;

const CHANGES: Array<{ name: string; filter: string; expect: string | null }> = [
  { name: 'untouched (new noise)', filter: 'NOISE', expect: null },
  { name: 'lights dimmed to a third', filter: 'lutrgb=r=val*0.33:g=val*0.33:b=val*0.33,NOISE', expect: null },
  { name: 'lights brighter', filter: 'eq=brightness=0.12:contrast=1.15,NOISE', expect: null },
  { name: 'colour to monochrome (night mode)', filter: 'hue=s=0,eq=gamma=1.25,NOISE', expect: null },
  // One sample cannot tell someone filling the view from a turned camera: persistence does
  // (the live test has people passing right in front of the lens); a third is a single sample.
  { name: 'someone passing, a third of the picture', filter: '[p]overlay=60:0,NOISE', expect: null },
  { name: 'a dark hand over the lens', filter: 'drawbox=x=0:y=0:w=iw:h=ih:color=0x3a2a22@1:t=fill,noise=alls=3:allf=t', expect: 'covered' },
  { name: 'a skin-toned hand out of focus: faint moving texture and shading', filter: 'drawbox=x=0:y=0:w=iw:h=ih:color=0xc08a6a@1:t=fill,noise=alls=14:allf=t,boxblur=3,vignette=PI/3,NOISE', expect: 'covered' },
  { name: 'a black cap', filter: 'drawbox=x=0:y=0:w=iw:h=ih:color=black@1:t=fill,NOISE', expect: 'covered' },
  { name: 'sprayed: a grey veil the scene barely shows through', filter: 'gblur=sigma=3,eq=contrast=0.12:brightness=0.2,NOISE', expect: 'covered' },
  { name: 'sprayed: blotchy grey paint over most of it', filter: 'drawbox=x=0:y=0:w=iw*0.85:h=ih:color=0x8c8c88@0.97:t=fill,gblur=sigma=8,NOISE', expect: 'covered' },
  { name: 'defocused', filter: 'gblur=sigma=4,NOISE', expect: 'defocused' },
  { name: 'turned sideways by a fifth', filter: 'crop=iw*0.8:ih:iw*0.2:0,pad=480:360:0:0:color=0x707070,NOISE', expect: 'moved' },
  { name: 'tilted down', filter: 'crop=iw:ih*0.75:0:ih*0.25,scale=480:360,NOISE', expect: 'moved' },
  { name: 'rotated 12 degrees on its mount', filter: 'rotate=12*PI/180:fillcolor=0x606060,NOISE', expect: 'moved' },
];

t.test('each change to the view is told apart; normal life is not a change', async (t) => {
  const outcomes: string[] = [];
  for (const scene of SCENES) {
    const all = frames(scene, [...[1, 2, 3, 4, 5].map(() => noise()), ...CHANGES.map((c) => c.filter.replace(/NOISE/g, noise()))]);
    const ref = prepareReference(learnReference(all.slice(0, 5).map((f, i) => sample(f, i * 1000))));
    t.ok(ref.informative.filter(Boolean).length >= 12, `${scene}: the reference has texture to compare`);
    for (const [i, c] of CHANGES.entries()) {
      const verdict = classify(compare(ref, sample(all[5 + i]!)), 'medium');
      outcomes.push(`${scene.split('/').pop()} / ${c.name}: ${verdict?.kind ?? 'nothing'}`);
      t.equal(verdict?.kind ?? null, c.expect, `${scene.split('/').pop()}, ${c.name}: ${c.expect ?? 'nothing'} (${JSON.stringify(verdict)})`);
    }
  }
  t.equal(outcomes.length, SCENES.length * CHANGES.length);
});

t.test('a camera with capture masks: the painted areas are left out, so a hand over the lens is still covered', async (t) => {
  // painted after every change, as the box paints them (the camera's own masks alike): flat black
  const masks = [{ x: 0.5, y: 0.3, w: 0.3, h: 0.4 }, { x: 0.1, y: 0.1, w: 0.2, h: 0.2 }, { points: [[0.05, 0.6], [0.3, 0.95], [0.05, 0.95]] }];
  const paint = 'drawbox=x=iw*0.5:y=ih*0.3:w=iw*0.3:h=ih*0.4:color=black:t=fill,drawbox=x=iw*0.1:y=ih*0.1:w=iw*0.2:h=ih*0.2:color=black:t=fill,'
    + "geq=lum='if(between(Y/H,0.6,0.95)*between(X/W,0.05,0.05+(Y/H-0.6)/0.35*0.25),0,lum(X,Y))':cb='cb(X,Y)':cr='cr(X,Y)'";
  const cases: Array<{ name: string; filter: string; expect: string | null }> = [
    { name: 'untouched (new noise)', filter: 'NOISE', expect: null },
    { name: 'lights dimmed to a third', filter: 'lutrgb=r=val*0.33:g=val*0.33:b=val*0.33,NOISE', expect: null },
    { name: 'a dark hand over the lens', filter: 'drawbox=x=0:y=0:w=iw:h=ih:color=0x3a2a22@1:t=fill,noise=alls=3:allf=t', expect: 'covered' },
    // an outside probe's hand: the scene blurred away, a seventh of its light, a skin tone
    { name: 'a hand right on the lens: blurred, dim, skin-toned', filter: 'gblur=sigma=25,lutrgb=r=val*0.15+60:g=val*0.15+35:b=val*0.15+25,NOISE', expect: 'covered' },
    { name: 'turned sideways by a fifth', filter: 'crop=iw*0.8:ih:iw*0.2:0,pad=480:360:0:0:color=0x707070,NOISE', expect: 'moved' },
  ];
  for (const scene of SCENES) {
    const all = frames(scene, [...[1, 2, 3, 4, 5].map(() => noise()), ...cases.map((c) => c.filter.replace(/NOISE/g, noise()))].map((f) => `${f},${paint}`));
    const learned = learnReference(all.slice(0, 5).map((f, i) => sample(f, i * 1000)));
    const ref = prepareReference(learned, masks);
    t.ok(ref.informative.filter(Boolean).length < prepareReference(learned).informative.filter(Boolean).length, `${scene}: the cells along the masks are left out`);
    for (const [i, c] of cases.entries()) {
      const verdict = classify(compare(ref, sample(all[5 + i]!)), 'medium');
      t.equal(verdict?.kind ?? null, c.expect, `${scene.split('/').pop()} with masks, ${c.name}: ${c.expect ?? 'nothing'} (${JSON.stringify(verdict)})`);
    }
  }
});

t.test('an encoder re-quantising one stuck picture reads static; a ticking clock overlay does not', async (t) => {
  const threshold = THRESHOLDS.medium.frozen;
  const dir = t.testdir();
  for (const scene of SCENES.slice(0, 2)) {
    const clock = (text: string) => `drawtext=text='${text}':fontsize=14:fontcolor=white:x=12:y=10:box=1:boxcolor=black@0.5`;
    // three JPEGs: the same picture at two qualities, and one second later
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', scene, '-filter_complex',
      `[0:v]scale=${W}:${H}:force_original_aspect_ratio=increase,crop=${W}:${H},split=3[a][b][c];[a]${clock('12\\:00\\:01')}[a1];[b]${clock('12\\:00\\:01')}[b1];[c]${clock('12\\:00\\:02')}[c1]`,
      '-map', '[a1]', '-frames:v', '1', '-q:v', '3', `${dir}/a.jpg`, '-map', '[b1]', '-frames:v', '1', '-q:v', '9', `${dir}/b.jpg`,
      '-map', '[c1]', '-frames:v', '1', '-q:v', '3', `${dir}/c.jpg`]);
    const data = execFileSync('ffmpeg', ['-v', 'error', '-i', `${dir}/a.jpg`, '-i', `${dir}/b.jpg`, '-i', `${dir}/c.jpg`, '-filter_complex', '[0:v][1:v][2:v]vstack=inputs=3',
      '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 16 << 20 });
    const [a, b, c] = [0, 1, 2].map((i) => sample({ width: W, height: H, data: data.subarray(i * W * H * 3, (i + 1) * W * H * 3) }));
    const stuck = change(a!.fine, b!.fine);
    const ticking = change(a!.fine, c!.fine);
    t.ok(stuck <= threshold, `${scene.split('/').pop()}: the same picture encoded twice differs by ${stuck.toFixed(1)} <= ${threshold}`);
    t.ok(ticking > threshold, `${scene.split('/').pop()}: one clock digit changing differs by ${ticking.toFixed(1)} > ${threshold}`);
  }
});
