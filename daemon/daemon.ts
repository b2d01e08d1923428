import { accessSync, constants, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { makeDirs } from '../common/make-dirs.js';
import type { Logger } from 'pino';
import { effectiveRetention, loadConfig, readSecret } from '../config/load.js';
import { keepToOwner, untrustedDataDir } from '../common/data-owner.js';
import { KEY_FILE } from '../common/box-key.js';
import { ConfigError } from '../config/errors.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { configFiles, fileDigests, filesBeforeUse } from '../config/secret-files.js';
import { Catalog, CATALOG_FILE, unreadableCatalog } from '../recorder/catalog/catalog.js';
import { takeCheckpoint, type CheckpointReason } from '../recorder/catalog/checkpoint.js';
import { BackgroundVerifier } from '../recorder/background-verify.js';
import { FrameDecoder } from '../recorder/frame-decoder.js';
import { longestViewInterval, viewBudget } from '../recorder/frame-sampler.js';
import type { RecorderBackendOptions } from '../recorder/backends/backend.js';
import { detectMaskEnforcement, maskProvenance, maskSetHash, type MaskEnforcement } from '../recorder/capture-masks.js';
import { camerasOnDisk, flagMissing, recoverCamera } from '../recorder/recovery.js';
import { SegmentStore, stagingDir } from '../recorder/segment-store.js';
import { clockDrifts } from '../recorder/sources/onvif.js';
import { resolveSource } from '../recorder/sources/resolve.js';
import { CameraMaskService, pushMasks } from '../recorder/sources/onvif-masks.js';
import { CameraMaskWatch, type MaskLoss } from '../watchdog/camera-mask-watch.js';
import { TestCamera } from '../recorder/sources/test-camera.js';
import { CameraSupervisor } from '../watchdog/camera-supervisor.js';
import { ALIVE_INTERVAL_MS, markAlive, markCleanStop, openDaemonGaps, openDisabledGaps } from '../watchdog/continuity.js';
import type { EventType } from '../watchdog/events.js';
import { Retention, type RetentionPolicy } from '../watchdog/retention.js';
import { HealthMonitor } from '../watchdog/health-monitor.js';
import { ClockSteps } from '../common/clock-steps.js';
import { diskSpace, floorIssue } from '../watchdog/system-health.js';
import { keepReserve, releaseReserveIfFull } from '../watchdog/disk-reserve.js';
import { HeldWhileFull } from '../watchdog/held-while-full.js';
import { ViewAnalyzer } from '../watchdog/view-analyzer.js';
import { ViewWatch } from '../watchdog/view-watch.js';
import { Uploader } from '../uploads/uploader.js';
import { auditReload, auditReloadRefused, auditRetentionOverrides, auditStart, auditStop, DAEMON_ACTOR, importProvisioning } from './audit-trail.js';
import { TamperStills } from './egress-handlers.js';
import { InstanceLock } from './instance-lock.js';
import { registerSecret } from './log.js';
import { packageVersion } from './package-root.js';
import { auditRedactionSwitches, rememberPrivacyMasks } from '../redaction/policy-record.js';
import { configChanges, reloadOutcome, type ReloadResult } from './reload-outcome.js';
import { BOX_ID_META, META_POLICY, type StoredPolicy } from './catalog-meta.js';

/** Cheap when nothing is due (one statfs, one indexed query per camera), so it runs often:
 * a disk filling at 16 cameras' rate must be caught within seconds. */
const SWEEP_INTERVAL_MS = 5000;
/** a closed segment waiting this long for the catalog: indexing is behind, and views are sampled at their slowest */
const INDEX_BEHIND_MS = 1000;
/** events kept in memory while the catalog cannot take them (see Daemon.raise): an hour of a box whose disk failed, at most */
const MAX_UNSTORED_EVENTS = 2000;

/**
 * Views are analysed in line, on the event loop, up to this many cameras; past it in a thread of
 * their own (ViewAnalyzer.inLine). The thread's isolate costs 10-16 MB whatever it does, while the
 * pixel work is bounded by the view budget (12.8 % of a core among every camera past 16, decoding
 * included): in line at 16, 32 and 64 cameras the index lag and the Node process's CPU were no
 * worse than with the thread (one run each, shared machine: bench/README.md, "Node RSS at 16
 * cameras: view analysis in line, grey pictures"). On the quiet machine at 64 cameras, in line
 * against the thread in one invocation: the tree's CPU 0.96x, the Node process's 0.92x, its RSS
 * peak 0.88x, the index lag once every camera had started the same (p99 1.20 s both). So the
 * thread serves only past 64, which nothing here has measured.
 */
const INLINE_VIEWS = 64;

/** `<data>/edge-nvr.pid`, for people and other tools; edge-nvr itself finds the daemon by its lock (instance-lock.ts). */
export const PID_FILE = 'edge-nvr.pid';

export interface DaemonOptions {
  /** the config file (the provisioning record is read next to it) */
  configPath?: string;
}

export type { ReloadResult };

/** What makes a camera's recorder what it is: a change here restarts it, nothing else does
 * (its password file's contents included). */
/** a camera whose capture masks are tried on the camera itself (ONVIF) before the box's path */
function masksOnCameraFirst(cam: CameraConfig): cam is CameraConfig & { source: Extract<CameraConfig['source'], { type: 'onvif' }> } {
  return cam.capture_masks.length > 0 && cam.capture_masks_on !== 'box' && cam.source.type === 'onvif';
}

function cameraKey(cam: CameraConfig, watchdog: Config['watchdog'], passwordDigest: string | undefined): string {
  // view watching's share is read live by every camera's sampler: changing it restarts no recorder
  const recorder = { ...watchdog, view_cpu_percent: undefined };
  return JSON.stringify({ enabled: cam.enabled, source: cam.source, record: cam.record, capture_masks: cam.capture_masks, capture_masks_on: cam.capture_masks_on, watchdog: recorder, passwordDigest });
}

/**
 * A part started beside the daemon (the MQTT reporter) that applies its own settings on reload.
 * `affects` gets the changed settings; `apply` returns what it did, in a few words.
 */
export interface ReloadTarget {
  affects(changed: string[]): boolean;
  apply(next: Config): Promise<string>;
}

/** The running value stays until a restart; the reload says so. `needed` gets the changed
 * settings (files whose contents changed included) and both configs. */
const RESTART_ONLY: Array<{ setting: string; why: string; needed: (changed: string[], running: Config, next: Config) => boolean }> = [
  { setting: 'storage.path', why: 'the data dir cannot move under a running daemon', needed: (_, a, b) => resolve(a.storage.path) !== resolve(b.storage.path) },
  { setting: 'log.format', why: 'the log destination is set up once, at start', needed: (changed) => changed.includes('log.format') },
  { setting: 'http', why: 'the status page and metrics keep the settings and files they started with', needed: (changed) => changed.some((c) => c === 'http' || c.startsWith('http.')) },
];

/**
 * The data dir, made when missing. Node's own "EEXIST: file already exists, mkdir" (storage.path
 * names a file) or "EACCES" says nothing of which setting to change: the error names it.
 */
function makeDataDir(dir: string, configPath = 'config'): void {
  try {
    makeDirs(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? `${dir} or a folder above it is a file, not a folder`
      : code === 'EACCES' || code === 'EPERM' ? `this user (${userInfo().username}) may not create ${dir}`
        : `${dir} cannot be created (${(err as Error).message})`;
    throw new ConfigError(configPath, [`storage.path: ${why}; set storage.path to a folder the service user can write (install -d -o edge-nvr DIR), then run edge-nvr check`]);
  }
  // before its mode is judged: a read-only mount was refused as "writable by every local user"
  // (a tmpfs's 1777), with a fix that could not work (an outside probe)
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EROFS') {
      throw new ConfigError(configPath, [`storage.path: ${dir} is on a read-only filesystem; mount it read-write, or set storage.path to a folder on a writable disk, then run edge-nvr check`]);
    }
  }
}

/**
 * The running box: wires config, catalog, recorders and test cameras together and owns their
 * lifecycle. It computes nothing itself.
 */
export class Daemon {
  readonly dataDir: string;
  catalog?: Catalog;
  private store?: SegmentStore;
  readonly recorders = new Map<string, CameraSupervisor>();
  /** what watches each camera's view (tamper, identity, the stream as recorded) */
  readonly views = new Map<string, ViewWatch>();
  /** one keyframe decoder for every camera's view analysis */
  private readonly decoder: FrameDecoder;
  /** every camera's view analysis (tamper, capture mask checks): in line up to INLINE_VIEWS cameras, past that in a thread, pixels off the event loop */
  readonly analyzer: ViewAnalyzer;
  /** the redacted stills of tamper events */
  private readonly stills: TamperStills;
  /** how each camera with capture masks has them enforced (`none`: it is not recorded) */
  readonly maskEnforcement = new Map<string, MaskEnforcement>();
  /** what reads back and checks each camera's capture masks while it records */
  private readonly maskWatches = new Map<string, CameraMaskWatch>();
  /** cameras whose recorded pictures showed detail under masks the camera said it held: the box masks them until a restart */
  private readonly cameraMasksDistrusted = new Set<string>();
  private readonly testCameras = new Map<string, TestCamera>();
  retention?: Retention;
  health?: HealthMonitor;
  verifier?: BackgroundVerifier;
  /** deliveries to a platform (MQTT upload_url), queued in the catalog */
  uploads?: Uploader;
  private sweepTimer?: NodeJS.Timeout;
  private checkpointTimer?: NodeJS.Timeout;
  private aliveTimer?: NodeJS.Timeout;
  /** what the catalog cannot take on a full disk, kept for the next start */
  private held?: HeldWhileFull;
  private sweeping?: Promise<unknown>;
  private lock?: InstanceLock;
  /** digests of the files the running config names (what a reload compares) */
  private files = new Map<string, string>();
  private reloading: Promise<unknown> = Promise.resolve();
  readonly reloadTargets: ReloadTarget[] = [];
  /** one watcher of the wall clock for the health monitor (gaps, events) and the recorders (segment times) */
  private readonly clockSteps = new ClockSteps();

  /** the config file, for children that need the same settings (tamper stills); none for the demo */
  get configPath(): string | undefined {
    return this.opts.configPath;
  }

  constructor(public config: Config, private readonly log: Logger, private readonly opts: DaemonOptions = {}) {
    this.dataDir = resolve(config.storage.path);
    this.decoder = new FrameDecoder(log);
    this.analyzer = new ViewAnalyzer({ log, inline: () => this.views.size <= INLINE_VIEWS });
    this.stills = new TamperStills(this, log);
  }

  /**
   * Every event is kept in the catalog (MQTT reads them from there) and logged. One the catalog
   * cannot take now (a full or failing disk) waits here, in order, with its own time, and goes in
   * before the next one (or at the next flush): events raised on a full disk, its own
   * disk_unwritable among them, were dropped, and the platform got disk_ok without the alarm (an
   * outside probe).
   */
  readonly raise = (type: EventType, camera: string | null, data: Record<string, unknown>): void => {
    const event = { type, camera, data, atMs: Date.now() };
    if (this.unstored.length < MAX_UNSTORED_EVENTS) this.unstored.push(event);
    else this.unstoredDropped++;
    this.storeEvents();
    this.log.info({ event: type, camera, ...data }, `event ${type}`);
  };

  /** events the catalog could not take yet, oldest first (see raise) */
  private readonly unstored: Array<{ type: EventType; camera: string | null; data: Record<string, unknown>; atMs: number }> = [];
  /** events not kept, past MAX_UNSTORED_EVENTS, and since when the catalog refuses them (undefined: it takes them) */
  private unstoredDropped = 0;
  private unstoredSince?: number;
  /** the start met damage in the catalog: stopping writes nothing more into it (leaveCatalogAlone) */
  private catalogDamaged = false;

  /** Stores what waits, in order; stops at the first the catalog refuses (the rest wait with it). */
  private storeEvents(): void {
    if (!this.catalog || this.catalogDamaged) return;
    while (this.unstored.length) {
      const e = this.unstored[0]!;
      try {
        this.catalog.addEvent(e.type, e.camera, e.data, e.atMs);
      } catch (err) {
        if (!this.unstoredSince) this.log.error({ err, type: e.type }, 'cannot store an event; it waits, with any after it, until the catalog takes them');
        this.unstoredSince ??= Date.now();
        return;
      }
      this.unstored.shift();
    }
    if (this.unstoredSince !== undefined) {
      this.log.info({ waitedMs: Date.now() - this.unstoredSince, dropped: this.unstoredDropped }, 'the events that waited for the catalog are stored');
      if (this.unstoredDropped) this.log.error({ dropped: this.unstoredDropped }, `events lost: more than ${MAX_UNSTORED_EVENTS} waited for the catalog`);
      this.unstoredSince = undefined;
      this.unstoredDropped = 0;
    }
  }

  async start(): Promise<void> {
    // before anything is read or written: a second daemon on this data dir stops here
    makeDataDir(this.dataDir, this.opts.configPath);
    const untrusted = untrustedDataDir(this.dataDir);
    if (untrusted) throw new ConfigError(this.opts.configPath ?? 'config', [`storage.path: ${untrusted}`]);
    const floor = floorIssue(this.dataDir, this.config.storage.free_space_floor_mb);
    if (floor) throw new ConfigError(this.opts.configPath ?? 'config', [floor]);
    // before the first write: on a disk filled to the last byte, the start's own writes failed
    releaseReserveIfFull(this.dataDir, this.log);
    this.lock = InstanceLock.acquire(this.dataDir);
    const catalog = openCatalog(this.dataDir);
    const own = [catalog.path, `${catalog.path}-wal`, `${catalog.path}-shm`, join(this.dataDir, KEY_FILE)];
    for (const { path, was } of keepToOwner(own)) this.log.warn({ path, was }, 'a file of the box other users could read is now the service\'s alone');
    this.catalog = catalog;
    this.files = fileDigests(configFiles(this.config));
    this.recordRedactionPolicy('daemon start');
    try {
      writeFileSync(join(this.dataDir, PID_FILE), `${process.pid}\n`);
    } catch (err) {
      this.log.warn({ err }, 'cannot write the pid file (reload and status find the daemon by its lock, not by this file)');
    }
    catalog.setMeta(BOX_ID_META, this.config.box.id);
    auditStart(catalog, this.config, packageVersion());
    if (importProvisioning(catalog, this.opts.configPath)) this.log.info('first-boot provisioning recorded in the audit log');
    auditRetentionOverrides(catalog, this.config, DAEMON_ACTOR);
    const store = new SegmentStore(this.dataDir, catalog, this.log);
    this.store = store;
    const cameras = this.config.cameras.filter((c) => c.enabled);

    // Before anything records: index what the last run left, set aside what cannot be read, flag what vanished.
    // the configured cameras, and any left on disk by a camera since removed from the config or
    // renamed (its footage is then the box's, under the removed-camera retention rule)
    const configured = this.config.cameras.map((c) => c.id);
    for (const id of [...configured, ...camerasOnDisk(this.dataDir).filter((d) => !configured.includes(d))]) {
      await recoverCamera(this.dataDir, id, catalog, store, this.log, { onQuarantine: this.quarantined });
    }
    const missingAtStart = flagMissing(this.dataDir, catalog, this.log);
    // Cameras the config does not record: one already in its camera_disabled gap stays in it,
    // downtime included (nothing was to record it either way); one that left the config while
    // the daemon was down had the daemon's gap until now, and its own from here.
    const notRecorded = notRecordedCameras(catalog, this.config, 'seen at start-up');
    const leftMeanwhile = notRecorded.filter(({ camera }) => catalog.openGapOf(camera)?.cause !== 'camera_disabled').map(({ camera }) => camera);
    const startedAtMs = Date.now();
    openDaemonGaps(catalog, [...cameras.map((c) => c.id), ...leftMeanwhile], this.log, this.raise, startedAtMs, HeldWhileFull.read(this.dataDir));
    openDisabledGaps(catalog, notRecorded, this.log, this.raise, startedAtMs);
    const held = new HeldWhileFull(this.dataDir, this.log);
    held.prepare(); // what the last run held is in the catalog now
    this.held = held;
    // a killed run's last sign of life: where the next start ends the gaps its cameras were in
    this.aliveTimer = setInterval(() => {
      try {
        markAlive(catalog);
      } catch {
        // a full or failed disk: the catalog's other writes report it; the sign of life is kept beside it
        held.alive(Date.now());
      }
      this.storeEvents(); // those that waited for a full disk go in once it has room, new events or not
    }, ALIVE_INTERVAL_MS);

    // Retention judges ages by the clock: age deletion waits until the monitor's first reading.
    const health = new HealthMonitor({ dataDir: this.dataDir, catalog, cameras: () => [...this.recorders.keys()], log: this.log, raise: this.raise, clockSteps: this.clockSteps });
    this.health = health;
    const clockRead = health.start();

    // Before recording adds to a disk that may already be under its floor.
    this.retention = new Retention(this.dataDir, catalog, this.retentionPolicy(), diskSpace, this.log, this.raise, Date.now, () => health.clockView());
    this.storePolicy();
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    void clockRead.then(() => this.sweep());

    this.checkpoint('start');
    this.checkpointTimer = setInterval(() => this.checkpoint('interval'), this.config.integrity.checkpoint_interval_s * 1000);
    this.verifier = new BackgroundVerifier(this.dataDir, catalog, {
      readMbPerS: this.config.integrity.verify_read_mb_s, log: this.log,
      onViolation: (v) => this.raise('integrity_violation', v.camera, { what: v.what, segment: v.segment, path: v.path, detail: v.detail }),
    }).start();
    this.verifier.missingAtStart(missingAtStart);
    this.uploads = new Uploader({
      catalog, dataDir: this.dataDir, config: () => this.config, raise: this.raise, log: this.log, registerSecret,
    }).start();

    // A camera that holds its own capture masks is asked over ONVIF first (seconds, when it does
    // not answer): the cameras after it do not wait for that.
    const talkingToCamera: Array<Promise<void>> = [];
    for (const [i, cam] of this.config.cameras.entries()) {
      if (!cam.enabled) continue;
      if (masksOnCameraFirst(cam)) {
        talkingToCamera.push(this.startCamera(cam, i));
        continue;
      }
      await this.startCamera(cam, i);
      // each start readies a recorder and its view watch (the spawner starts the process itself,
      // off the loop): let the cameras already started have their segments indexed in between
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(talkingToCamera);
    this.log.info({ dataDir: this.dataDir, cameras: [...this.recorders.keys()], chainHead: catalog.chainHead().chain_hash }, 'edge-nvr running');
  }

  private readonly quarantined = (camera: string, q: { file: string; from: string; bytes: number; sha256: string; reason: string }): void => {
    this.raise('segment_quarantined', camera, { ...q });
  };

  /** Signs and stores a checkpoint of every chain; MQTT publishes the newest stored one. */
  checkpoint(reason: CheckpointReason): void {
    if (!this.catalog?.db.open) return;
    try {
      const taken = takeCheckpoint(this.catalog, this.dataDir, this.config.box.id, reason);
      if (taken.fresh) this.log.debug({ reason, chains: taken.checkpoint.chains }, 'checkpoint signed');
    } catch (err) {
      this.log.error({ err, reason }, 'cannot take a checkpoint');
    }
  }

  /** Starts one camera: its test RTSP server when it has one, then its supervised recorder. */
  private async startCamera(cam: CameraConfig, i: number): Promise<void> {
    const catalog = this.catalog!;
    if (cam.source.type === 'test') {
      const test = new TestCamera({ id: cam.id, ...cam.source }, this.log);
      await test.start();
      this.testCameras.set(cam.id, test);
    }
    let source;
    try {
      source = resolveSource(cam, `cameras[${i}]`, this.testCameras, (r) => {
        const drift = r.clock_drift_ms;
        const level = clockDrifts(drift) || r.clock_problem ? 'warn' : 'info';
        this.log[level]({ camera: cam.id, url: r.safeUrl, profile: r.profile, clockDriftMs: drift, ...(r.clock_problem ? { clockProblem: r.clock_problem } : {}) }, 'onvif stream URI resolved');
      });
    } catch (err) {
      this.log.error({ camera: cam.id, err }, 'camera not recorded');
      return;
    }
    source.secrets.forEach(registerSecret);
    const masks = await this.enforceCaptureMasks(cam, i);
    if (masks === 'refused') return;
    const service = masks.service;
    let watch: CameraMaskWatch | undefined;
    if (service && source.resolveUrl) {
      // before every (re)connection: a camera that rebooted may come back without its masks
      const resolveUrl = source.resolveUrl;
      source.resolveUrl = async () => {
        const loss = await watch?.check();
        if (loss) {
          watch?.report(loss);
          throw new Error(`capture masks not verified on the camera (${loss.reason}); not connecting`);
        }
        return resolveUrl();
      };
    }
    const recorder = new CameraSupervisor(cam.id, {
      backend: cam.record.backend,
      backendOptions: {
        camera: cam.id, url: source.url, safeUrl: source.safeUrl, stagingDir: stagingDir(this.dataDir, cam.id),
        segmentSeconds: cam.record.segment_seconds, timeoutSeconds: cam.record.timeout_seconds, captureMasks: masks.box,
      },
      dataDir: this.dataDir, catalog, store: this.store!, log: this.log, raise: this.raise,
      backoffSeconds: this.config.watchdog.backoff_s, stallTimeoutMs: this.config.watchdog.stall_timeout_s * 1000,
      resolveUrl: source.resolveUrl, clockSteps: this.clockSteps, held: this.held,
    });
    recorder.on('state', (state, why) => this.log.info({ camera: cam.id, state, why }, 'camera state'));
    // a recorder that failed on the disk: probe it now rather than at the next interval
    recorder.on('exit', (exit) => { if (exit.cause?.startsWith('disk_')) void this.health?.probe(); });
    this.recorders.set(cam.id, recorder);
    if (cam.capture_masks.length) {
      watch = new CameraMaskWatch(cam.id, {
        masks: cam.capture_masks, service, checkMs: this.config.watchdog.camera_masks_check_s * 1000, log: this.log, analyzer: this.analyzer,
        onLost: (loss) => void this.masksLost(cam.id, loss),
      });
      this.maskWatches.set(cam.id, watch);
    }
    recorder.start();
    this.startViewWatch(cam, i, recorder);
    // the recording's own keyframes show whether the masks are in force
    if (watch) watch.opts.sampler = this.views.get(cam.id)?.sampler;
    watch?.start();
  }

  /** Beside the recorder, never in its way: the view analysis, identity pins and the camera's own events. */
  private startViewWatch(cam: CameraConfig, i: number, recorder: CameraSupervisor): void {
    let onvif;
    if (cam.source.type === 'onvif') {
      try {
        onvif = { host: cam.source.host, username: cam.source.username, password: readSecret(cam.source, `cameras[${i}].source`), timeoutMs: 5000 };
      } catch (err) {
        this.log.error({ camera: cam.id, err }, 'ONVIF events and identity not watched');
      }
    }
    // view watching's share of a core, as the config says now (a reload may change it)
    const share = () => this.config.watchdog.view_cpu_percent / 100;
    const watch = new ViewWatch(cam.id, {
      dataDir: this.dataDir, catalog: this.catalog!, decoder: this.decoder, raise: this.raise, log: this.log,
      tamper: cam.tamper, onvif, still: this.stills.write, feed: recorder, analyzer: this.analyzer, painted: cam.capture_masks,
      // past 16 cameras they share what 16 would take, or the configured share (asked each time:
      // cameras come and go, and the share changes, on reload)
      sampler: {
        cpuBudget: () => viewBudget(this.views.size, share()),
        maxIntervalMs: () => longestViewInterval(share()),
      },
      // indexing first: while a closed segment has waited a second for the catalog, views wait
      behind: () => (this.store?.waitingMs ?? 0) > INDEX_BEHIND_MS,
    });
    this.views.set(cam.id, watch);
    watch.start();
  }

  /**
   * Fail closed: a camera with capture masks is recorded only where they are enforced: by the
   * camera (ONVIF privacy masks pushed and read back: `capture_masks_on` camera or auto), else
   * by the box's masked path (box or auto); where neither can, it is not recorded at all. The
   * mask set goes into the ledger (once per set), and every segment the recorder writes names
   * it, and where it was enforced, in its provenance.
   */
  private async enforceCaptureMasks(cam: CameraConfig, i: number): Promise<{ box?: RecorderBackendOptions['captureMasks']; service?: CameraMaskService } | 'refused'> {
    const store = this.store!;
    this.maskEnforcement.delete(cam.id);
    if (!cam.capture_masks.length) {
      store.setProvenance(cam.id, null);
      return {};
    }
    const hash = maskSetHash(cam.capture_masks);
    const refuse = (reason: string): 'refused' => {
      this.maskEnforcement.set(cam.id, { enforced: 'none', reason });
      this.log.error({ camera: cam.id, reason, masks: hash }, 'camera not recorded: its capture masks cannot be enforced');
      this.raise('capture_mask_unenforced', cam.id, { reason, masks: hash });
      return 'refused';
    };
    let onCamera: string | undefined;
    if (masksOnCameraFirst(cam)) {
      if (this.cameraMasksDistrusted.has(cam.id)) {
        onCamera = 'a recorded picture showed detail under the masks the camera said it held';
      } else {
        try {
          const src = cam.source;
          const service = await CameraMaskService.open({
            host: src.host, username: src.username, password: readSecret(src, `cameras[${i}].source`), profile: src.profile, timeoutMs: 5000,
          });
          const { created } = await pushMasks(service, cam.capture_masks);
          this.maskEnforcement.set(cam.id, { enforced: 'camera' });
          this.catalog!.recordMaskSet(cam.id, hash, cam.capture_masks);
          store.setProvenance(cam.id, maskProvenance(cam.capture_masks, { enforced: 'camera' }));
          this.log.info({ camera: cam.id, masks: hash, created, count: cam.capture_masks.length }, 'capture masks enforced by the camera (ONVIF privacy masks, read back)');
          return { service };
        } catch (err) {
          onCamera = (err as Error).message;
        }
      }
    } else if (cam.capture_masks_on === 'camera') {
      onCamera = 'not an ONVIF camera';
    }
    if (cam.capture_masks_on === 'camera') return refuse(`capture_masks_on is camera, and the camera does not hold them: ${onCamera}`);
    const how = detectMaskEnforcement();
    if (how.enforced !== 'box') return refuse(how.enforced === 'none' ? how.reason : 'no masked path on the box');
    if (onCamera) this.log.warn({ camera: cam.id, reason: onCamera }, 'capture masks: the camera does not hold them; enforced on the box');
    this.maskEnforcement.set(cam.id, how);
    this.catalog!.recordMaskSet(cam.id, hash, cam.capture_masks);
    store.setProvenance(cam.id, maskProvenance(cam.capture_masks, how));
    this.log.info({ camera: cam.id, masks: hash, encoder: how.encoder, count: cam.capture_masks.length }, 'capture masks enforced on the box');
    return { box: { masks: cam.capture_masks, encoder: how.encoder } };
  }

  /**
   * Masks not in force (gone from the camera, or detail seen under them): the recorder stops at
   * once and the camera starts again through the same decision as at start (masks pushed and
   * read back, else the box's path, else not recorded). Detail under masks the camera still
   * lists means the camera cannot be believed: the box masks it from then on (until a restart).
   * Detail under the box's own masks: the camera is not recorded.
   */
  private masksLost(id: string, loss: MaskLoss): Promise<unknown> {
    const where = this.maskEnforcement.get(id)?.enforced === 'box' ? 'box' : 'camera';
    const run = this.reloading.then(async () => {
      const i = this.config.cameras.findIndex((c) => c.id === id);
      const cam = this.config.cameras[i];
      if (!cam || !this.maskWatches.has(id)) return;
      let detectedBy = loss.detectedBy;
      if (detectedBy === 'frame' && where === 'camera') {
        // the camera's own word first: masks it dropped are a loss like any other
        const readBack = await this.maskWatches.get(id)?.check();
        if (readBack) detectedBy = readBack.detectedBy;
        else this.cameraMasksDistrusted.add(id);
      }
      this.raise('capture_mask_lost', id, {
        where, detected_by: detectedBy, reason: loss.reason, masks: maskSetHash(cam.capture_masks), unverified_since_ms: loss.verifiedMs,
      });
      await this.stopCamera(id);
      if (where === 'box' && detectedBy === 'frame') {
        this.maskEnforcement.set(id, { enforced: 'none', reason: loss.reason });
        this.raise('capture_mask_unenforced', id, { reason: loss.reason, masks: maskSetHash(cam.capture_masks) });
        return;
      }
      await this.startCamera(cam, i);
    });
    this.reloading = run.catch((err) => this.log.error({ camera: id, err }, 'cannot restart a camera whose masks were lost'));
    return run;
  }

  private async stopCamera(id: string): Promise<void> {
    this.maskWatches.get(id)?.stop();
    this.maskWatches.delete(id);
    await this.views.get(id)?.stop();
    this.views.delete(id);
    await this.recorders.get(id)?.stop();
    this.recorders.delete(id);
    await this.testCameras.get(id)?.stop();
    this.testCameras.delete(id);
  }

  /**
   * Reads the config file again and applies it (SIGHUP, `edge-nvr reload`, MQTT `reload`), one
   * reload at a time. An invalid file, or a secret file with loose permissions, is refused and
   * the running config stays. The outcome is returned and kept in `meta.last_reload`.
   */
  reloadFile(path: string | undefined, actor = 'signal:SIGHUP'): Promise<ReloadResult> {
    const run = this.reloading.then(async (): Promise<ReloadResult> => {
      this.log.info({ path }, 'reloading the config');
      let next: Config;
      try {
        if (!path) throw new Error('this daemon was started without a config file (the demo): nothing to reload');
        next = loadConfig(path);
        const floor = floorIssue(this.dataDir, next.storage.free_space_floor_mb);
        if (floor) throw new ConfigError(path, [floor]);
        // a file the new config names that cannot be used would fail what uses it later, after the reload said yes
        // a page that keeps running keeps the certificate it has; one started anew refuses its files itself
        for (const { level, text } of filesBeforeUse(next, this.dataDir, path)) this.log[level]({ path }, text);
      } catch (err) {
        const lines = err instanceof ConfigError ? err.issues.map((i) => `${err.source}: ${i}`) : [(err as Error).message];
        // one log line per issue; an issue itself may hold "; " (what is wrong; what to do)
        for (const line of lines) this.log.error({ path }, `config reload refused: ${line}`);
        return this.reloaded(reloadOutcome({ ok: false, error: lines.join('; '), config_issues: lines }), actor, false);
      }
      return this.reload(next, actor);
    });
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies a new config, everything that can be applied running: only added, removed and
   * changed cameras (a changed password file included) are stopped or started; retention takes
   * the new policy; egress (redaction settings, masks, detectors) reads the new config from the
   * next snapshot or export on; the log level changes; the reload targets (MQTT) reconnect when
   * their settings or files changed. What only a restart applies is named in `restart_required`.
   */
  async reload(requested: Config, actor = 'signal:SIGHUP'): Promise<ReloadResult> {
    let next = requested;
    const result = reloadOutcome({ ok: true });
    const files = fileDigests(configFiles(next));
    result.changed = configChanges(this.config, next);
    for (const [setting, digest] of files) {
      const before = this.files.get(setting);
      if (before !== undefined && before !== digest && !result.changed.includes(setting)) result.changed.push(`${setting} (contents)`);
    }
    for (const r of RESTART_ONLY) {
      if (r.needed(result.changed, this.config, next)) result.restart_required.push(`${r.setting}: ${r.why}; restart the service`);
    }
    // what only a restart applies stays as it runs (the data dir and everything derived from it,
    // the log's format, the page and metrics with their files), so that every later reload still
    // names it until the restart: taken over, it read as applied from the second reload on
    next = { ...next, storage: { ...next.storage, path: this.config.storage.path }, log: { ...next.log, format: this.config.log.format }, http: this.config.http };
    for (const setting of files.keys()) if (setting.startsWith('http.')) files.delete(setting);
    for (const [setting, digest] of this.files) if (setting.startsWith('http.')) files.set(setting, digest);
    const keyOf = (config: Config, digests: Map<string, string>) => new Map(config.cameras.map((c) => [c.id, cameraKey(c, config.watchdog, digests.get(`cameras[${c.id}].source.password_file`))]));
    const before = keyOf(this.config, this.files);
    const after = keyOf(next, files);
    for (const id of before.keys()) {
      if (!after.has(id)) result.removed.push(id);
      else if (after.get(id) !== before.get(id)) result.restarted.push(id);
      else result.unchanged.push(id);
    }
    for (const id of after.keys()) if (!before.has(id)) result.added.push(id);
    const old = this.config;
    this.config = next;
    try {
      await Promise.all([...result.removed, ...result.restarted].map((id) => this.stopCamera(id)));
      try {
        const stopped = new Set([...result.removed, ...result.restarted]);
        openDisabledGaps(this.catalog!, notRecordedCameras(this.catalog!, next, `by a reload (${actor})`).filter(({ camera }) => stopped.has(camera)), this.log, this.raise);
      } catch (err) {
        // the cameras are stopped as asked; the next start writes the gap
        this.log.error({ err }, 'cannot record the gap of a camera the reload took out of recording');
      }
      for (const [i, cam] of next.cameras.entries()) {
        if (cam.enabled && (result.added.includes(cam.id) || result.restarted.includes(cam.id))) await this.startCamera(cam, i);
      }
      // tamper settings apply in place: the recorder keeps running
      for (const cam of next.cameras) if (result.unchanged.includes(cam.id)) this.views.get(cam.id)?.configure(cam.tamper);
      this.retention?.setPolicy(this.retentionPolicy());
      this.storePolicy();
    } catch (err) {
      this.config = old;
      return this.reloaded({ ...result, ok: false, error: (err as Error).message }, actor);
    }
    this.files = files;
    if (result.changed.includes('log.level')) {
      this.log.level = next.log.level;
      result.applied.push(`log.level ${next.log.level}`);
    }
    if (result.changed.includes('watchdog.view_cpu_percent')) result.applied.push(`view watching at most ${next.watchdog.view_cpu_percent} % of a core`);
    if (this.recordRedactionPolicy('config reload')) result.applied.push('redaction switch audited');
    for (const target of this.reloadTargets) {
      if (!target.affects(result.changed)) continue;
      try {
        result.applied.push(await target.apply(next));
      } catch (err) {
        result.applied.push(`failed: ${(err as Error).message}`);
        this.log.error({ err }, 'cannot apply a reloaded setting');
      }
    }
    try {
      auditReload(this.catalog!, old, next, result, actor);
      auditRetentionOverrides(this.catalog!, next, actor);
    } catch (err) {
      this.log.error({ err }, 'cannot audit the reload');
    }
    return this.reloaded(result, actor);
  }

  /** The redaction policy on record: each camera's masks, and an audit entry when what is
   * switched off changed. Never stops a start or a reload. */
  private recordRedactionPolicy(why: string): boolean {
    try {
      rememberPrivacyMasks(this.catalog!, this.config);
      return auditRedactionSwitches(this.catalog!, this.config, `edge-nvr (${why})`);
    } catch (err) {
      this.log.error({ err }, 'cannot record the redaction settings in the catalog');
      return false;
    }
  }

  private reloaded(result: ReloadResult, actor: string, log = true): ReloadResult {
    try {
      this.catalog?.setMeta('last_reload', JSON.stringify(result));
      if (!result.ok && this.catalog) auditReloadRefused(this.catalog, result.error ?? 'refused', actor);
    } catch (err) {
      this.log.error({ err }, 'cannot record the reload in the catalog');
    }
    if (result.ok) this.log.info({ reload: result }, 'config reloaded');
    else if (log) this.log.error({ reload: result }, `config reload refused: ${result.error}`);
    for (const r of result.restart_required) this.log.warn({ reload: result.at_ms }, `reload: not applied until a restart: ${r}`);
    return result;
  }

  retentionPolicy(): RetentionPolicy {
    return {
      floorBytes: this.config.storage.free_space_floor_mb * 1024 * 1024,
      cameras: this.config.cameras.map((c) => ({ camera: c.id, ...effectiveRetention(this.config, c) })),
      box: effectiveRetention(this.config),
      exportsMaxDays: this.config.storage.exports_max_days ?? null,
      ageNeedsClockSync: this.config.integrity.age_deletion_needs_clock_sync,
    };
  }

  private storePolicy(): void {
    const policy: StoredPolicy = {
      box_id: this.config.box.id, at_ms: Date.now(), floor_bytes: this.config.storage.free_space_floor_mb * 1024 * 1024,
      cameras: this.config.cameras.map((c) => {
        const r = effectiveRetention(this.config, c);
        return { camera: c.id, enabled: c.enabled, min_days: r.minDays, max_days: r.maxDays, segment_seconds: c.record.segment_seconds };
      }),
    };
    try {
      this.catalog?.setMeta(META_POLICY, JSON.stringify(policy));
    } catch (err) {
      this.log.error({ err }, 'cannot store the retention policy in the catalog; status without a config will not know it');
    }
  }

  /** One sweep at a time; a failing sweep is logged and tried again at the next tick. */
  private sweep(): Promise<unknown> {
    // only where retention frees space for it: with no floor the reserve would only be more room for the recorders
    if (this.config.storage.free_space_floor_mb > 0) releaseReserveIfFull(this.dataDir, this.log);
    this.sweeping ??= this.retention!.sweep()
      .catch((err) => this.log.error({ err }, 'retention sweep failed'))
      .finally(() => {
        this.sweeping = undefined;
        keepReserve(this.dataDir, this.config.storage.free_space_floor_mb * 2 ** 20, this.log);
      });
    return this.sweeping;
  }

  /**
   * The start met damage deeper in the catalog than its opening reads: the file is kept for an
   * investigation, so stopping adds no stop entry, clean-stop mark, event or checkpoint to it.
   */
  leaveCatalogAlone(): void {
    this.catalogDamaged = true;
  }

  /**
   * Finalises every open segment, then signs a last checkpoint and closes the catalog;
   * `beforeClose` runs between the two (the MQTT reporter publishes that checkpoint and says
   * offline).
   */
  async stop(why = 'stop requested', beforeClose?: () => Promise<unknown>): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.checkpointTimer);
    clearInterval(this.aliveTimer);
    this.health?.stop();
    await this.sweeping;
    for (const w of this.maskWatches.values()) w.stop();
    await Promise.all([...this.views.values()].map((v) => v.stop()));
    this.stills.stop();
    await this.uploads?.stop();
    await this.verifier?.stop();
    await Promise.all([...this.recorders.values()].map((r) => r.stop()));
    this.retention?.reportPending();
    this.storeEvents();
    await this.store?.close();
    await this.decoder.stop();
    await this.analyzer.stop();
    await Promise.all([...this.testCameras.values()].map((c) => c.stop()));
    if (this.catalog?.db.open && !this.catalogDamaged) {
      try {
        markCleanStop(this.catalog);
      } catch (err) {
        // a full disk: the next start still knows this stop was clean, and when
        this.held?.stopped(Date.now());
        this.log.error({ err }, 'cannot record the clean stop in the catalog');
      }
      try {
        auditStop(this.catalog, why);
      } catch (err) {
        this.log.error({ err }, 'cannot audit the stop');
      }
      this.checkpoint('stop');
    }
    await beforeClose?.().catch((err: unknown) => this.log.error({ err }, 'error while stopping'));
    try {
      const pidFile = join(this.dataDir, PID_FILE);
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
    } catch {
      // never written, or already gone
    }
    this.catalog?.close();
    this.lock?.release();
    this.log.info('edge-nvr stopped');
  }
}

/**
 * The daemon's catalog. One SQLite cannot read (damaged, or another program's file in its place)
 * is named with what to do, and left exactly as it is: it is the record of what was recorded, so
 * the daemon neither repairs nor replaces it on its own.
 */
function openCatalog(dataDir: string): Catalog {
  try {
    return Catalog.open(dataDir);
  } catch (err) {
    if (unreadableCatalog(err)) throw catalogNotReadable(dataDir, err as Error, 'nothing was changed');
    throw err;
  }
}

/** The daemon's catalog cannot be read: `run` exits with EXIT.catalog, which systemd does not restart. */
export class CatalogUnreadable extends Error {}

/**
 * What to do about a catalog SQLite cannot read: found as it opens, or deeper in the file by the
 * start's first reads (a damaged page of the segments; it read "cannot start: database disk image
 * is malformed" with a stack trace, and nothing said what to do).
 */
export function catalogNotReadable(dataDir: string, err: Error, changed: string): CatalogUnreadable {
  return new CatalogUnreadable(`${join(dataDir, CATALOG_FILE)} is not a readable edge-nvr catalog (${err.message}); ${changed}, and nothing `
    + 'is recorded until it is dealt with: keep the file for an investigation (edge-nvr verify names what is damaged), then restore the catalog '
    + 'from a backup, or move the file aside to start a new catalog (a new chain, which the platform\'s anchors will show as such)');
}

/** The cameras with recordings that `config` does not record, each with why (the detail of its camera_disabled gap). */
function notRecordedCameras(catalog: Catalog, config: Config, when: string): Array<{ camera: string; why: string }> {
  const configured = config.cameras.map((c) => c.id);
  return [
    ...config.cameras.filter((c) => !c.enabled).map((c) => ({ camera: c.id, why: `disabled in the config (enabled: false), ${when}` })),
    ...catalog.camerasWithLiveSegmentsBesides(configured).map((camera) => ({ camera, why: `removed from the config, ${when}` })),
  ];
}
