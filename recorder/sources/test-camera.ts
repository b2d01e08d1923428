import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { killGroup, waitForExit } from '../backends/process-group.js';

export interface TestCameraSpec {
  id: string;
  width: number;
  height: number;
  fps: number;
  bitrate_kbps: number;
}

/** The simulator ships beside the compiled code's sources: dist/recorder/... -> recorder/... */
export const SIMULATOR = fileURLToPath(new URL('./rtsp-simulator.py', import.meta.url)).replace('/dist/recorder/', '/recorder/');

/**
 * A `test` camera: a real RTSP server (gst-rtsp-server, videotestsrc with a clock) on loopback,
 * so the demo records through exactly the path a real camera takes. It quits by itself when
 * the daemon dies, even by kill -9, so it never outlives its owner.
 */
export class TestCamera {
  private proc?: ChildProcess;
  private exited?: Promise<void>;
  port = 0;

  constructor(readonly spec: TestCameraSpec, private readonly log: Logger) {}

  get url(): string {
    return `rtsp://127.0.0.1:${this.port}/${this.spec.id}`;
  }

  async start(): Promise<void> {
    const s = this.spec;
    const args = [SIMULATOR, '--port', String(this.port), '--mounts', s.id, '--width', String(s.width), '--height', String(s.height),
      '--fps', String(s.fps), '--gop', String(s.fps), '--bitrate', String(s.bitrate_kbps), '--exit-with-parent'];
    const proc = spawn('/usr/bin/python3', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('close', () => resolve()));
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr = (stderr + String(d)).slice(-2000); });
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`test camera ${s.id} did not start in 20 s: ${stderr.trim()}`)), 20000);
      proc.once('error', (err) => { clearTimeout(timer); reject(new Error(`test camera ${s.id}: cannot run /usr/bin/python3: ${err.message}`)); });
      proc.once('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`test camera ${s.id} exited with status ${code}: ${stderr.trim() || 'no output'} (is gir1.2-gst-rtsp-server-1.0 installed? run scripts/setup)`));
      });
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^READY (\d+)/.exec(line);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    this.log.info({ camera: s.id, port: this.port, pid: proc.pid }, 'test camera serving');
  }

  async stop(): Promise<void> {
    if (!this.proc || !this.exited) return;
    killGroup(this.proc, 'SIGTERM');
    if (!(await waitForExit(this.exited, 3000))) killGroup(this.proc, 'SIGKILL');
    await this.exited;
  }
}
