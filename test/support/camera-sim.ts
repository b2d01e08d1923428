import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { killDetached } from './processes.js';

const SIMULATOR = fileURLToPath(new URL('../../recorder/sources/rtsp-simulator.py', import.meta.url))
  .replace(/\/dist\/recorder\//, '/recorder/');

export interface CameraSimOptions {
  mounts?: string[];
  user?: string;
  password?: string;
  /** the loopback address it listens on (default 127.0.0.1; 127.0.0.2 is "another host") */
  address?: string;
  /** how the camera asks for the credentials (default basic) */
  auth?: 'basic' | 'digest';
  fps?: number;
  gop?: number;
  width?: number;
  height?: number;
  bitrate?: number;
  port?: number;
  pattern?: 'smpte' | 'ball' | 'snow';
  /** live: a test pattern encoded per mount; timecode: pictures carrying the time they were made
   * (test/support/timecode.ts reads it); clip: footage encoded once and served to every mount */
  source?: 'live' | 'timecode' | 'clip';
  /** clip: the video file to serve (default: a pattern) */
  clip?: string;
  /** live: an SVG file painted over the picture before encoding, read again when it changes: a
   * camera that masks on board (the ONVIF responder's `maskSvgFile` writes it) */
  maskSvg?: string;
  /** quit when the process that started it is gone, even after a kill -9 (benchmarks) */
  exitWithParent?: boolean;
}

/** A real gst-rtsp-server camera (see recorder/sources/rtsp-simulator.py) owned by a test. */
export class CameraSim {
  private proc?: ChildProcess;
  port = 0;
  constructor(readonly opts: CameraSimOptions = {}) {}

  get mounts(): string[] {
    return this.opts.mounts ?? ['cam1'];
  }

  url(mount = this.mounts[0], withCredentials = true): string {
    const cred = withCredentials && this.opts.user
      ? `${encodeURIComponent(this.opts.user)}:${encodeURIComponent(this.opts.password ?? '')}@`
      : '';
    return `rtsp://${cred}${this.opts.address ?? '127.0.0.1'}:${this.port}/${mount}`;
  }

  async start(): Promise<this> {
    const o = this.opts;
    const args = [SIMULATOR, '--port', String(o.port ?? this.port ?? 0), '--mounts', this.mounts.join(','), '--address', o.address ?? '127.0.0.1'];
    // the password goes in the environment: the command line of the camera is readable by all,
    // and tests look for the password in every command line
    if (o.user) args.push('--user', o.user, '--auth', o.auth ?? 'basic');
    if (o.fps) args.push('--fps', String(o.fps));
    if (o.gop) args.push('--gop', String(o.gop));
    if (o.width) args.push('--width', String(o.width));
    if (o.height) args.push('--height', String(o.height));
    if (o.bitrate) args.push('--bitrate', String(o.bitrate));
    if (o.pattern) args.push('--pattern', o.pattern);
    if (o.source) args.push('--source', o.source);
    if (o.clip) args.push('--clip', o.clip);
    if (o.maskSvg) args.push('--mask-svg', o.maskSvg);
    if (o.exitWithParent) args.push('--exit-with-parent');
    // its own session, so SIGSTOP/SIGKILL of the camera never reaches the test runner
    const proc = spawn('/usr/bin/python3', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RTSP_SIM_PASSWORD: o.password ?? '' } });
    this.proc = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr += String(d); });
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`camera simulator did not start: ${stderr}`)), 30000);
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`camera simulator exited ${code}: ${stderr}`)); });
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^READY (\d+)/.exec(line);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    return this;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** a dead camera */
  kill(): Promise<void> {
    return killDetached(this.proc);
  }

  /** a stalled camera: the socket stays open, nothing flows */
  pause(): void { process.kill(-this.proc!.pid!, 'SIGSTOP'); }
  resume(): void { process.kill(-this.proc!.pid!, 'SIGCONT'); }

  /** the same camera back on the same port */
  async restart(): Promise<this> {
    await this.kill();
    this.opts.port = this.port;
    return this.start();
  }
}
