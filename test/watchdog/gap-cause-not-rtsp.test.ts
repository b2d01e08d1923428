/**
 * A "camera" that takes the connection and answers bytes that are not RTSP (another service on
 * the camera's port, a device on the camera LAN answering in its place): no recorder ever had a
 * picture, so the camera was not reached. Both backends say so with the same cause (GStreamer's
 * "Parse error" was a recorder crash, which sent the site manager to the box instead of the camera).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';

const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

t.test('a server that answers no RTSP: a camera_unreachable gap for each backend, the same cause', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    // answered, and left open: the recorder reads what it got, not a closed connection
    s.once('data', () => s.write(Buffer.from('\x00\x01SSH-2.0-not-a-camera\r\n\r\n\xff\xfe garbage')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  const port = (server.address() as { port: number }).port;
  const dir = t.testdir();
  const config = writeConfig(dir, BACKENDS.map((b) => ({ id: b, url: `rtsp://127.0.0.1:${port}/${b}`, backend: b })));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const causes = () => {
    const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true, fileMustExist: true });
    try {
      return Object.fromEntries(BACKENDS.map((b) => [b, (db.prepare("SELECT cause, detail FROM gaps WHERE camera = ? AND cause != 'daemon_stopped'").all(b) as Array<{ cause: string; detail: string }>)]));
    } finally {
      db.close();
    }
  };
  await until(() => { try { return BACKENDS.every((b) => causes()[b]!.length > 0); } catch { return false; } }, 30000, 'a gap for each camera');
  t.equal((await daemon.stop()).code, 0);
  for (const backend of BACKENDS) {
    const gaps = causes()[backend]!;
    t.same(gaps.map((g) => g.cause), ['camera_unreachable'], `${backend}: ${JSON.stringify(gaps)}`);
  }
});
