/**
 * `edge-nvr check`: what an installer runs before enabling the service. It validates the config
 * and then runs pre-flight checks, one line each, so that a failure says what to fix.
 *
 * Pre-flight checks are a plain list (PREFLIGHT): another check is one more function that gets
 * the loaded config and returns {name, ok, detail}.
 */
import { execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { availableParallelism, userInfo } from 'node:os';
import { effectiveRetention, readSecret } from '../../config/load.js';
import { CameraMaskService, missingMasks } from '../../recorder/sources/onvif-masks.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { FrameDecoder } from '../../recorder/frame-decoder.js';
import { checkGstreamer } from '../../recorder/backends/gstreamer.js';
import { SPAWNER_SCRIPT } from '../../recorder/backends/spawner.js';
import { detectMaskEnforcement, maskedCores, type MaskEncoder } from '../../recorder/capture-masks.js';
import { clockDrifts } from '../../recorder/sources/onvif.js';
import { resolveSource } from '../../recorder/sources/resolve.js';
import { scrubCredentials } from '../../common/credentials.js';
import { configuredDetectors } from '../../redaction/egress.js';
import { switchedOff } from '../../redaction/policy-record.js';
import { untrustedDataDir } from '../../common/data-owner.js';
import { configFileIssues } from '../../config/secret-files.js';
import { floorIssue, readClockSync } from '../../watchdog/system-health.js';
import { probeStream } from './probe.js';
import { DEFAULT_CONFIG, EXIT, parseCommand, type CommandSpec, print, printJson } from '../args.js';
import { ConfigError } from '../../config/errors.js';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { UsersFile, usersFilePath } from '../../web/users.js';
import { loadTls } from '../../web/tls-files.js';
import { isLoopback, parseListen } from '../../config/listen.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** passed, but something a person should know and decide about (printed WARN; exit 0) */
  warn?: boolean;
  /** one line a person can act on */
  detail: string;
  /** the config's issues, only on a failed `config` check (--json) */
  issues?: string[];
}

export interface CheckContext {
  config: Config;
  /** absolute path of the config file */
  configPath: string;
}

export type Preflight = (ctx: CheckContext) => Promise<CheckResult>;

const spec = {
  name: 'check',
  summary: 'Validate the config and pre-flight the box (ffmpeg, GStreamer, capture masks, storage, cameras, disk size, clock, broker, secrets, redaction detectors, the status page, the view analysis decoder). Exit 0 all passed, 1 a check failed, 2 bad config.',
  usage: 'check [--config <path>] [--json]',
  options: {
    config: { type: 'string', short: 'c' },
    json: { type: 'boolean' },
  },
  help: {
    config: `config file (default ${DEFAULT_CONFIG})`,
    json: 'print the checks as a JSON array',
  },
} satisfies CommandSpec<{ config: { type: 'string'; short: 'c' }; json: { type: 'boolean' } }>;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return EXIT.ok;
  const file = parsed.values.config ?? DEFAULT_CONFIG;
  const json = parsed.values.json === true;
  const configPath = resolve(file);

  let config: Config;
  try {
    config = loadConfig(file);
  } catch (err) {
    // Without --json the CLI prints each issue as `<file>: <issue>` and exits 2.
    if (!(json && err instanceof ConfigError)) throw err;
    const failed: CheckResult = { name: 'config', ok: false, detail: `${configPath}: ${plural(err.issues.length, 'issue')}`, issues: err.issues };
    printJson([failed], 2);
    return EXIT.usage;
  }

  const results = [configCheck(config, configPath), ...(await runAll({ config, configPath }))];
  if (json) printJson(results, 2);
  else print(formatResults(results));
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
}

export function formatResults(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return results.map((r) => `${r.ok ? (r.warn ? 'WARN' : 'PASS') : 'FAIL'} ${r.name.padEnd(width)}  ${r.detail}\n`).join('');
}

/** Runs every pre-flight check; a check that throws is a failed check, not a crashed command. */
export async function runAll(ctx: CheckContext, checks: Preflight[] = PREFLIGHT): Promise<CheckResult[]> {
  return Promise.all(
    checks.map((check) =>
      check(ctx).catch((err: unknown) => ({ name: check.name || 'check', ok: false, detail: (err as Error).message ?? String(err) })),
    ),
  );
}

function configCheck(config: Config, configPath: string): CheckResult {
  const disabled = config.cameras.filter((c) => !c.enabled).length;
  const cameras = plural(config.cameras.length, 'camera') + (disabled ? ` (${disabled} disabled)` : '');
  return { name: 'config', ok: true, detail: `${configPath}: ${cameras}` };
}

/* ------------------------------------------------------------------ pre-flight checks */

/** ffmpeg records, probes and exports; without it nothing works. */
export async function ffmpegPresent(): Promise<CheckResult> {
  return new Promise((done) => {
    execFile('ffmpeg', ['-version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const detail = missing
          ? 'ffmpeg not found on PATH; install it (apt install ffmpeg)'
          : `ffmpeg -version failed (${err.message.split('\n')[0]})`;
        done({ name: 'ffmpeg', ok: false, detail });
        return;
      }
      // the recorders are started through the spawner: without it, nothing records (a package
      // installed without it passed every check: an outside probe)
      if (!existsSync(SPAWNER_SCRIPT)) {
        done({ name: 'ffmpeg', ok: false, detail: `the recorders' spawner ${SPAWNER_SCRIPT} is missing: the package is incomplete; install it again (scripts/install)` });
        return;
      }
      const first = stdout.split('\n')[0] ?? '';
      done({ name: 'ffmpeg', ok: true, detail: first.replace(/\s+Copyright.*$/, '').trim() || 'ffmpeg present' });
    });
  });
}

/**
 * The data directory must be writable by the user running this (run check as the service user,
 * e.g. `sudo -u edge-nvr edge-nvr check`, for a faithful answer). A missing directory is fine
 * when its nearest existing parent lets us create it. Nothing is created here.
 */
export async function storageWritable({ config }: CheckContext): Promise<CheckResult> {
  const path = resolve(config.storage.path);
  const user = userInfo().username;
  const info = await stat(path).catch(() => undefined);
  if (info && !info.isDirectory()) return { name: 'storage', ok: false, detail: `${path} exists but is not a directory` };
  if (info) {
    // a real write: access() cannot see a read-only mount or a full disk the way a write does
    const probe = join(path, `.edge-nvr-check-${process.pid}`);
    try {
      await writeFile(probe, 'check\n');
      await unlink(probe);
    } catch (err) {
      return { name: 'storage', ok: false, detail: `${path} is not writable by ${user} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    }
    // what `run` refuses, as it refuses it (run check as the service user for the owner's test)
    const untrusted = untrustedDataDir(path, process.geteuid?.() === 0 ? info.uid : undefined);
    if (untrusted) return { name: 'storage', ok: false, detail: untrusted };
    return { name: 'storage', ok: true, detail: `${path} writable by ${user}${await freeSpace(path)}` };
  }
  let parent = dirname(path);
  while (!(await stat(parent).catch(() => undefined)) && dirname(parent) !== parent) parent = dirname(parent);
  // root may "write" /proc and /sys, yet no folder can be made there (an outside probe: PASS, then `run` failed)
  const kernel = KERNEL_FILESYSTEMS.get(Number((await statfs(parent).catch(() => undefined))?.type));
  if (kernel) return { name: 'storage', ok: false, detail: `${path} would be in ${parent}, on the kernel's ${kernel} filesystem, not a disk: nothing can be stored there; set storage.path to a folder on the data disk` };
  try {
    await access(parent, constants.W_OK | constants.X_OK);
  } catch {
    return {
      name: 'storage',
      ok: false,
      detail: `${path} does not exist and ${user} cannot create it in ${parent}; create it for the service user (install -d -o edge-nvr ${path})`,
    };
  }
  return { name: 'storage', ok: true, detail: `${path} does not exist yet; ${user} can create it in ${parent}${await freeSpace(parent)}` };
}

/** statfs(2) magic numbers of the kernel's own filesystems (linux/magic.h): no folder of data can be made on them */
const KERNEL_FILESYSTEMS = new Map([
  [0x9fa0, 'proc'], [0x62656572, 'sysfs'], [0x27e0eb, 'cgroup'], [0x63677270, 'cgroup2'], [0x1cd1, 'devpts'], [0x64626720, 'debugfs'],
  [0x73636673, 'securityfs'], [0x74726163, 'tracefs'], [0xcafe4a11, 'bpf'], [0x62656570, 'configfs'], [0x6165676c, 'pstore'], [0xde5e81e4, 'efivarfs'],
]);

async function freeSpace(path: string): Promise<string> {
  try {
    const fs = await statfs(path);
    return `, ${(Number(fs.bavail) * Number(fs.bsize) / 2 ** 30).toFixed(1)} GiB free`;
  } catch {
    return '';
  }
}

/* ---------------------------------------------- cameras, GStreamer, disk size, clock, broker */

export interface CameraProbe {
  camera: string;
  ok: boolean;
  detail: string;
  /** measured (or, for test cameras, configured) bitrate */
  bitrate_kbps: number | null;
  /** the picture as probed (configured, for test cameras) */
  video?: { width: number; height: number; fps: number | null };
}

const cameraProbes = new WeakMap<Config, Promise<CameraProbe[]>>();

/** Every enabled camera probed once (RTSP DESCRIBE and a couple of seconds of packets through
 * ffprobe; ONVIF cameras resolve their stream URI first), shared by the checks that need it. */
function probeCameras(config: Config): Promise<CameraProbe[]> {
  let p = cameraProbes.get(config);
  if (!p) {
    p = Promise.all(config.cameras.map(async (cam, i): Promise<CameraProbe | null> => {
      if (!cam.enabled) return null;
      const src = cam.source;
      if (src.type === 'test') return { camera: cam.id, ok: true, detail: 'synthetic camera', bitrate_kbps: src.bitrate_kbps, video: { width: src.width, height: src.height, fps: src.fps } };
      // what ONVIF said of the camera's clock (drifting, or no date to believe), said whether the stream reads or not
      let via = '';
      try {
        const source = resolveSource(cam, `cameras[${i}]`, new Map(), (r) => {
          const drift = r.clock_drift_ms;
          const clock = r.clock_problem ? `camera clock not believed: ${r.clock_problem}` : clockDrifts(drift) ? `camera clock ${Math.round(drift / 1000)} s off` : '';
          via = src.type === 'onvif' ? ` via ONVIF ${src.host}${clock ? ` (${clock})` : ''}` : '';
        });
        const url = (await source.resolveUrl?.())?.url ?? source.url;
        const probe = await probeStream(url, 2, Math.min(cam.record.timeout_seconds, 5));
        const v = probe.video;
        if (!v) return { camera: cam.id, ok: false, detail: `${probe.url}${via}: no video stream`, bitrate_kbps: probe.bitrate_kbps };
        return { camera: cam.id, ok: true, detail: `${v.codec} ${v.width}x${v.height} ${v.fps ?? '?'} fps ${probe.bitrate_kbps ?? '?'} kbit/s${via}`, bitrate_kbps: probe.bitrate_kbps, video: { width: v.width, height: v.height, fps: v.fps } };
      } catch (err) {
        return { camera: cam.id, ok: false, detail: `${scrubCredentials((err as Error).message)}${via && ` [stream URI${via}]`}`, bitrate_kbps: null };
      }
    })).then((all) => all.filter((c): c is CameraProbe => c !== null));
    cameraProbes.set(config, p);
  }
  return p;
}

/** Every enabled camera answers: one line naming each camera that does not. */
export async function camerasReachable({ config }: CheckContext): Promise<CheckResult> {
  const probes = await probeCameras(config);
  const bad = probes.filter((p) => !p.ok);
  if (bad.length) return { name: 'cameras', ok: false, detail: bad.map((p) => `${p.camera} unreachable: ${p.detail}`).join('; ') };
  return { name: 'cameras', ok: true, detail: probes.map((p) => `${p.camera}: ${p.detail}`).join('; ') || 'no enabled camera' };
}

/** GStreamer (through its recording child) is required by cameras on the gstreamer backend, optional otherwise. */
export async function gstreamerPresent({ config }: CheckContext): Promise<CheckResult> {
  const needed = config.cameras.some((c) => c.enabled && (c.record.backend === 'gstreamer' || c.capture_masks.length > 0));
  const { ok, detail } = await checkGstreamer();
  if (ok) return { name: 'gstreamer', ok: true, detail: `${detail}${needed ? '' : ' (not used by any camera)'}` };
  return { name: 'gstreamer', ok: !needed, detail: needed ? detail : `${detail}; not needed (no camera uses the gstreamer backend)` };
}

/**
 * Where each camera's capture masks will be enforced, found without changing anything: an ONVIF
 * camera's Media2 mask support and the masks it holds now (the daemon creates those it lacks), else the box's masked path.
 */
async function maskPlan(cam: Config['cameras'][number], i: number): Promise<{ ok: boolean; detail: string; box?: MaskEncoder }> {
  let onCamera = 'not an ONVIF camera';
  if (cam.capture_masks_on !== 'box' && cam.source.type === 'onvif') {
    try {
      const src = cam.source;
      const svc = await CameraMaskService.open({ host: src.host, username: src.username, password: readSecret(src, `cameras[${i}].source`), profile: src.profile, timeoutMs: 5000 });
      const held = cam.capture_masks.length - missingMasks(cam.capture_masks, await svc.masks()).length;
      return { ok: true, detail: `${cam.id}: enforced by the camera (ONVIF privacy masks; it holds ${held} of ${cam.capture_masks.length} now, the daemon pushes the rest and reads them back)` };
    } catch (err) {
      onCamera = scrubCredentials((err as Error).message);
    }
  }
  if (cam.capture_masks_on === 'camera') return { ok: false, detail: `${cam.id}: capture_masks_on is camera, and the camera cannot hold them (${onCamera}); not recorded` };
  const how = detectMaskEnforcement();
  if (how.enforced !== 'box') return { ok: false, detail: `${cam.id}: capture masks cannot be enforced (${how.enforced === 'none' ? how.reason : onCamera}); not recorded` };
  const why = cam.source.type === 'onvif' && cam.capture_masks_on === 'auto' ? ` (the camera cannot: ${onCamera})` : '';
  return { ok: true, detail: `${cam.id}: enforced on the box (decode, blank, encode with ${how.encoder})${why}`, box: how.encoder };
}

/**
 * Fail closed, said before the service starts: a camera with capture masks that neither it nor
 * this box can enforce would not be recorded at all (the daemon refuses to record it unmasked).
 */
export async function captureMasksEnforced({ config }: CheckContext): Promise<CheckResult> {
  const masked = config.cameras.map((c, i) => ({ c, i })).filter(({ c }) => c.enabled && c.capture_masks.length > 0);
  if (!masked.length) return { name: 'capture masks', ok: true, detail: 'no camera has capture masks' };
  const plans = await Promise.all(masked.map(({ c, i }) => maskPlan(c, i)));
  const ok = plans.every((p) => p.ok);
  const detail = plans.map((p) => p.detail).join('; ');
  const cost = await boxMaskCost(config, masked.flatMap(({ c }, k) => (plans[k]!.box === 'x264enc' ? [c.id] : [])));
  return { name: 'capture masks', ok, detail: cost ? `${detail}; ${cost}` : detail, ...(ok && cost ? { warn: true } : {}) };
}

/** share of the box's cores the masked (x264) cameras may take before check warns: the rest is the daemon's, the egress's and the system's */
const MASK_CPU_SHARE = 0.75;

/**
 * A warning when the cameras masked on the box with x264 would need more CPU than the box has
 * (null when they fit or none is masked there): each camera's cost estimated from its probed
 * picture with the measured x264 rate (maskedCores).
 */
async function boxMaskCost(config: Config, cameras: string[]): Promise<string | null> {
  if (!cameras.length) return null;
  const probes = await probeCameras(config);
  let cores = 0;
  const unknown: string[] = [];
  for (const id of cameras) {
    const v = probes.find((p) => p.camera === id)?.video;
    if (v) cores += maskedCores(v.width, v.height, v.fps ?? 15);
    else unknown.push(id);
  }
  const have = availableParallelism();
  if (cores <= have * MASK_CPU_SHARE) return null;
  return `the cameras masked on the box need about ${cores.toFixed(1)} cores of x264 (estimated from their pictures at the rate measured on x86, a lower bound), `
    + `more than ${Math.round(MASK_CPU_SHARE * 100)} % of this box's ${have}${unknown.length ? `, not counting ${unknown.join(', ')} (not probed)` : ''}: `
    + 'expect dropped frames and gaps; mask them on the camera (capture_masks_on: camera, ONVIF Media2) or move cameras to another box';
}

/** The data disk holds `min_days` of every camera at the probed bitrates, above the floor. */
export async function diskLargeEnough({ config }: CheckContext): Promise<CheckResult> {
  let path = resolve(config.storage.path);
  while (!(await stat(path).catch(() => undefined)) && dirname(path) !== path) path = dirname(path);
  const floor = floorIssue(path, config.storage.free_space_floor_mb);
  if (floor) return { name: 'disk size', ok: false, detail: floor };
  const fs = await statfs(path);
  let recorded = 0;
  try {
    const catalog = Catalog.openReadOnly(resolve(config.storage.path));
    try { recorded = catalog.liveSummary().reduce((s, c) => s + c.bytes, 0); } finally { catalog.close(); }
  } catch {
    // no catalog yet
  }
  const capacity = Number(fs.bavail) * Number(fs.bsize) + recorded - config.storage.free_space_floor_mb * 2 ** 20;
  const probes = await probeCameras(config);
  let needed = 0;
  const unknown: string[] = [];
  for (const cam of config.cameras.filter((c) => c.enabled)) {
    const kbps = probes.find((p) => p.camera === cam.id)?.bitrate_kbps;
    if (!kbps) { unknown.push(cam.id); continue; }
    needed += (kbps * 1000 / 8) * 86_400 * effectiveRetention(config, cam).minDays;
  }
  const gb = (b: number) => `${(b / 1e9).toFixed(b < 1e9 ? 2 : 1)} GB`;
  const days = Math.max(...config.cameras.map((c) => effectiveRetention(config, c).minDays));
  const note = unknown.length ? ` (bitrate unknown for ${unknown.join(', ')})` : '';
  if (needed > capacity) {
    return { name: 'disk size', ok: false, detail: `${path}: ${days} days need ${gb(needed)} at the probed bitrates, the disk holds ${gb(Math.max(0, capacity))} above the free-space floor${note}; use a larger disk or lower the bitrates` };
  }
  // a camera not probed counts nothing: a pass would say the disk is large enough without knowing (an outside probe)
  return { name: 'disk size', ok: true, ...(unknown.length ? { warn: true } : {}), detail: `${days} days need ${gb(needed)}, the disk holds ${gb(capacity)} above the floor${note}` };
}

/** Recordings are evidence: their timestamps need a synchronised clock. */
export async function clockSynced({ config }: CheckContext): Promise<CheckResult> {
  const c = await readClockSync();
  if (c.synchronized === false) return { name: 'clock', ok: false, detail: `not synchronised (${c.source}); enable NTP (timedatectl set-ntp true) and check the network` };
  if (c.synchronized === null) {
    const unknown = 'synchronisation unknown (no timedatectl, chronyc or timesyncd answered)';
    // the daemon would then never delete by age: footage kept past max_days, a PASS had hidden it (an outside probe)
    const maxDays = config.cameras.some((cam) => effectiveRetention(config, cam).maxDays !== null);
    if (maxDays && config.integrity.age_deletion_needs_clock_sync) {
      return { name: 'clock', ok: true, warn: true, detail: `${unknown}: deletion at max_days waits for a clock known synchronised, so recordings would be kept past max_days; run NTP through timedatectl, chrony or systemd-timesyncd, or set integrity.age_deletion_needs_clock_sync: false if the clock is kept right by other means` };
    }
    return { name: 'clock', ok: true, detail: `${unknown}; check NTP by hand` };
  }
  return { name: 'clock', ok: true, detail: `synchronised (${c.source})` };
}

/** The broker takes the box's login: address, TLS files, username and password, as the daemon uses them (when mqtt is configured). */
export async function brokerReachable({ config }: CheckContext): Promise<CheckResult> {
  if (!config.mqtt) return { name: 'broker', ok: true, detail: 'no mqtt configured' };
  // MQTT.js loaded only for a box that talks to a broker (the CLI's start-up stays light)
  const { tryLogin } = await import('../mqtt/client.js');
  const r = await tryLogin(config.mqtt, config.mqtt.client_id ?? `edge-nvr-${config.box.id}`);
  return { name: 'broker', ok: r.ok, detail: r.detail };
}

/**
 * Every detector an export would use loads and fits its configured layout. Without this an
 * installer learns of a missing model or a wrong layout only when the first export is refused.
 */
export async function redactionReady({ config }: CheckContext): Promise<CheckResult> {
  // a built-in detector switched off is allowed (with a reason), never quietly
  const off = switchedOff(config).map((o) => `${o.detector.toUpperCase()} ARE NOT HIDDEN in exports (redaction.${o.detector}: false, reason: ${o.reason})`);
  const warn = off.length > 0 ? { warn: true } : {};
  const notes = off.length ? `; ${off.join('; ')}` : '';
  try {
    const detectors = await configuredDetectors(config);
    if (detectors.length === 0) return { name: 'redaction', ok: true, ...warn, detail: `no detector configured: exports carry masks and the watermark only${notes}` };
    return { name: 'redaction', ok: true, ...warn, detail: detectors.map((d) => `${d.name} (${d.version.split(' ')[0]})`).join(', ') + notes };
  } catch (err) {
    return { name: 'redaction', ok: false, detail: `${(err as Error).message}; exports and snapshots would be refused${notes}` };
  }
}

/** The files the config names: plain files that can be read, holding what they should; secrets (passwords, the command secret, the TLS key, the box key) only the service reads. */
export function secretsProtected({ config, configPath }: CheckContext): Promise<CheckResult> {
  const { errors, warnings } = configFileIssues(config, resolve(config.storage.path), configPath);
  if (errors.length) return Promise.resolve({ name: 'secrets', ok: false, detail: [...errors, ...warnings].join('; ') });
  if (warnings.length) return Promise.resolve({ name: 'secrets', ok: true, warn: true, detail: warnings.join('; ') });
  return Promise.resolve({ name: 'secrets', ok: true, detail: 'the files the config names can be used, secrets readable by the service only' });
}

/** The status page and metrics: certificate files readable, and someone able to log in to the page. */
export async function httpReady({ config }: CheckContext): Promise<CheckResult> {
  const http = config.http;
  if (!http?.listen && !http?.metrics_listen) return { name: 'http', ok: true, detail: 'no status page or metrics configured' };
  let validTo = '';
  if (http.cert_file && http.key_file) {
    try {
      const { validToMs } = loadTls(http);
      // a browser refuses an expired certificate; the daemon still serves it (the page is how a site manager sees the box)
      if (validToMs < Date.now()) return { name: 'http', ok: false, detail: `http.cert_file: the certificate in ${http.cert_file} expired on ${new Date(validToMs).toISOString()}; browsers will refuse the page: renew it` };
      validTo = `; certificate valid until ${new Date(validToMs).toISOString().slice(0, 10)}`;
    } catch (err) {
      return { name: 'http', ok: false, detail: (err as Error).message };
    }
  }
  const scheme = http.cert_file ? 'https' : 'http';
  const parts = [http.listen ? `page ${scheme}://${http.listen}` : '', http.metrics_listen ? `metrics ${scheme}://${http.metrics_listen}/metrics` : ''].filter(Boolean);
  // metrics have no login: under TLS any address is allowed, and anyone who reaches it reads the
  // box id, the cameras and which are down (an outside probe: nothing said so)
  const openMetrics = http.metrics_listen && !isLoopback(parseListen(http.metrics_listen).host)
    ? `; the metrics have no login and listen on ${http.metrics_listen}: anyone who reaches it reads the box id, its cameras and which are down; keep it on loopback or behind a firewall that lets only the scraper in` : '';
  const done = (result: CheckResult): CheckResult => (openMetrics && result.ok ? { ...result, warn: true, detail: result.detail + openMetrics } : result);
  if (!http.listen) return done({ name: 'http', ok: true, detail: parts.join(', ') + validTo });
  const file = new UsersFile(resolve(usersFilePath(http, resolve(config.storage.path))));
  let users: number;
  try {
    users = file.read().length;
  } catch (err) {
    return { name: 'http', ok: false, detail: (err as Error).message };
  }
  if (users === 0) return { name: 'http', ok: false, detail: `${parts.join(', ')}: nobody can log in to the page; add a user: edge-nvr user add NAME --role viewer` };
  return done({ name: 'http', ok: true, detail: `${parts.join(', ')}; ${plural(users, 'user')} in ${file.path}${validTo}` });
}

/** The keyframe decoder of view analysis runs (python3-av), unless no camera is watched. */
export async function tamperReady({ config }: CheckContext): Promise<CheckResult> {
  const cameras = config.cameras.filter((c) => c.enabled);
  const off = cameras.filter((c) => !c.tamper.enabled).map((c) => `${c.id}: ${c.tamper.reason}`);
  const watched = cameras.length - off.length;
  const offNote = off.length ? `; off: ${off.join('; ')}` : '';
  if (watched === 0) return { name: 'tamper', ok: true, detail: `view analysis off on every camera${offNote}` };
  // an installer waits at the terminal: 20 s, not the daemon's minute for a loaded box
  const decoder = new FrameDecoder(undefined, undefined, { helloLimitMs: 20_000 });
  try {
    const version = await decoder.ready();
    return { name: 'tamper', ok: true, detail: `keyframe decoder ready (PyAV ${version}); ${watched} of ${cameras.length} cameras watched${offNote}` };
  } catch (err) {
    return { name: 'tamper', ok: false, detail: `${(err as Error).message}; the view of ${watched} cameras could not be analysed (recording is not affected)` };
  } finally {
    await decoder.stop();
  }
}

/** In order of output. Append new checks here. */
export const PREFLIGHT: Preflight[] = [ffmpegPresent, gstreamerPresent, captureMasksEnforced, storageWritable, camerasReachable, diskLargeEnough, clockSynced, brokerReachable, secretsProtected, redactionReady, httpReady, tamperReady];

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
