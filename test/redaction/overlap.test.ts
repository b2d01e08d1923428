import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlazeFace } from '../../redaction/blazeface.js';
import { redactFile, type EgressContext } from '../../redaction/egress.js';
import type { Box, Frame } from '../../redaction/frame.js';
import { overlapEnabled } from '../../redaction/overlap.js';
import { TrackBuilder, type Sighting } from '../../redaction/tracks.js';
import { Encoder } from '../../redaction/video-io.js';
import { encodeClip, movingClip, Rng, scenesAvailable } from '../support/scenes.js';
import { egressContext, megamindClip, Throwing, tmp } from './media.js';

/*
 * Pass 2 beside pass 1 (redaction/overlap.ts): frames are written while pass 1 still looks, each
 * once its boxes are final. What ships must be byte for byte what the sequential path writes:
 * the frames handed to the encoder are compared (the watermark band aside: it holds each
 * export's own id), and x264 makes the same bytes of the same frames. A plan that is wrong about
 * which frames are final (forced) is caught by the guard, and pass 2 is written again.
 */
const FOOTAGE = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const missing = scenesAvailable();

t.test('tracks: frames settled while the rounds go on keep their boxes to the end of the clip', async (t) => {
  // the real TrackBuilder, driven as the Redactor drives it: rounds every k-th frame and on cuts,
  // sightings found between rounds (entered, left, uneven), tracks added after hiding, and the
  // clip's last frame's round; objects that move, enter and leave, and spurious detections
  let checked = 0, settledFrames = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const rng = new Rng(seed);
    const every = rng.pick([3, 5, 10]), hold = rng.int(0, 3), frames = rng.int(30, 140);
    const tb = new TrackBuilder(every, hold);
    const objects = Array.from({ length: rng.int(1, 5) }, () => {
      const enter = rng.int(0, frames - 1);
      return { enter, leave: rng.int(enter, frames), x: rng.range(0, 600), y: rng.range(0, 400), vx: rng.range(-12, 12), vy: rng.range(-6, 6), w: rng.range(20, 90) };
    });
    const sighting = (o: (typeof objects)[number], n: number): Sighting => ({
      n, box: { x: o.x + o.vx * n + rng.range(-3, 3), y: o.y + o.vy * n + rng.range(-3, 3), w: o.w, h: o.w * 0.6, cls: 'x', score: 1 }, vx: o.vx + rng.range(-2, 2), vy: o.vy,
    });
    const seen: Array<{ looked: number; before: number; boxes: Box[][] }> = [];
    let last: number | undefined;
    const round = (n: number, cut: boolean) => {
      const visible = objects.filter((o) => n >= o.enter && n < o.leave && rng.next() > 0.15); // a detector misses sometimes
      const found = visible.map((o) => sighting(o, n));
      if (rng.next() < 0.1) found.push({ n, box: { x: rng.range(0, 600), y: rng.range(0, 400), w: 30, h: 20, cls: 'x', score: 1 }, vx: 0, vy: 0 });
      const { started, lost, uneven } = tb.round(n, found);
      if (!cut && last !== undefined && n - last > 1) {
        for (const s of started) if (rng.next() < 0.7) s.earlier({ ...s.sighting, n: rng.int(last + 1, n - 1) });
        for (const s of lost) if (s.sighting.n + 1 <= n - 1 && rng.next() < 0.7) s.later({ ...s.sighting, n: rng.int(s.sighting.n + 1, n - 1) });
        for (const u of uneven) if (u.after.n - u.before.n > 1 && rng.next() < 0.7) u.between({ ...u.before, n: rng.int(u.before.n + 1, u.after.n - 1) });
      }
      if (found.length && rng.next() < 0.2) tb.add([{ ...found[0]!, box: { ...found[0]!.box, x: found[0]!.box.x + 5 } }]);
      last = n;
    };
    for (let n = 0; n < frames; n++) {
      const cut = n > 0 && rng.next() < 0.03;
      if (cut) tb.cut(n);
      if (last === undefined || cut || n - last >= every) round(n, cut);
      const before = tb.settledBefore();
      if (before > n + 1) { t.fail(`seed ${seed}: frame ${before - 1} settled when ${n + 1} were looked at`); return; }
      seen.push({ looked: n + 1, before, boxes: tb.boxes(n + 1, 0, before) });
    }
    if (last! < frames - 1) round(frames - 1, false); // the clip's last frame's round (Redactor.plan)
    const final = tb.boxes(frames);
    for (const s of seen) {
      for (let n = 0; n < s.before; n++) {
        checked++;
        if (JSON.stringify(s.boxes[n]) !== JSON.stringify(final[n])) {
          t.fail(`seed ${seed}: frame ${n}, settled after ${s.looked} frames looked at, got other boxes by the end`);
          return;
        }
      }
    }
    settledFrames += seen[seen.length - 1]!.before;
    const a = rng.int(0, frames - 1), b = rng.int(a, frames);
    t.same(tb.boxes(frames, a, b), final.slice(a, b), `seed ${seed}: frames ${a}..${b - 1} alone are the whole clip's`);
  }
  t.ok(settledFrames > 0, `frames were settled before the clip's end (${settledFrames}); ${checked} settled frames compared with the end`);
});

/** sha256 of a yuv420p frame's picture above the watermark band (redaction/watermark.ts: 9 rows a 360 of height, at the bottom). */
function pictureHash(f: Frame): string {
  const band = 9 * Math.max(1, Math.floor(f.height / 360)) + 2;
  const rows = f.height - band, cw = Math.ceil(f.width / 2), ch = Math.ceil(f.height / 2), crows = Math.floor(rows / 2) - 1;
  const h = createHash('sha256');
  h.update(f.data.subarray(0, rows * f.width));
  h.update(f.data.subarray(f.width * f.height, f.width * f.height + crows * cw));
  h.update(f.data.subarray(f.width * f.height + cw * ch, f.width * f.height + cw * ch + crows * cw));
  return h.digest('hex');
}

/**
 * `fn` with every frame handed to an encoder hashed (per encoder), the profile line caught and
 * `env` set; returns the frames of the encoder that wrote the shipped file (the last one).
 */
async function exported(env: Record<string, string | undefined>, fn: () => Promise<{ manifest: string }>) {
  const byEncoder = new Map<Encoder, string[]>();
  const restoreWrite = replace(Encoder.prototype, 'write', (write) => function (this: Encoder, frame: Frame) {
    if (!byEncoder.has(this)) byEncoder.set(this, []);
    byEncoder.get(this)!.push(pictureHash(frame));
    return write.call(this, frame);
  });
  let profile: { pass2?: string; written_beside?: number; held_back_max?: number } = {};
  const restoreStderr = replace(process.stderr, 'write', (write) => function (this: typeof process.stderr, ...args: Parameters<typeof write>) {
    if (String(args[0]).includes('"redaction_profile"')) { profile = JSON.parse(String(args[0])); return true; }
    return write.apply(this, args);
  } as typeof write);
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, { EDGE_NVR_REDACTION_PROFILE: '1', ...env });
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const r = await fn();
    const m = JSON.parse(readFileSync(r.manifest, 'utf8')) as { frames: number; blanked_frames: number; boxes: Record<string, number> };
    return { frames: [...byEncoder.values()].pop()!, encoders: byEncoder.size, profile, manifest: { frames: m.frames, blanked_frames: m.blanked_frames, boxes: m.boxes } };
  } finally {
    restoreWrite();
    restoreStderr();
    delete process.env.EDGE_NVR_REDACTION_PROFILE;
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

/** `obj[key]` (a method) wrapped by `wrap`, which is given the method as it was; returns what puts it back. */
function replace<O extends object, K extends keyof O>(obj: O, key: K, wrap: (was: O[K]) => O[K]): () => void {
  const own = Object.getOwnPropertyDescriptor(obj, key);
  const was = obj[key];
  obj[key] = wrap(was);
  return () => { if (own) Object.defineProperty(obj, key, own); else delete obj[key]; };
}

t.test('an export written beside pass 1 is the sequential export, frame for frame; a wrong lag is caught and written again', { skip: missing }, async (t) => {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  // plates and faces entering at random frames, between the detectors' rounds, through real footage
  const c = movingClip(new Rng(12), { footage: FOOTAGE, width: 320, height: 240, frames: 40, plates: 2, faces: 2, cap: [16, 28], face: [48, 96] });
  const input = join(dir, 'in.mp4');
  encodeClip(c.frames, input);
  const go = (name: string) => () => redactFile(ctx, { input, out: join(dir, `${name}.mp4`), requester: 'tap', reason: 'test' });

  const sequential = await exported({ EDGE_NVR_OVERLAP: '0' }, go('sequential'));
  t.equal(sequential.profile.pass2, 'after pass 1');
  t.ok((sequential.manifest.boxes.face ?? 0) > 0 && (sequential.manifest.boxes.text ?? 0) > 0, `faces and text hidden (${JSON.stringify(sequential.manifest.boxes)}): not a comparison of empty plans`);

  const beside = await exported({}, go('beside'));
  t.equal(beside.profile.pass2, 'beside pass 1', 'pass 2 ran beside pass 1 and passed the guard');
  t.ok((beside.profile.written_beside ?? 0) > 0, `frames were written before pass 1 ended (${beside.profile.written_beside} of 40; at most ${beside.profile.held_back_max} held back)`);
  t.equal(beside.encoders, 1, 'one encoder: nothing was written again');
  t.equal(beside.frames.length, sequential.frames.length);
  t.same(beside.frames.findIndex((h, n) => h !== sequential.frames[n]), -1, 'every frame handed to the encoder is the sequential one, byte for byte');
  t.same(beside.manifest, sequential.manifest, 'the same frames, blanks and boxes in the manifest');

  // claims every frame looked at is final: frames are written before the rounds that add their boxes
  const forced = await exported({ EDGE_NVR_OVERLAP_FORCE_LAG: '0' }, go('forced'));
  t.match(forced.profile.pass2, /^after pass 1, again: frame \d+ was written beside pass 1 with boxes the whole plan does not give it$/, 'the guard found a frame written with other boxes');
  t.equal(forced.encoders, 2, 'and wrote pass 2 again with a new encoder');
  t.same(forced.frames.findIndex((h, n) => h !== sequential.frames[n]), -1, 'what ships is still the sequential export, frame for frame');
  t.equal(forced.frames.length, sequential.frames.length);
  t.same(forced.manifest, sequential.manifest, 'counted once: the frames written the first time are not in the manifest');
});

t.test('fail closed beside pass 1: a detector that fails once blanks the same frames as the sequential path', async (t) => {
  const dir = tmp();
  const ctx = egressContext(t, dir);
  const clip = megamindClip(dir, 1.5);
  const face = await BlazeFace.create({ tile: 'auto' });
  // detectors given by the caller: pass 1 on the calling thread, beside pass 2 there too
  const go = (name: string) => () => redactFile({ ...ctx, detectors: [new Throwing(face, (call) => call === 3)] } as EgressContext,
    { input: clip, out: join(dir, `${name}.mp4`), requester: 'tap', reason: 'test' });
  const sequential = await exported({ EDGE_NVR_OVERLAP: '0' }, go('sequential'));
  const beside = await exported({}, go('beside'));
  t.ok(sequential.manifest.blanked_frames >= 1 && sequential.manifest.blanked_frames < sequential.manifest.frames, `frames blanked (${sequential.manifest.blanked_frames} of ${sequential.manifest.frames})`);
  t.equal(beside.profile.pass2, 'beside pass 1');
  t.ok((beside.profile.written_beside ?? 0) > 0, `frames written before pass 1 ended (${beside.profile.written_beside})`);
  t.same(beside.manifest, sequential.manifest, 'the same blanks and boxes');
  t.same(beside.frames.findIndex((h, n) => h !== sequential.frames[n]), -1, 'every frame handed to the encoder is the sequential one');
});

t.test('the switch', async (t) => {
  t.ok(overlapEnabled({}), 'beside pass 1 by default');
  t.notOk(overlapEnabled({ EDGE_NVR_OVERLAP: '0' }), 'EDGE_NVR_OVERLAP=0: after pass 1, as before');
});
