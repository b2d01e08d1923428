import t from 'tap';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { SegmentStore, stagingDir } from '../../recorder/segment-store.js';
import { resolveOnvifStream } from '../../recorder/sources/onvif.js';
import { CameraSupervisor } from '../../watchdog/camera-supervisor.js';
import type { EventType } from '../../watchdog/events.js';
import { CameraSim } from '../support/camera-sim.js';
import { until } from '../support/daemon.js';
import { startOnvifCamera } from '../support/onvif.js';

const USER = 'viewer';
const PASSWORD = 'resolve-Backoff-pw';

/** An ONVIF address that accepts connections and never answers: each resolve runs into its timeout. */
async function silentHost(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => { sockets.add(s); s.on('error', () => undefined); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

t.test('an ONVIF camera whose stream URI cannot be resolved backs off step by step, as camera_unreachable, never stalled', async (t) => {
  const sim = await new CameraSim({ mounts: ['cam'], user: USER, password: PASSWORD }).start();
  t.teardown(() => sim.kill());
  const onvif = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('cam', false) });
  const silent = await silentHost(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-nvr-resolve-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
  const catalog = Catalog.open(dataDir);
  t.teardown(() => catalog.close());
  const events: Array<{ type: EventType; data: Record<string, unknown> }> = [];
  let onvifHost = onvif.address;
  const RESOLVE_TIMEOUT_MS = 4000;
  const supervisor = new CameraSupervisor('cam', {
    backend: 'ffmpeg',
    backendOptions: { camera: 'cam', url: '', safeUrl: `onvif://${onvif.address}`, stagingDir: stagingDir(dataDir, 'cam'), segmentSeconds: 2, timeoutSeconds: 2 },
    dataDir, catalog, store: new SegmentStore(dataDir, catalog, log), log,
    raise: (type, _camera, data) => { events.push({ type, data }); },
    backoffSeconds: [0.5, 1, 2, 4],
    // shorter than one resolve: a stall detector that watched a resolve would fire
    stallTimeoutMs: 3000,
    // longer than one resolve, shorter than the recording run below
    stableAfterMs: 6000,
    resolveUrl: async () => {
      const r = await resolveOnvifStream({ host: onvifHost, username: USER, password: PASSWORD, timeoutMs: RESOLVE_TIMEOUT_MS });
      return { url: r.url, safeUrl: r.safeUrl };
    },
  });
  t.teardown(() => supervisor.stop());
  let segments = 0;
  supervisor.on('segment', () => { segments++; });
  supervisor.start();
  await until(() => segments >= 4, 40000, 'four segments');
  t.ok(segments >= 4, 'the camera records through ONVIF (a stable run)');

  // The camera goes away, and its ONVIF service stops answering.
  onvifHost = silent;
  const failedAt = events.length;
  await sim.kill();
  const resolveFailures = () => events.slice(failedAt).filter((e) => e.type === 'watchdog_restart' && /cannot resolve the stream URI/.test(String(e.data.reason)));
  await until(() => resolveFailures().length >= 3, 60000, 'three failed resolves');

  const delays = resolveFailures().map((e) => Number(e.data.restart_in_ms));
  t.ok(delays.every((d, i) => i === 0 || d > delays[i - 1]!), `each failed resolve waits longer than the one before: ${delays.join(', ')} ms`);
  t.ok(delays[2]! >= 3200, `by the third, the 4 s step (+-20 %): ${delays[2]} ms`);
  t.same(resolveFailures().map((e) => e.data.cause), resolveFailures().map(() => 'camera_unreachable'), 'every failed resolve is camera_unreachable');
  t.same(events.slice(failedAt).filter((e) => e.type === 'stall_detected'), [], 'no stall is detected while nothing records');
  const gap = catalog.openGapOf('cam');
  t.equal(gap?.cause, 'camera_unreachable', 'the open gap says camera_unreachable');
});
