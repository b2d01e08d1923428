/**
 * The egress gate: the only code that writes pixels meant to leave the box. Exports, snapshots
 * and `redact` all pass here, so every one is redacted, watermarked, signed and audited, and a
 * failure leaves no output behind. Usable in-process (CLI today, MQTT commands later).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { makeDirs } from '../common/make-dirs.js';
import type { Config } from '../config/schema.js';
import type { Catalog, SegmentRow } from '../recorder/catalog/catalog.js';
import { appendAudit } from '../recorder/catalog/audit-log.js';
import { auditedBoxKey, takeCheckpoint } from '../recorder/catalog/checkpoint.js';
import { giveToDataOwner, nameTaken, trustedOutputPath } from '../common/data-owner.js';
import { sha256File, sha256RegularFile } from '../common/file-hash.js';
import type { Detector } from './detector.js';
import { configuredDetectors, detectorChoice } from './detectors.js';
import { detectionThreadEnabled, detectionWorker, windowFrames } from './detection-worker.js';
import { frameBytes, type Frame } from './frame.js';
import { readImage } from './image-io.js';
import { manifestPath, signManifest, type Manifest } from './manifest.js';
import { overlapEnabled, SettledPlan, WriteAgain } from './overlap.js';
import { DEFAULT_SETTINGS, Redactor, type RedactorSettings } from './redactor.js';
import { StageTimer, timed, timedSync } from './stage-timer.js';
import { rememberedPrivacyMasks, switchedOff } from './policy-record.js';
import { chooseEncoder, decodeFrames, encodable, Encoder, FrameBuffers, writeImage, type DecodeRange, type PixelFormat } from './video-io.js';
import { videoInfo, type VideoInfo } from '../common/media-probe.js';

interface Log { info(o: object, msg?: string): void; warn(o: object, msg?: string): void }

export interface EgressContext {
  catalog: Catalog;
  dataDir: string;
  config?: Config;
  log?: Log;
  /** instead of the configured ones (benchmarks, tests that wrap a real detector) */
  detectors?: Detector[];
  /** aborting it stops the job: its processes are killed, its partial output removed, and it throws */
  signal?: AbortSignal;
}

export interface EgressResult { out: string; manifest: string; frames: number; blanked_frames: number; sha256: string; export_id: string }

/** Thrown for requests that are wrong rather than failed (unknown camera, empty range): exit 2. */
export class EgressRequestError extends Error {}

const IMAGE_EXT: Record<string, 'mjpeg' | 'png'> = { '.jpg': 'mjpeg', '.jpeg': 'mjpeg', '.png': 'png' };
const READABLE_IMAGE = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff']);

export { configuredDetectors } from './detectors.js';

/**
 * The configured detectors loaded before a first job (a session costs 50-200 ms): on this
 * thread (stills, and video with EDGE_NVR_DETECTION_THREAD=0) and on the detection thread.
 */
export async function prepareDetectors(config?: Config): Promise<void> {
  await configuredDetectors(config);
  if (detectionThreadEnabled()) await detectionWorker().start(detectorChoice(config), DEFAULT_SETTINGS).plan();
}

/** A camera the config no longer names keeps the masks it had when it was last configured. */
function settingsFor(config: Config | undefined, catalog: Catalog, camera?: string): RedactorSettings {
  const cam = config?.cameras.find((c) => c.id === camera);
  const every = { ...DEFAULT_SETTINGS.every }, pad = { ...DEFAULT_SETTINGS.pad };
  for (const d of config?.redaction.detectors ?? []) { every[d.name] = d.every_n_frames; pad[d.name] = d.pad; }
  const masks = cam ? [...cam.privacy_masks, ...cam.capture_masks] : camera ? rememberedPrivacyMasks(catalog, camera) : [];
  return { ...DEFAULT_SETTINGS, every, pad, method: config?.redaction.method ?? 'pixelate', masks };
}

interface Job {
  kind: Manifest['kind'];
  out: string;
  requester: string;
  reason: string;
  camera?: string;
  fromMs?: number;
  toMs?: number;
  sources: Manifest['sources'];
  /** frames in, in order, as RGB24 or (video) yuv420p, read into `buffers` when given; `still` writes the last one as an image */
  frames: (pixFmt?: PixelFormat, buffers?: FrameBuffers) => AsyncIterable<Frame>;
  info: VideoInfo;
  still: boolean;
  /** when frame n was recorded (ms), for the watermark */
  timeOf?: (n: number) => number;
}

async function run(ctx: EgressContext, job: Job): Promise<EgressResult> {
  let out = resolve(job.out);
  const exportId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
  // `--data` without a config: the box's id as the daemon last recorded it (the manifest and the
  // watermark said "unconfigured" while the evidence bundles of the same box named it)
  const boxId = ctx.config?.box.id ?? ctx.catalog.getMeta('box.id') ?? 'unconfigured';
  const audit = { actor: job.requester, camera: job.camera ?? null, from_ms: job.fromMs ?? null, to_ms: job.toMs ?? null, reason: job.reason, destination: out };
  let encoder: Encoder | undefined;
  // The output is written into a directory made for it, under a name nobody can guess (mkdtemp,
  // mode 0700), then moved to its name: a file named after the pid beside the output was
  // guessable, and ffmpeg, writing as root, followed a link another user had planted there
  // onto any file of the box.
  let tmpDir: string | undefined;
  let tmp = '';
  try {
    if (nameTaken(out)) throw new EgressRequestError(`${out} exists; refusing to overwrite it`);
    if (nameTaken(manifestPath(out))) throw new EgressRequestError(`${manifestPath(out)} exists; refusing to overwrite it (give another name)`);
    const madeParent = makeDirs(dirname(out));
    const trusted = trustedOutputPath(out, ctx.dataDir);
    if ('problem' in trusted) throw new EgressRequestError(`${out}: ${trusted.problem}`);
    out = audit.destination = trusted.path;
    const dir = mkdtempSync(join(dirname(out), `.${basename(out)}.partial-`));
    tmpDir = dir;
    tmp = join(dir, basename(out));
    // a video's pass 1 runs on the detection thread, beside decoding; detectors given by the
    // caller (tests, benchmarks) and stills stay on this thread
    const onThread = !ctx.detectors && !job.still && detectionThreadEnabled();
    const here: Detector[] = onThread ? [] : ctx.detectors ?? (await configuredDetectors(ctx.config));
    // what the manifest names: these, or the ones the detection thread ran
    let detectors: Array<{ name: string; version: string }> = here;
    const settings = settingsFor(ctx.config, ctx.catalog, job.camera);
    const off = switchedOff(ctx.config);
    const created = new Date();
    const timer = StageTimer.fromEnv();
    const redactor = new Redactor(here, settings, (n) => `${boxId} ${exportId} ${new Date(job.timeOf?.(n) ?? created.getTime()).toISOString().slice(0, 19)}Z`, job.still, timer);
    const frames = (pass: string, pixFmt?: PixelFormat, buffers?: FrameBuffers) => (timer ? timer.each(`decode, ${pass}`, job.frames(pixFmt, buffers)) : job.frames(pixFmt, buffers));
    // pass 2's frames are read into buffers it gives back once the encoder's pipe has taken them
    const pass2Buffers = () => new FrameBuffers(frameBytes(job.info.width, job.info.height, 'yuv420p'));
    const imageFormat = IMAGE_EXT[extname(out).toLowerCase()];
    if (job.still && !imageFormat) throw new EgressRequestError(`${out}: a still image needs a .jpg or .png name`);
    // what is written is MP4 whatever the name (an outside probe's x.avi and out.txt held MP4)
    if (!job.still && extname(out).toLowerCase() !== '.mp4') throw new EgressRequestError(`${out}: a video is written as MP4; name it .mp4`);
    // Pass 1: every frame seen by the detectors, the whole clip's tracks built (an export is not
    // live, so a box is carried backwards to where an object entered as well as forwards).
    // Pass 2 (decoded again, hidden, watermarked, encoded) runs beside it, a bounded number of
    // frames behind: each frame is written once its boxes are final (redaction/overlap.ts).
    let last: Frame | undefined;
    let n = 0;
    const beside = !job.still && overlapEnabled() ? new SettledPlan() : undefined;
    const encoderName = job.still ? undefined : await chooseEncoder();
    // on the detection thread, a frame handed over is its (transferred): only this thread's are kept as `last`
    // its frames are read into buffers the thread gives back once pass 1 no longer reads them
    // (Redactor.heldFrames): the look-back window, the read-ahead and a few spare, not a new
    // buffer a frame left to the garbage collector
    const pass1Buffers = onThread ? new FrameBuffers(frameBytes(job.info.width, job.info.height), windowFrames(settings)) : undefined;
    const pass1 = onThread ? detectionWorker().start(detectorChoice(ctx.config), settings, undefined, beside && ((part) => beside.add(part)), (buf) => pass1Buffers!.give(buf)) : undefined;
    let writing: Promise<number> | undefined;
    let writeFailed: Error | undefined;
    if (beside) {
      encoder = new Encoder(tmp, job.info, encoderName!, 'yuv420p');
      const buffers = pass2Buffers();
      writing = writePassTwo(frames('pass 2', 'yuv420p', buffers), buffers, redactor, encoder, timer, ctx.signal, beside);
      writing.catch((err: Error) => { writeFailed = err; });
    }
    try {
      for await (const frame of frames('pass 1', 'rgb24', pass1Buffers)) {
        ctx.signal?.throwIfAborted();
        if (writeFailed) throw writeFailed;
        const k = n++;
        if (pass1) {
          await timed(timer, 'waiting for the detection thread', () => pass1.look(frame, k));
        } else {
          await timed(timer, 'look (detect, look again, motion, the rest)', () => redactor.look(frame, k));
          beside?.add(redactor.settled(beside.count));
          last = frame;
        }
        beside?.handed(n);
      }
      if (n === 0) throw new Error('no frame could be decoded from the sources');
      if (pass1) {
        // the plan is the job's last step there: plan() ends the job on the thread
        const planned = await timed(timer, 'waiting for the detection thread', () => pass1.plan());
        redactor.adopt(planned.passOne);
        detectors = planned.detectors;
        if (timer && planned.profile) timer.absorb(planned.profile, 'detection thread: ');
      } else {
        await timed(timer, 'last round, plan', () => redactor.plan());
      }
    } catch (err) {
      // pass 2 stops too, its decoder killed, and the detection thread's run in progress ends,
      // before the job's error goes up (a daemon stopping exits after it)
      beside?.fail(err as Error);
      await Promise.all([writing?.catch(() => {}), pass1?.end()]);
      throw err;
    }
    // Pass 2: decoded again, hidden, watermarked, encoded. A still is its one frame, kept.
    let pass2 = 'after pass 1';
    if (job.still) {
      await writeImage(redactor.render(last!, n - 1), tmp, imageFormat!);
    } else {
      let m: number | undefined;
      if (beside) {
        // the guard: every frame written beside pass 1 got what the whole plan gives it
        // (pass 2 may have written every frame already: what it wrote is checked, not whether it stopped)
        const differs = beside.firstDifference(redactor.passOne());
        if (differs === undefined) {
          beside.plannedNow();
          m = await writing!;
          pass2 = 'beside pass 1';
        } else {
          beside.fail(new WriteAgain(`frame ${differs}`));
          await writing!.catch(() => { /* written again below, whatever stopped it */ });
          encoder!.abort();
          await encoder!.finish().catch(() => { /* killed: its exit is all that is waited for */ });
          try { unlinkSync(tmp); } catch { /* the encoder had not created it */ }
          redactor.forgetRendering();
          pass2 = `after pass 1, again: frame ${differs} was written beside pass 1 with boxes the whole plan does not give it`;
          ctx.log?.warn({ out, frame: differs }, 'pass 2 written again after pass 1 (a frame written beside it differs from the plan)');
        }
      }
      if (m === undefined) {
        // the second pass only hides, masks and watermarks: in yuv420p, as decoded and as encoded,
        // with no RGB conversion in ffmpeg and half the bytes through the pipes
        encoder = new Encoder(tmp, job.info, encoderName!, 'yuv420p');
        const buffers = pass2Buffers();
        m = await writePassTwo(frames('pass 2', 'yuv420p', buffers), buffers, redactor, encoder, timer, ctx.signal);
      }
      if (m < n) throw new Error(`the sources gave ${m} frames on the second pass, ${n} on the first; refusing a partial output`);
      await encoder!.finish();
      if (timer) process.stderr.write(JSON.stringify({ redaction_profile: timer.summary(n), frames: n, pass2, written_beside: beside?.written, held_back_max: beside?.maxLag, inputs_looked: redactor.stats.inputs_looked,
        inputs_reused: redactor.stats.inputs_reused, inputs_cropped: redactor.stats.inputs_cropped, cropped_share: redactor.stats.cropped_share }) + '\n');
    }
    ctx.signal?.throwIfAborted();
    const sha256 = await sha256File(tmp);
    auditedBoxKey(ctx.catalog, ctx.dataDir, job.requester); // a key created for this manifest is audited before it signs
    const manifest = signManifest({
      schema: 'edge-nvr/manifest/1', kind: job.kind, export_id: exportId, box_id: boxId, created: created.toISOString(),
      requester: job.requester, reason: job.reason, camera: job.camera,
      from: job.fromMs !== undefined ? new Date(job.fromMs).toISOString() : undefined, to: job.toMs !== undefined ? new Date(job.toMs).toISOString() : undefined,
      sources: job.sources, settings: { ...settings, fail_closed: true }, switched_off: off, detectors: detectors.map((d) => ({ name: d.name, version: d.version })),
      encoder: encoder?.encoder ?? imageFormat!, frames: redactor.stats.frames, blanked_frames: redactor.stats.blanked_frames, boxes: redactor.stats.hidden_boxes,
      detections: redactor.stats.detections, output: { file: basename(out), sha256, bytes: statSync(tmp).size }, public_key: '',
    }, ctx.dataDir);
    // Registered before it appears: a kill or a full disk from here on leaves an entry (and its
    // `.failed`) for a file not delivered, never a signed file that left no trace (an outside probe
    // got both: the audit was written after the rename).
    appendAudit(ctx.catalog, { ...audit, action: job.kind, details: { export_id: exportId, sha256, frames: redactor.stats.frames,
      blanked_frames: redactor.stats.blanked_frames, manifest: manifestPath(out), errors: redactor.stats.errors.slice(0, 3), switched_off: off } });
    // The output appears under its name only once it is complete and its manifest is written.
    publish(out, tmp, JSON.stringify(manifest, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    giveToDataOwner(ctx.dataDir, madeParent ? [madeParent] : [out, manifestPath(out)]);
    if (off.length) ctx.log?.warn({ out, switched_off: off }, `${job.kind} written with ${off.map((o) => o.detector).join(' and ')} NOT hidden (switched off in the config)`);
    // every egress is anchored: a platform keeping this checkpoint can hold the box to the
    // chains as they stood when the file left (the audit entry above included)
    try {
      takeCheckpoint(ctx.catalog, ctx.dataDir, boxId, 'egress', job.requester);
    } catch (err) {
      ctx.log?.warn({ err: (err as Error).message }, 'cannot sign a checkpoint after the egress');
    }
    if (redactor.stats.blanked_frames > 0) ctx.log?.warn({ out, blanked: redactor.stats.blanked_frames, errors: redactor.stats.errors.slice(0, 3) }, 'frames blanked (fail closed)');
    ctx.log?.info({ out, export_id: exportId, frames: redactor.stats.frames }, `${job.kind} written`);
    return { out, manifest: manifestPath(out), frames: redactor.stats.frames, blanked_frames: redactor.stats.blanked_frames, sha256, export_id: exportId };
  } catch (caught) {
    const err = ctx.signal?.aborted ? new Error(`cancelled: ${(ctx.signal.reason as Error)?.message ?? 'aborted'}; nothing was written`) : caught;
    encoder?.abort();
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    try {
      appendAudit(ctx.catalog, { ...audit, action: `${job.kind}.failed`, details: { export_id: exportId, error: (err as Error).message } });
    } catch { /* the original error matters more */ }
    throw err;
  }
}

/**
 * The manifest under its name, then the output under its own. A manifest this call began and
 * could not finish (a full disk) is removed: left empty, it refused every later try with EEXIST.
 * One that was there before is not this call's, and stays.
 */
function publish(out: string, tmp: string, manifest: string): void {
  try {
    writeFileSync(manifestPath(out), manifest, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(manifestPath(out), { force: true });
    throw err;
  }
  try {
    renameSync(tmp, out);
  } catch (err) {
    rmSync(manifestPath(out), { force: true });
    throw err;
  }
}

/**
 * Pass 2's frames hidden, masked, watermarked and encoded, in order; the number written. Beside
 * pass 1 (`beside`), each waits until its boxes are final and is drawn with them, and once pass
 * 1's plan is there (the guard passed) the rest come from the plan; otherwise every frame comes
 * from the plan.
 */
async function writePassTwo(frames: AsyncIterable<Frame>, buffers: FrameBuffers, redactor: Redactor, encoder: Encoder, timer: StageTimer | undefined, signal?: AbortSignal,
  beside?: SettledPlan): Promise<number> {
  let m = 0;
  for await (const frame of frames) {
    signal?.throwIfAborted();
    const n = m++;
    const from = beside ? await timed(timer, 'pass 2 waiting for pass 1', () => beside.until(n)) : 'planned';
    const decoded = frame.data;
    const hidden = timedSync(timer, 'hide, masks, watermark', () => (from === 'settled' ? beside!.draw(redactor, frame, n) : redactor.render(frame, n)));
    // the decoded buffer goes back to the decoder once nothing reads it: at once when a blank
    // frame is written instead, else when the encoder's pipe has taken it (not when write()
    // returns: the pipe may still hold part of it)
    if (hidden.data !== decoded) buffers.give(decoded);
    await timed(timer, 'encoder pipe', () => encoder.write(hidden, () => { if (hidden.data === decoded) buffers.give(decoded); }));
  }
  return m;
}

/** A catalogued segment whose file still has its recorded hash, or an error naming it. */
async function checkedSource(ctx: EgressContext, s: SegmentRow): Promise<string> {
  const abs = resolve(ctx.dataDir, s.path);
  if (s.state !== 'ok' || !existsSync(abs)) throw new Error(`segment #${s.id} (${s.path}) is ${s.state === 'ok' ? 'missing' : s.state}; refusing to export around it`);
  const sha = (await sha256RegularFile(abs)).sha256; // a link, FIFO or directory in its place throws, naming it
  if (sha !== s.sha256) throw new Error(`segment #${s.id} (${s.path}) does not match its catalogued sha256 (altered?); refusing to export it`);
  return abs;
}

/**
 * A refused request is registered too (`<kind>.refused`): a source that fails its hash is
 * evidence of tampering, and a request for footage the box does not have is a request all the
 * same. Returns `err`, to be thrown.
 */
function refusal(ctx: EgressContext, kind: 'export' | 'snapshot', req: { requester: string; camera: string; reason: string; out: string }, range: { fromMs: number; toMs: number } | null) {
  return (err: Error): Error => {
    appendAudit(ctx.catalog, { actor: req.requester, action: `${kind}.refused`, camera: req.camera, from_ms: range?.fromMs ?? null, to_ms: range?.toMs ?? null,
      reason: req.reason, destination: resolve(req.out), details: { error: err.message } });
    return err;
  };
}

export interface ExportRequest { camera: string; fromMs: number; toMs: number; reason: string; requester: string; out: string }

export async function exportClip(ctx: EgressContext, req: ExportRequest): Promise<EgressResult> {
  const refused = refusal(ctx, 'export', req, req);
  const rows = ctx.catalog.segments(req.camera, req.fromMs, req.toMs);
  if (rows.length === 0) throw refused(new EgressRequestError(`no recordings of camera "${req.camera}" between ${new Date(req.fromMs).toISOString()} and ${new Date(req.toMs).toISOString()}`));
  const ranges: Array<DecodeRange & { row: SegmentRow }> = [];
  const sources: Manifest['sources'] = [];
  for (const r of rows) {
    ctx.signal?.throwIfAborted();
    let path: string;
    try {
      path = await checkedSource(ctx, r);
    } catch (err) {
      throw refused(err as Error);
    }
    const from = Math.max(req.fromMs, r.start_ms), to = Math.min(req.toMs, r.end_ms);
    ranges.push({ path, startS: (from - r.start_ms) / 1000, durationS: (to - from) / 1000, row: r });
    sources.push({ path: r.path, sha256: r.sha256, segment_id: r.id, start: new Date(r.start_ms).toISOString(), end: new Date(r.end_ms).toISOString() });
  }
  const info = encodable(await videoInfo(ranges[0]!.path));
  // the frame each range starts at, as the pass that writes (yuv420p) decodes them; pass 1
  // (rgb24) decodes at the same time when pass 2 runs beside it, so each keeps its own
  const starts: Partial<Record<PixelFormat, number[]>> = {};
  return run(ctx, {
    kind: 'export', out: req.out, requester: req.requester, reason: req.reason, camera: req.camera, fromMs: req.fromMs, toMs: req.toMs,
    sources, info, still: false,
    timeOf: (n) => {
      const s = starts.yuv420p ?? [];
      let i = 0; while (i + 1 < s.length && s[i + 1]! <= n) i++; const r = ranges[Math.max(0, i)]!; return r.row.start_ms + (r.startS ?? 0) * 1000 + ((n - (s[i] ?? 0)) / info.fps) * 1000;
    },
    async *frames(pixFmt, buffers) {
      let n = 0;
      const mine: number[] = starts[pixFmt ?? 'rgb24'] = [];
      for (const r of ranges) { mine.push(n); for await (const f of decodeFrames(r, info, ctx.signal, pixFmt, buffers)) { n++; yield f; } }
    },
  });
}

export interface SnapshotRequest { camera: string; out: string; requester: string; reason: string }

/** The last keyframe of the newest catalogued segment: no running daemon needed. */
export async function takeSnapshot(ctx: EgressContext, req: SnapshotRequest): Promise<EgressResult> {
  const row = ctx.catalog.lastSegment(req.camera);
  // refused before any picture was taken: registered all the same, as exports are
  const refused = refusal(ctx, 'snapshot', req, row ? { fromMs: row.start_ms, toMs: row.end_ms } : null);
  if (!row) throw refused(new EgressRequestError(`no recordings of camera "${req.camera}"`));
  let path: string, info: Awaited<ReturnType<typeof videoInfo>>;
  try {
    path = await checkedSource(ctx, row);
    info = await videoInfo(path);
  } catch (err) {
    throw refused(err as Error);
  }
  return run(ctx, {
    kind: 'snapshot', out: req.out, requester: req.requester, reason: req.reason, camera: req.camera, fromMs: row.start_ms, toMs: row.end_ms,
    sources: [{ path: row.path, sha256: row.sha256, segment_id: row.id, start: new Date(row.start_ms).toISOString(), end: new Date(row.end_ms).toISOString() }],
    info, still: true, timeOf: () => row.end_ms,
    async *frames() {
      let last: Frame | undefined;
      for await (const f of decodeFrames({ path, keyframesOnly: true }, info, ctx.signal)) last = f;
      if (last) yield last;
    },
  });
}

export interface StillRequest { camera: string; frame: Frame; atMs: number; out: string; requester: string; reason: string }

/** A still's side at most: beyond any camera's picture (8K is 7680), and a bound on what one request can make the box hold (192 MiB of RGB). */
export const STILL_MAX_SIDE = 8192;

/** What is wrong with a still's size, if anything: asked before its pixels are read, since the size says how many bytes they are. */
export function stillSizeProblem(width: unknown, height: unknown): string | undefined {
  const side = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= STILL_MAX_SIDE;
  if (side(width) && side(height)) return undefined;
  return `size: expected a width and height of 1 to ${STILL_MAX_SIDE} pixels, got ${JSON.stringify(width)} x ${JSON.stringify(height)}`;
}

/** What is wrong with the rest of a still request (its fields come from a JSON line in `still --batch`, typed by nobody). */
function stillRequestProblem(req: StillRequest): string | undefined {
  const text = (v: unknown) => typeof v === 'string' && v.trim() !== '';
  if (!text(req.camera)) return 'camera: expected a camera id';
  if (!text(req.out)) return 'out: expected the file to write';
  if (!text(req.requester) || !text(req.reason)) return 'requester and reason: expected who asks and why';
  if (!Number.isSafeInteger(req.atMs) || req.atMs < 0) return `at: expected epoch milliseconds, got ${JSON.stringify(req.atMs)}`;
  const bytes = frameBytes(req.frame.width, req.frame.height);
  if (req.frame.data.length !== bytes) return `expected ${bytes} bytes of RGB24 for ${req.frame.width}x${req.frame.height}, got ${req.frame.data.length}`;
  return undefined;
}

/**
 * A live picture (a frame the sampler decoded, not a catalogued file) as a redacted still: what
 * a tamper event keeps of its moment. The manifest names it `live:<camera>` with the hash of its
 * pixels; it is audited like every snapshot.
 */
export async function saveStill(ctx: EgressContext, req: StillRequest): Promise<EgressResult> {
  const problem = stillSizeProblem(req.frame.width, req.frame.height) ?? stillRequestProblem(req);
  if (problem) throw new EgressRequestError(problem);
  const sha = createHash('sha256').update(req.frame.data).digest('hex');
  return run(ctx, {
    kind: 'snapshot', out: req.out, requester: req.requester, reason: req.reason, camera: req.camera, fromMs: req.atMs, toMs: req.atMs,
    sources: [{ path: `live:${req.camera}`, sha256: sha, start: new Date(req.atMs).toISOString(), end: new Date(req.atMs).toISOString() }],
    info: { width: req.frame.width, height: req.frame.height, fps: 1 }, still: true, timeOf: () => req.atMs,
    async *frames() { yield req.frame; },
  });
}

export interface RedactRequest { input: string; out: string; requester: string; reason: string; camera?: string }

/** Any video or image file, redacted with the configured detectors (and a camera's masks if named). */
export async function redactFile(ctx: EgressContext, req: RedactRequest): Promise<EgressResult> {
  const input = resolve(req.input);
  if (!existsSync(input)) throw new EgressRequestError(`${input} does not exist`);
  // a FIFO kept ffprobe waiting for a writer for ever; a directory or a device is no file to redact either
  if (!statSync(input).isFile()) throw new EgressRequestError(`${input} is not a plain file (a FIFO, a directory or a device): give a video or image file`);
  const still = READABLE_IMAGE.has(extname(input).toLowerCase());
  let probed: VideoInfo, sha: string;
  try {
    probed = await videoInfo(input);
    // a 16000x16000 PNG of 1.8 MB kept a core busy for minutes (an outside probe): what no camera
    // makes is refused before a pixel is decoded
    if (probed.width > STILL_MAX_SIDE || probed.height > STILL_MAX_SIDE) {
      throw new EgressRequestError(`${input} is ${probed.width}x${probed.height}: at most ${STILL_MAX_SIDE} pixels a side are redacted (8K is 7680); scale it down first`);
    }
    sha = await sha256File(input);
  } catch (err) {
    // a file that cannot be read is a failed attempt like any other: on record
    appendAudit(ctx.catalog, { actor: req.requester, action: 'redact.failed', camera: req.camera ?? null, from_ms: null, to_ms: null, reason: req.reason,
      destination: resolve(req.out), details: { error: (err as Error).message } });
    throw err;
  }
  const info = still ? probed : encodable(probed);
  return run(ctx, {
    kind: 'redact', out: req.out, requester: req.requester, reason: req.reason, camera: req.camera, sources: [{ path: input, sha256: sha }], info, still,
    async *frames(pixFmt, buffers) {
      if (still) yield await readImage(input);
      else yield* decodeFrames({ path: input }, info, ctx.signal, pixFmt, buffers);
    },
  });
}
