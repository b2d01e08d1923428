/**
 * A "camera" that takes the connection and answers bytes that are not RTSP (another service on
 * the camera's port, a device on the camera LAN answering in its place), or answers nothing and
 * closes: no recorder ever had a picture, so the camera was not reached. Both backends say so with
 * the same cause (GStreamer's "Parse error" and "Received end-of-file" were recorder crashes,
 * which sent the site manager to the box instead of the camera: outside probes).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';

const BACKENDS = ['ffmpeg', 'gstreamer'] as const;
const SERVERS = {
  // answered, and left open: the recorder reads what it got, not a closed connection
  garbage: (s: Socket) => s.once('data', () => s.write(Buffer.from('\x00\x01SSH-2.0-not-a-camera\r\n\r\n\xff\xfe garbage'))),
  // read, nothing said, closed a little later
  silent: (s: Socket) => s.once('data', () => setTimeout(() => s.end(), 500)),
};

t.test('a server that answers no RTSP, or nothing: a camera_unreachable gap for each backend, the same cause', async (t) => {
  const ports: Record<string, number> = {};
  for (const [name, behave] of Object.entries(SERVERS)) {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      behave(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
    ports[name] = (server.address() as { port: number }).port;
  }
  const cameras = Object.keys(SERVERS).flatMap((name) => BACKENDS.map((b) => ({ id: `${name}-${b}`, url: `rtsp://127.0.0.1:${ports[name]}/${b}`, backend: b })));
  const dir = t.testdir();
  const daemon = new DaemonProcess(writeConfig(dir, cameras)).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const gapsOf = () => {
    const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true, fileMustExist: true });
    try {
      return Object.fromEntries(cameras.map((c) => [c.id, (db.prepare("SELECT cause, detail FROM gaps WHERE camera = ? AND cause != 'daemon_stopped'").all(c.id) as Array<{ cause: string; detail: string }>)]));
    } finally {
      db.close();
    }
  };
  await until(() => { try { return cameras.every((c) => gapsOf()[c.id]!.length > 0); } catch { return false; } }, 30000, 'a gap for each camera');
  t.equal((await daemon.stop()).code, 0);
  const gaps = gapsOf();
  for (const c of cameras) t.same(gaps[c.id]!.map((g) => g.cause), ['camera_unreachable'], `${c.id}: ${JSON.stringify(gaps[c.id])}`);
});
