/**
 * Capture masks: areas of a camera's view that are blanked before anything is written, so the
 * recordings never hold them (a bank's PIN pad, a neighbour's window). Unlike `privacy_masks`,
 * which the egress gate burns into exports only, these are enforced on the recording path:
 *
 * - on the camera (`capture_masks_on: camera | auto`, ONVIF cameras with Media2 privacy masks):
 *   the daemon pushes them (recorder/sources/onvif-masks.ts) and reads them back before
 *   recording, then watches them (watchdog/camera-mask-watch.ts); the stream is copied as usual.
 * - on the box: the masked GStreamer pipeline (gstreamer.ts, `maskedLaunch`) decodes the
 *   camera's stream, paints the masks solid black and encodes again before splitmuxsink
 *   writes the staging file; the camera's own picture exists only in memory.
 * - fail closed: when the box has no way to do that (no rsvgoverlay, no H.264 encoder, no
 *   GStreamer), the camera is not recorded at all (`capture_mask_unenforced`).
 *
 * Every segment names the mask set it was recorded under in its chained `provenance`
 * (`{"enforced":"box","encoder":...,"masks":"<sha256>"}`); the set itself is in the ledger
 * (`capture_masks`), findable by that hash.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../common/canonical-json.js';
import { maskPolygon } from '../common/mask-geometry.js';
import type { Mask } from '../config/schema.js';

export type { Mask };

/** sha256 of the canonical JSON of the mask list: the name of a mask set. */
export function maskSetHash(masks: Mask[]): string {
  return createHash('sha256').update(canonicalJson(masks)).digest('hex');
}

/**
 * An SVG of the masks in a 1x1 view box, stretched over the whole frame (rsvgoverlay's
 * fit-to-frame): solid black, no antialiasing, so an edge pixel is black or the picture's own.
 * Without antialiasing a pixel is painted when its centre is inside, so each mask is outlined
 * 0.004 of the frame beyond its edges, with round corners: at least 0.72 px on a picture of
 * 180 px, enough to reach the centre of every pixel any part of the mask covers (an outline of
 * 0.001 was under half a pixel below 500 px and left edge pixels as they were).
 */
export function maskSvg(masks: Mask[]): string {
  const shapes = masks.map((m) => {
    const points = maskPolygon(m).map(([x, y]) => `${x},${y}`).join(' ');
    return `<polygon points="${points}" fill="#000" stroke="#000" stroke-width="0.008" stroke-linejoin="round"/>`;
  }).join('');
  return '<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="1000" viewBox="0 0 1 1" preserveAspectRatio="none"'
    + ` shape-rendering="crispEdges">${shapes}</svg>`;
}

/** Which H.264 encoder the masked path uses; the board's hardware encoder when it has one. */
export type MaskEncoder = 'nvv4l2h264enc' | 'v4l2h264enc' | 'x264enc';

/** How a camera's capture masks are enforced: by the camera (ONVIF privacy masks, read back), on the box, or not at all (not recorded). */
export type MaskEnforcement =
  | { enforced: 'camera' }
  | { enforced: 'box'; encoder: MaskEncoder }
  | { enforced: 'none'; reason: string };

/** Hardware first: Jetson, then Raspberry Pi 4, then x264 on the CPU. */
const ENCODERS: MaskEncoder[] = ['nvv4l2h264enc', 'v4l2h264enc', 'x264enc'];

function gstElementExists(name: string): boolean | 'no gst-inspect' {
  const r = spawnSync('gst-inspect-1.0', ['--exists', name], { timeout: 10_000, stdio: 'ignore' });
  if (r.error) return 'no gst-inspect';
  return r.status === 0;
}

let detected: MaskEnforcement | undefined;

/**
 * What this box can enforce capture masks with, found once with gst-inspect. The environment
 * variable EDGE_NVR_MASK_ELEMENTS_MISSING (comma-separated element names) makes elements look
 * absent: how tests prove a box without them records nothing unmasked.
 */
export function detectMaskEnforcement(): MaskEnforcement {
  if (detected) return detected;
  const missing = new Set((process.env.EDGE_NVR_MASK_ELEMENTS_MISSING ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  const exists = (name: string) => (missing.has(name) ? false : gstElementExists(name));
  const overlay = exists('rsvgoverlay');
  if (overlay === 'no gst-inspect') {
    detected = { enforced: 'none', reason: 'GStreamer is not installed (gst-inspect-1.0 not found): install gstreamer1.0-tools and gstreamer1.0-plugins-bad' };
  } else if (!overlay) {
    detected = { enforced: 'none', reason: 'GStreamer element rsvgoverlay not available here: install gstreamer1.0-plugins-bad' };
  } else if (!overlayPaints()) {
    detected = { enforced: 'none', reason: 'rsvgoverlay did not paint the masks black in a self-test (librsvg missing or broken?)' };
  } else {
    const encoder = ENCODERS.find((e) => exists(e) === true);
    detected = encoder
      ? { enforced: 'box', encoder }
      : { enforced: 'none', reason: 'no H.264 encoder available here (nvv4l2h264enc, v4l2h264enc or x264enc): install gstreamer1.0-plugins-ugly' };
  }
  return detected;
}

/**
 * rsvgoverlay passes frames through untouched when it cannot render its SVG, so before trusting
 * it the box paints one white 64x64 frame with masks in the form maskSvg writes (a rectangle
 * over the left half, a triangle in the top-right corner) and reads the pixels back.
 */
function overlayPaints(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-masks-'));
  try {
    const svg = join(dir, 'self-test.svg');
    writeFileSync(svg, maskSvg([{ x: 0, y: 0, w: 0.5, h: 1 }, { points: [[0.5, 0], [1, 0], [1, 0.5]] }]));
    const r = spawnSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=1', 'pattern=white', '!', 'video/x-raw,width=64,height=64', '!', 'videoconvert', '!',
      'rsvgoverlay', 'fit-to-frame=true', `location=${svg}`, '!', 'videoconvert', '!', 'video/x-raw,format=GRAY8', '!', 'fdsink', 'fd=1'], { timeout: 10_000, maxBuffer: 1 << 20 });
    const px = r.stdout;
    if (r.status !== 0 || !px || px.length < 64 * 64) return false;
    const at = (x: number, y: number) => px[y * 64 + x]!;
    return at(10, 32) < 16 && at(30, 60) < 16 && at(60, 3) < 16 && at(40, 50) > 240 && at(60, 60) > 240;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * CPU (in cores) the masked path takes with x264 for one camera, from the measured rate:
 * bench/capture-masks.ts on x86 (2 AMD EPYC cores, two runs on 2026-12-01) took 13.0-13.2 % of
 * a core at 1280x720 15 fps and 23.1-26.8 % at 1920x1080 15 fps, 7.4 to 9.5 ns of a core per
 * pixel per second; the highest is used. A synthetic, mostly still picture: real scenes cost more, and a
 * slower CPU more again, so this is a lower bound.
 */
export function maskedCores(width: number, height: number, fps: number): number {
  return width * height * fps * 9.6e-9;
}

/** The segment's provenance: which mask set was in force and where it was enforced (and with which encoder, on the box). */
export function maskProvenance(masks: Mask[], how: Exclude<MaskEnforcement, { enforced: 'none' }>): string {
  return canonicalJson(how.enforced === 'box'
    ? { enforced: how.enforced, encoder: how.encoder, masks: maskSetHash(masks) }
    : { enforced: how.enforced, masks: maskSetHash(masks) });
}
