import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { makeDirs } from '../common/make-dirs.js';
import type { Logger } from 'pino';
import { withParentDeathSignal } from '../recorder/backends/orphans.js';
import { killGroup } from '../recorder/backends/process-group.js';
import type { EgressResult } from '../redaction/egress.js';
import { DAEMON_ACTOR } from '../watchdog/camera-identity.js';
import { STILLS_DIR, type StillWriter } from '../watchdog/tamper-monitor.js';
import type { StillHeader } from './commands/still.js';
import type { Daemon } from './daemon.js';
import { writeEvidenceBundle } from '../evidence/write-bundle.js';
import { exportsDir } from '../evidence/exports-dir.js';
import type { EgressHandlers } from './mqtt/commands.js';

/** Request ids come from outside: only a safe slice of one goes into a file name. */
export function exportPath(dataDir: string, kind: string, requestId: string, ext: string): string {
  const dir = exportsDir(dataDir);
  makeDirs(dir);
  const safeId = requestId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 48) || 'request';
  return join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${kind}-${safeId}.${ext}`);
}

const reply = (r: EgressResult) => ({ ...r });

/** An evidence bundle's directory under `<data>/exports/`, named like the other exports. */
export function evidencePath(dataDir: string, requestId: string): string {
  return exportPath(dataDir, 'evidence', requestId, 'evidence');
}

/**
 * The egress gate loads ONNX Runtime and its models: about 30 MB the daemon does not carry
 * until the first snapshot or export asks for it.
 */
const gate = () => import('../redaction/egress.js');

/**
 * The MQTT `snapshot` and `export` commands go through the same egress gate as the CLI: the
 * redacted file and its signed manifest are written under `<data>/exports/`, and the reply
 * names them with their hashes. The gate audits each one; the command is audited besides.
 * Each job reads the daemon's config as it is then: a reload applies to the next one at once.
 */
export function egressHandlers(daemon: Daemon, log: Logger): Pick<EgressHandlers, 'snapshot' | 'export' | 'evidence'> {
  const ctx = (signal: AbortSignal) => ({ catalog: daemon.catalog!, dataDir: daemon.dataDir, config: daemon.config, log, signal });
  return {
    snapshot: async (r) => {
      if (r.at_ms !== undefined) throw new Error('at_ms: snapshots of the past are not built yet; leave it out for the newest recording');
      const { takeSnapshot } = await gate();
      return reply(await takeSnapshot(ctx(r.signal), {
        camera: r.camera, reason: r.reason, requester: r.actor, out: exportPath(daemon.dataDir, 'snapshot', r.request_id, 'jpg'),
      }));
    },
    export: async (r) => {
      const { exportClip } = await gate();
      return reply(await exportClip(ctx(r.signal), {
        camera: r.camera, fromMs: r.from_ms, toMs: r.to_ms, reason: r.reason, requester: r.actor,
        out: exportPath(daemon.dataDir, 'export', r.request_id, 'mp4'),
      }));
    },
    evidence: async (r) => {
      const result = await writeEvidenceBundle(daemon.catalog!, daemon.dataDir, {
        camera: r.camera, fromMs: r.from_ms, toMs: r.to_ms, actor: r.actor, out: evidencePath(daemon.dataDir, r.request_id), boxId: daemon.config.box.id, via: 'mqtt',
        request: { agency: r.agency, officers: r.officers, approval: r.approval, reason: r.reason, destination: r.destination },
      }, (type, camera, data) => daemon.raise(type, camera, { ...data }));
      log.info({ out: result.out, bundle_id: result.bundle_id, segments: result.segments }, 'evidence bundle written');
      return { ...result };
    },
  };
}

/**
 * The still a tamper event keeps of its moment: the sampled frame through the egress gate
 * (faces and text hidden, masks, watermark, signed manifest, audited) into
 * `<data>/tamper/<camera>/`. The path (relative to the data dir, as the event names it) is known
 * at once; `done` settles when the file is written.
 *
 * The gate runs in a child process (`edge-nvr still --batch`) at nice 10: redaction takes the
 * CPU for a second or more, and the daemon must go on sampling every camera and feeding the
 * recorders meanwhile. The child is started when a still is due and ends once none is waiting,
 * so its detectors load once per burst of events and hold no memory in between.
 */
export class TamperStills {
  private readonly worker: StillWorker;

  constructor(private readonly daemon: Daemon, private readonly log: Logger) {
    this.worker = new StillWorker(daemon, log);
  }

  readonly write: StillWriter = (frame, kind) => {
    const out = join(this.daemon.dataDir, STILLS_DIR, frame.camera, `${new Date(frame.atMs).toISOString().replace(/[:.]/g, '-')}-${kind}.jpg`);
    // A picture of its own: the sampler's frames decode their keyframe again (their `data` is
    // every camera's one buffer, written over by the next picture); a frame without one is copied
    // now, before anything can write over it.
    const picture = frame.still ? frame.still() : Promise.resolve({ width: frame.width, height: frame.height, data: Buffer.from(frame.data) });
    const done = picture.then((pic) => this.worker.write({
      camera: frame.camera, width: pic.width, height: pic.height, out, at_ms: frame.atMs, requester: DAEMON_ACTOR, reason: `tamper_suspected ${kind}`,
    }, pic.data)).then(() => this.log.info({ camera: frame.camera, kind, out }, 'tamper still written'));
    return { path: relative(this.daemon.dataDir, out), done };
  };

  /** Stops the writer: stills not written by now are not (each is logged, the event stays). */
  stop(): void {
    this.worker.stop();
  }
}

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const STILL_DEADLINE_MS = 120_000;

class StillWorker {
  /**
   * The running writer and the requests it was given, in order. Each child has its own list: a
   * writer let go when it had nothing left (below) still closes afterwards, and with one list
   * shared its close rejected the request a new writer had just taken ("edge-nvr still exited
   * 0" for a still that was written: two tamper alarms a second apart, an outside probe).
   */
  private current?: { child: ChildProcess; pending: Array<{ resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> };

  constructor(private readonly daemon: Daemon, private readonly log: Logger) {}

  private stopped = false;

  stop(): void {
    this.stopped = true;
    if (this.current) killGroup(this.current.child, 'SIGKILL');
  }

  write(header: StillHeader, pixels: Buffer): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('the daemon is stopping'));
    makeDirs(dirname(header.out));
    const { child, pending } = this.current ?? this.spawn();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { killGroup(child, 'SIGKILL'); }, STILL_DEADLINE_MS);
      pending.push({ resolve, reject, timer });
      child.stdin!.write(JSON.stringify(header) + '\n');
      child.stdin!.write(pixels);
    });
  }

  private spawn(): NonNullable<StillWorker['current']> {
    const d = this.daemon;
    const target = d.configPath ? ['--config', d.configPath, '--data', d.dataDir] : ['--data', d.dataDir];
    const [cmd, argv] = withParentDeathSignal('nice', ['-n', '10', process.execPath, CLI, 'still', '--batch', ...target]);
    const child = spawn(cmd, argv, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const worker: NonNullable<StillWorker['current']> = { child, pending: [] };
    this.current = worker;
    let stderr = '';
    child.stderr!.on('data', (x) => { stderr = (stderr + String(x)).slice(-2000); });
    child.stdin!.on('error', () => { /* reported when it exits */ });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const p = worker.pending.shift();
      if (!p) return;
      clearTimeout(p.timer);
      let r: { ok?: boolean; error?: string } = {};
      try { r = JSON.parse(line) as typeof r; } catch { /* not a result */ }
      if (r.ok) p.resolve();
      else p.reject(new Error(r.error ?? `edge-nvr still: ${line}`));
      // nothing waiting: let it finish and go (its models with it); the next still starts another
      if (worker.pending.length === 0 && this.current === worker) { this.current = undefined; child.stdin!.end(); }
    });
    child.once('close', (code) => {
      if (this.current === worker) this.current = undefined;
      const failed = worker.pending.splice(0);
      for (const p of failed) { clearTimeout(p.timer); p.reject(new Error(`edge-nvr still exited ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`)); }
      if (failed.length) this.log.error({ code, stderr: stderr.trim().split('\n').at(-1) }, 'the still writer ended early');
    });
    return worker;
  }
}
