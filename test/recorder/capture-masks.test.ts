import t from 'tap';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { polygonSpans } from '../../common/mask-geometry.js';
import { maskSvg } from '../../recorder/capture-masks.js';
import { createHash } from 'node:crypto';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';

const W = 320;
const H = 240;
// The two subtests are independent (each its own simulator, daemon and data dir; the missing mask
// element is told to the second one's daemon and check only) and wait on the cameras' real time:
// side by side, the file takes its longer subtest's time, not the sum (bench/README.md, "The test
// suite's time (T3)").
t.jobs = 2;
/** a rectangle in the middle and a triangle in the bottom-left corner, as an installer writes them */
const MASKS_YAML = `capture_masks:
  - { x: 0.25, y: 0.25, w: 0.5, h: 0.5 }
  - { points: [[0, 0.75], [0.3, 1], [0, 1]] }
`;
const MASKS = [{ x: 0.25, y: 0.25, w: 0.5, h: 0.5 }, { points: [[0, 0.75], [0.3, 1], [0, 1]] }];

/**
 * Pixels inside the masks, 8 px and more from every edge: an encoded edge rings into the
 * transform blocks (up to 8x8) it crosses, so the band along it is the encoder's, not the picture's.
 */
function insideMasks(x: number, y: number): boolean {
  const inRect = x >= 88 && x < 232 && y >= 68 && y < 172;
  // triangle (0,180) (96,240) (0,240): inside where x < 1.6 (y - 180); 8 px off the slant is
  // 8 * sqrt(1 + 1.6^2) = 15.1 px along a row
  const inTriangle = y >= 188 && y < 232 && x >= 8 && x < 1.6 * (y - 180) - 15.1;
  return inRect || inTriangle;
}
/** A strip far from both masks: the picture itself. */
const inPicture = (x: number, y: number) => x >= 256 && y < 180;

function stats(frame: Buffer, pick: (x: number, y: number) => boolean): { n: number; max: number; std: number } {
  let n = 0, sum = 0, sq = 0, max = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!pick(x, y)) continue;
      const v = frame[y * W + x]!;
      n++; sum += v; sq += v * v; max = Math.max(max, v);
    }
  }
  const mean = sum / n;
  return { n, max, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

/** Every frame ffmpeg can decode from the file (a staging file copied mid-write: up to its last whole fragment). */
function grayFrames(input: string, extra: string[] = []): Buffer[] {
  const r = spawnSync('ffmpeg', ['-v', 'quiet', ...extra, '-i', input, '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-'], { maxBuffer: 512 * 1024 * 1024, timeout: 60_000 });
  const out = r.stdout ?? Buffer.alloc(0);
  const frames: Buffer[] = [];
  for (let at = 0; at + W * H <= out.length; at += W * H) frames.push(out.subarray(at, at + W * H));
  return frames;
}

t.test('a camera with capture masks is recorded with the masked areas blank in every frame, staging included', async (t) => {
  // snow: detail in every pixel of every frame, so a blank area can only be the mask's doing
  const sim = await new CameraSim({ mounts: ['pinpad'], pattern: 'snow', width: W, height: H, fps: 10, gop: 10 }).start();
  t.teardown(() => sim.kill());

  const raw = grayFrames(sim.url('pinpad'), ['-rtsp_transport', 'tcp', '-t', '1']);
  t.ok(raw.length > 0, `the camera's own picture: ${raw.length} frames`);
  t.ok(raw.every((f) => stats(f, insideMasks).std > 30), 'unmasked, the areas under the masks are full of detail');

  const dir = t.testdir();
  // backend ffmpeg: capture masks take the masked GStreamer path whatever the camera's backend
  const config = writeConfig(dir, [{ id: 'pinpad', url: sim.url('pinpad'), backend: 'ffmpeg', yaml: MASKS_YAML }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });

  // every staging file seen while recording, copied as it was at that moment
  const staging = join(dir, 'data', 'recordings', 'pinpad', '.staging');
  const seen = join(dir, 'staging-seen');
  mkdirSync(seen);
  let copies = 0;
  const watcher = setInterval(() => {
    if (!existsSync(staging)) return;
    for (const name of readdirSync(staging).filter((n) => n.endsWith('.mp4'))) {
      try {
        if (statSync(join(staging, name)).size > 0) copyFileSync(join(staging, name), join(seen, `${copies++}-${name}`));
      } catch { /* closed and moved meanwhile */ }
    }
  }, 150);
  t.teardown(() => clearInterval(watcher));

  await daemon.waitForLog(/capture masks enforced on the box/, 30_000);
  const dbPath = join(dir, 'data', 'catalog.db');
  await until(() => {
    if (!existsSync(dbPath)) return false;
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try { return (db.prepare("SELECT COUNT(*) AS n FROM segments WHERE camera = 'pinpad'").get() as { n: number }).n >= 3; } finally { db.close(); }
  }, 90_000, 'three masked segments');
  clearInterval(watcher);
  const { code } = await daemon.stop('SIGTERM');
  t.equal(code, 0, 'the daemon stops cleanly');

  const db = new Database(dbPath, { readonly: true });
  t.teardown(() => db.close());
  const rows = db.prepare("SELECT path, provenance FROM segments WHERE camera = 'pinpad' ORDER BY id").all() as Array<{ path: string; provenance: string | null }>;
  const hash = createHash('sha256').update(canonicalJson(MASKS)).digest('hex');
  let frames = 0;
  for (const row of rows) {
    t.same(JSON.parse(row.provenance ?? 'null'), { enforced: 'box', encoder: 'x264enc', masks: hash }, `${row.path}: its provenance names the mask set and where it was enforced`);
    const decoded = grayFrames(join(dir, 'data', row.path));
    t.ok(decoded.length > 0, `${row.path}: ${decoded.length} frames`);
    frames += decoded.length;
    decoded.forEach((f, i) => {
      const masked = stats(f, insideMasks);
      const picture = stats(f, inPicture);
      if (masked.max > 24 || masked.std > 2) t.fail(`${row.path} frame ${i}: detail under a mask (max ${masked.max}, std ${masked.std.toFixed(1)})`);
      if (picture.std < 30) t.fail(`${row.path} frame ${i}: the rest of the frame lost its picture (std ${picture.std.toFixed(1)})`);
    });
  }
  t.ok(frames >= 40, `${frames} recorded frames checked one by one: blank under the masks, picture elsewhere`);

  // A copy whose bytes begin a later copy of the same file holds nothing that later copy does not
  // (the recorder only appended meanwhile): decoding the later one checks both. Anything else
  // (the file rewritten, a copy that is the last of its file) is decoded on its own.
  const copiesOf = new Map<string, string[]>();
  for (const copy of readdirSync(seen).sort((a, b) => parseInt(a, 10) - parseInt(b, 10))) {
    const name = copy.slice(copy.indexOf('-') + 1);
    copiesOf.set(name, [...(copiesOf.get(name) ?? []), copy]);
  }
  let stagedFrames = 0;
  let decodedCopies = 0;
  for (const list of copiesOf.values()) {
    const toDecode = list.filter((copy, i) => {
      const next = list[i + 1];
      if (!next) return true;
      const bytes = readFileSync(join(seen, copy));
      return !readFileSync(join(seen, next)).subarray(0, bytes.length).equals(bytes);
    });
    for (const copy of toDecode) {
      decodedCopies++;
      for (const f of grayFrames(join(seen, copy))) {
        stagedFrames++;
        const masked = stats(f, insideMasks);
        if (masked.max > 24 || masked.std > 2) t.fail(`staging file ${copy}: detail under a mask (max ${masked.max})`);
      }
    }
  }
  t.ok(copies > 0 && stagedFrames > 0, `${copies} copies of ${copiesOf.size} staging files seen while recording (${decodedCopies} decoded, the others the start of a later copy), ${stagedFrames} frames in them: blank under the masks too`);

  const ledger = db.prepare("SELECT camera, data FROM ledger WHERE kind = 'capture_masks'").all() as Array<{ camera: string; data: string }>;
  t.same(ledger.map((l) => ({ camera: l.camera, ...JSON.parse(l.data) as object })), [{ camera: 'pinpad', hash, masks: MASKS }], 'the mask set is in the chained ledger, findable by its hash');

  const verified = await runCli(['verify', '--config', config]);
  t.equal(verified.code, 0, `verify accepts the masked segments and the mask-set entry\n${verified.stdout}${verified.stderr}`);
  const status = await runCli(['status', '--config', config, '--json']);
  t.match(JSON.parse(status.stdout), { cameras: [{ camera: 'pinpad', capture_masks: 'box' }] }, 'status says the newest recording is masked on the box');
  const checked = await runCli(['check', '--config', config, '--json']);
  const masksCheck = (JSON.parse(checked.stdout) as Array<{ name: string; ok: boolean; detail: string }>).find((c) => c.name === 'capture masks');
  t.match(masksCheck, { ok: true, detail: /pinpad: enforced on the box .*x264enc/ }, 'check says how the masks are enforced');
});

t.test('a camera whose capture masks cannot be enforced is not recorded, and check fails naming it', async (t) => {
  const sim = await new CameraSim({ mounts: ['pinpad', 'hall'], width: W, height: H, fps: 10, gop: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [
    { id: 'pinpad', url: sim.url('pinpad'), yaml: MASKS_YAML },
    { id: 'hall', url: sim.url('hall') },
  ]);
  // this box, as far as edge-nvr can tell, has no element to paint masks with
  const env = { EDGE_NVR_MASK_ELEMENTS_MISSING: 'rsvgoverlay' };
  const daemon = new DaemonProcess(config, ['run'], env).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/camera not recorded: its capture masks cannot be enforced/, 30_000);
  // the other camera records on: the daemon is up, only the masked camera is refused
  await until(() => daemon.countLog(/segment indexed.*"camera":"hall"|"camera":"hall".*segment indexed/) >= 2, 60_000, 'the unmasked camera recording');
  const { code } = await daemon.stop('SIGTERM');
  t.equal(code, 0);

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal((db.prepare("SELECT COUNT(*) AS n FROM segments WHERE camera = 'pinpad'").get() as { n: number }).n, 0, 'no segment of the masked camera');
  t.notOk(existsSync(join(dir, 'data', 'recordings', 'pinpad')), 'nothing of it on disk, not even a staging directory');
  const events = db.prepare("SELECT camera, data FROM events WHERE type = 'capture_mask_unenforced'").all() as Array<{ camera: string; data: string }>;
  t.equal(events.length, 1, 'one capture_mask_unenforced event');
  t.equal(events[0]?.camera, 'pinpad');
  t.match(JSON.parse(events[0]?.data ?? '{}'), { reason: /rsvgoverlay not available here/, masks: /^[0-9a-f]{64}$/ }, 'the event says why and which mask set');

  const status = await runCli(['status', '--config', config, '--json']);
  t.equal(status.code, 1, 'status: not every camera records');
  t.match(JSON.parse(status.stdout), { cameras: [{ camera: 'pinpad', recording: false, capture_masks: 'none' }, { camera: 'hall', capture_masks: null }] },
    'status: the masked camera is not recorded, its masks are in force nowhere');

  const checked = await runCli(['check', '--config', config, '--json'], { env: { ...process.env, ...env } });
  t.equal(checked.code, 1, 'check fails');
  const masksCheck = (JSON.parse(checked.stdout) as Array<{ name: string; ok: boolean; detail: string }>).find((c) => c.name === 'capture masks');
  t.match(masksCheck, { ok: false, detail: /pinpad: capture masks cannot be enforced .*not recorded/ }, 'naming the camera and why');
  t.notMatch(masksCheck?.detail ?? '', /hall/, 'and only it');
});

t.test('the box paints every pixel any part of a mask covers, on pictures from 320x180 to 1920x1080', async (t) => {
  // corners between pixels, a thin sliver and a sharp tip: where an outline under a pixel wide left pixels as they were
  const masks = [{ x: 0.1013, y: 0.2017, w: 0.3031, h: 0.2983 }, { points: [[0.55, 0.1], [0.93, 0.17], [0.61, 0.83]] }, { points: [[0.2, 0.6], [0.2031, 0.9013], [0.21, 0.6]] }];
  const dir = t.testdir();
  const svg = join(dir, 'masks.svg');
  writeFileSync(svg, maskSvg(masks));
  for (const [w, h] of [[320, 180], [640, 360], [1920, 1080]] as const) {
    const r = spawnSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=1', 'pattern=white', '!', `video/x-raw,width=${w},height=${h}`, '!', 'videoconvert', '!',
      'rsvgoverlay', 'fit-to-frame=true', `location=${svg}`, '!', 'videoconvert', '!', 'video/x-raw,format=GRAY8', '!', 'fdsink', 'fd=1'], { maxBuffer: 1 << 24 });
    t.equal(r.stdout?.length, w * h, `${w}x${h}: one grey frame painted by rsvgoverlay`);
    let touched = 0, shown = 0;
    for (const m of masks) {
      polygonSpans(m, w, h, (y, x0, x1) => {
        for (let x = x0; x < x1; x++, touched++) if (r.stdout[y * w + x]! >= 16) shown++;
      }, 'touched');
    }
    t.equal(shown, 0, `${w}x${h}: all ${touched} pixels the masks touch are black`);
  }
});
