import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { settleWithin } from '../../common/deadlines.js';
import { CameraSim, type CameraSimOptions } from './camera-sim.js';
import { CLI } from './cli.js';

export interface TestCameraEntry {
  id: string;
  url: string;
  username?: string;
  passwordFile?: string;
  backend?: 'ffmpeg' | 'gstreamer';
  /** false: configured but not recorded (a daemon for tests that need no recording) */
  enabled?: boolean;
  /** privacy_masks as YAML flow text, e.g. `[{ x: 0, y: 0, w: 0.5, h: 0.5 }]` */
  privacyMasks?: string;
  /** the camera's tamper section, e.g. { learn_s: 10 } */
  tamper?: Record<string, string | number | boolean>;
  /** more of the camera's entry (e.g. `capture_masks:`), YAML indented as a camera member */
  yaml?: string;
}

/** A config for a throwaway data dir; retention below the legal minimum is fine for tests. */
export function writeConfig(dir: string, cameras: TestCameraEntry[], opts: { floorMb?: number; segmentSeconds?: number; timeoutSeconds?: number; stallTimeoutS?: number; extraYaml?: string; storageYaml?: string } = {}): string {
  mkdirSync(dir, { recursive: true });
  const lines = [
    'box:', '  id: test-box',
    'storage:', `  path: ${join(dir, 'data')}`, `  free_space_floor_mb: ${opts.floorMb ?? 0}`,
    // storageYaml: more of the storage section (retention, exports_max_days), indented as it is
    ...(opts.storageYaml ? opts.storageYaml.split('\n').filter(Boolean).map((l) => `  ${l}`) : []),
    'log:', '  level: debug',
    'watchdog:', '  backoff_s: [0.5, 1]', `  stall_timeout_s: ${opts.stallTimeoutS ?? 10}`,
    'cameras:',
    ...cameras.flatMap((c) => [
      `  - id: ${c.id}`,
      ...(c.enabled === false ? ['    enabled: false'] : []),
      ...(c.privacyMasks ? [`    privacy_masks: ${c.privacyMasks}`] : []),
      '    source:', '      type: rtsp', `      url: ${c.url}`,
      ...(c.username ? [`      username: ${c.username}`] : []),
      ...(c.passwordFile ? [`      password_file: ${c.passwordFile}`] : []),
      '    record:', `      backend: ${c.backend ?? 'ffmpeg'}`, `      segment_seconds: ${opts.segmentSeconds ?? 2}`, `      timeout_seconds: ${opts.timeoutSeconds ?? 3}`,
      ...(c.tamper ? [`    tamper: ${JSON.stringify(c.tamper)}`] : []),
      ...(c.yaml ? c.yaml.split('\n').filter(Boolean).map((l) => `    ${l}`) : []),
    ]),
  ];
  const path = join(dir, 'config.yaml');
  // extraYaml: top-level sections appended as they are (e.g. an `mqtt:` block)
  writeFileSync(path, lines.join('\n') + '\n' + (opts.extraYaml ? opts.extraYaml.replace(/\n?$/, '\n') : ''));
  return path;
}

/** `edge-nvr run` as a real child process; everything it logs is kept for assertions. */
/** A log line saying a segment of `camera` was indexed (the segment store's, or the camera's state change it causes). */
export function segmentIndexed(camera: string): RegExp {
  return new RegExp(`segment indexed.*"camera":"${camera}"|"camera":"${camera}".*segment indexed`);
}

export class DaemonProcess {
  proc?: ChildProcess;
  output = '';
  private exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /**
   * `opts.wrap`: a command the daemon runs under (e.g. strace and its options);
   * `opts.detached`: in a process group of its own, so a test can kill -9 the whole group.
   */
  constructor(readonly configPath: string, readonly args: string[] = ['run'], readonly env: NodeJS.ProcessEnv = {}, readonly opts: { wrap?: string[]; detached?: boolean } = {}) {}

  start(): this {
    const argv = [process.execPath, CLI, ...this.args, '--config', this.configPath];
    const [command, ...rest] = [...(this.opts.wrap ?? []), ...argv];
    const proc = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env }, detached: this.opts.detached ?? false });
    this.proc = proc;
    proc.stdout!.on('data', (d) => { this.output += String(d); });
    proc.stderr!.on('data', (d) => { this.output += String(d); });
    this.exited = new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
    return this;
  }

  get pid(): number {
    return this.proc!.pid!;
  }

  /** Resolves when the log has a line matching `re`. */
  async waitForLog(re: RegExp, timeoutMs = 30000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!re.test(this.output)) {
      if (Date.now() > until) throw new Error(`daemon never logged ${re}; output:\n${this.output.slice(-3000)}`);
      if (this.proc?.exitCode !== null) throw new Error(`daemon exited early; output:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  countLog(re: RegExp): number {
    return this.output.split('\n').filter((l) => re.test(l)).length;
  }

  /** Resolves when the process has exited (however it was stopped, or refused to start). */
  exit() {
    return this.exited!;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    this.proc!.kill(signal);
    return this.exited!;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The promise's value, or null after `ms`; the timer does not outlive the race (a pending one keeps a finished test's process alive until it fires). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  return settleWithin(promise, ms, null);
}

/** Polls `ready` until it holds; throws after `timeoutMs`. */
export async function until(ready: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * The usual start of a watchdog test: a real camera, the daemon recording it, both torn down
 * with the test. Resolves once the first segment is indexed.
 */
export async function recordingCamera(
  t: { testdir(): string; teardown(fn: () => unknown): void },
  backend: 'ffmpeg' | 'gstreamer' = 'ffmpeg',
  simOptions: CameraSimOptions = {},
) {
  const sim = await new CameraSim({ mounts: ['cam1'], ...simOptions }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1'), backend }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/segment indexed/);
  return { sim, daemon, dir, config, dataDir: join(dir, 'data') };
}
