import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killDetached } from './processes.js';

const SERVER = fileURLToPath(new URL('./file-rtsp.py', import.meta.url));

/** A camera serving `launch` (a GStreamer pipeline ending in pay0) once per viewer (file-rtsp.py); its URL. */
export async function fileCamera(t: { teardown(fn: () => unknown): void }, launch: string): Promise<string> {
  const proc = spawn('/usr/bin/python3', [SERVER, launch], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killDetached(proc));
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += String(d); });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`file-rtsp.py exited ${code}: ${stderr}`)));
    createInterface({ input: proc.stdout! }).on('line', (l) => { const m = /^READY (\d+)/.exec(l); if (m) resolve(Number(m[1])); });
  });
  return `rtsp://127.0.0.1:${port}/x`;
}
