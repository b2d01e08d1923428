import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killDetached } from './processes.js';

const SCRIPT = fileURLToPath(new URL('./footage-camera.py', import.meta.url)).replace('/dist/test/', '/test/');

const OPENCV = '/usr/share/doc/opencv-doc/examples/data';
const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';

/** Real footage and photographs from Debian packages (opencv-doc, python3-skimage), installed by setup. */
export const FOOTAGE = {
  /** pedestrians crossing a campus, seen by a fixed camera (80 s, looped) */
  vtest: `${OPENCV}/vtest.avi`,
  /** a street of old houses in Leuven */
  leuven: `${OPENCV}/leuvenA.jpg`,
  /** an office building behind a lawn */
  building: `${OPENCV}/building.jpg`,
  /** a rocket on its launch pad */
  rocket: `${SKIMAGE}/rocket.jpg`,
} as const;

export type Effect = 'none' | 'cover' | 'spray' | 'defocus' | 'shift' | 'rotate' | 'freeze' | 'dim' | 'mono' | 'person' | 'cycle';

export interface FootageCameraOptions {
  /** mount name -> a video or image file (append ":quiet" to an image: nobody walks through it) */
  mounts: Record<string, string>;
  width?: number;
  height?: number;
  fps?: number;
  gop?: number;
  bitrate?: number;
}

/**
 * test/support/footage-camera.py owned by a test or benchmark: real footage over RTSP, with
 * what happens in front of each lens switched mid-stream (`apply`).
 */
export class FootageCamera {
  private proc?: ChildProcess;
  private waiting: Array<{ line: string; resolve: () => void }> = [];
  port = 0;

  constructor(readonly opts: FootageCameraOptions) {}

  url(mount: string): string {
    return `rtsp://127.0.0.1:${this.port}/${mount}`;
  }

  async start(): Promise<this> {
    const o = this.opts;
    const args = [SCRIPT, '--mounts', Object.entries(o.mounts).map(([k, v]) => `${k}=${v}`).join(',')];
    for (const [flag, value] of [['--width', o.width], ['--height', o.height], ['--fps', o.fps], ['--gop', o.gop], ['--bitrate', o.bitrate]] as const) {
      if (value !== undefined) args.push(flag, String(value));
    }
    const proc = spawn('/usr/bin/python3', args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr = (stderr + String(d)).slice(-3000); });
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`footage camera did not start: ${stderr}`)), 30_000);
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`footage camera exited ${code}: ${stderr}`)); });
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^READY (\d+)/.exec(line);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
        const w = this.waiting.find((x) => x.line === line);
        if (w) { this.waiting = this.waiting.filter((x) => x !== w); w.resolve(); }
      });
    });
    return this;
  }

  /** Switches what a mount shows, from its next frame on; resolves once the camera confirmed. */
  apply(mount: string, effect: Effect, param?: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push({ line: `OK ${mount} ${effect}`, resolve });
      this.proc!.stdin!.write(`${mount} ${effect}${param === undefined ? '' : ` ${param}`}\n`);
    });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  kill(): Promise<void> {
    return killDetached(this.proc);
  }
}
