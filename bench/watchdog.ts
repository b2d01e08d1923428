/**
 * bench/watchdog: how fast the watchdog notices a stalled camera, and what a retention sweep
 * costs over a catalog of one million segments.
 *
 *   npm run build && node dist/bench/watchdog.js [--stalls 3] [--segments 1000000]
 *
 * Stall latency: a real camera (gst-rtsp-server) is SIGSTOPped under a running daemon; the
 * latency is the time until the gap row appears. Retention: a catalog of N segment rows
 * (16 cameras, 60 s segments, files absent so only the catalog work is timed).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { BENCH_CAMERAS, buildCatalog } from './synthetic-catalog.js';
import { DAY_MS, Retention } from '../watchdog/retention.js';
import { CameraSim } from '../test/support/camera-sim.js';
import { DaemonProcess, until, writeConfig } from '../test/support/daemon.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { stalls: { type: 'string', default: '3' }, segments: { type: 'string', default: '1000000' } } });

async function stallLatency(backend: 'ffmpeg' | 'gstreamer', runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-stall-'));
    const sim = await new CameraSim({ mounts: ['cam1'] }).start();
    // the defaults an installer gets: stall_timeout_s 10, timeout_seconds 5
    const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1'), backend }], { timeoutSeconds: 5, stallTimeoutS: 10 });
    const daemon = new DaemonProcess(config).start();
    try {
      await daemon.waitForLog(/segment indexed/, 30000);
      const paused = Date.now();
      sim.pause();
      const db = join(dir, 'data', 'catalog.db');
      await until(() => {
        const d = new Database(db, { readonly: true });
        try {
          return (d.prepare("SELECT count(*) AS n FROM gaps WHERE cause != 'daemon_stopped'").get() as { n: number }).n > 0;
        } finally {
          d.close();
        }
      }, 60000, 'the stall gap');
      out.push(Date.now() - paused);
    } finally {
      sim.resume();
      await daemon.stop();
      await sim.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

async function retentionSweeps(n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-retention-'));
  try {
    let t0 = performance.now();
    const { catalog, now } = buildCatalog(dir, n);
    const buildMs = performance.now() - t0;
    const oldestDays = (now - (catalog.db.prepare('SELECT min(start_ms) AS m FROM segments').get() as { m: number }).m) / DAY_MS;
    const log = pino({ level: 'silent' });
    const cameras = BENCH_CAMERAS.map((camera) => ({ camera, minDays: 30, maxDays: null as number | null }));
    const synced = () => ({ synchronized: true, source: 'bench', unconfirmedStepMs: null });
    const plenty = async () => ({ total_bytes: 1e13, available_bytes: 1e12 });
    // max_days set, nothing old enough yet: the query every sweep makes
    const retention = new Retention(dir, catalog, { floorBytes: 0, cameras: cameras.map((c) => ({ ...c, maxDays: oldestDays + 1 })) },
      plenty, log, () => undefined, Date.now, synced);

    t0 = performance.now();
    await retention.sweep();
    const idleMs = performance.now() - t0;

    // max_days one day short of the oldest: a day of 16 cameras expires
    retention.setPolicy({ floorBytes: 0, cameras: cameras.map((c) => ({ ...c, maxDays: oldestDays - 1 })) });
    t0 = performance.now();
    const aged = await retention.sweep();
    const ageMs = performance.now() - t0;

    // disk under its floor until 1000 segments (about 30 GB) are gone
    let freed = 0;
    const pressed = new Retention(dir, catalog, { floorBytes: 1000 * 30_000_000, cameras },
      async () => ({ total_bytes: 1e13, available_bytes: freed }), log, () => undefined, Date.now, synced);
    const before = (catalog.db.prepare("SELECT count(*) AS n FROM segments WHERE state = 'deleted'").get() as { n: number }).n;
    const origMark = catalog.markDeleted.bind(catalog);
    catalog.markDeleted = (camera, rows, why, at) => {
      const done = origMark(camera, rows, why, at);
      freed += done.length * 30_000_000;
      return done;
    };
    t0 = performance.now();
    const spaced = await pressed.sweep();
    const spaceMs = performance.now() - t0;
    const after = (catalog.db.prepare("SELECT count(*) AS n FROM segments WHERE state = 'deleted'").get() as { n: number }).n;

    t0 = performance.now();
    const status = retention.status({ total_bytes: 1e13, available_bytes: 1e12 });
    const statusMs = performance.now() - t0;
    t0 = performance.now();
    retention.status({ total_bytes: 1e13, available_bytes: 1e12 });
    const statusCachedMs = performance.now() - t0;
    catalog.close();
    return { n, buildMs, idleMs, ageMs, aged: aged.deletedForAge, spaceMs, spaced: spaced.deletedForSpace, deletedRows: after - before, statusMs, statusCachedMs, cameras: status.cameras.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs = Number(values.stalls);
const ffmpeg = await stallLatency('ffmpeg', runs);
const gstreamer = await stallLatency('gstreamer', runs);
const sweep = await retentionSweeps(Number(values.segments));
const s = (ms: number) => (ms / 1000).toFixed(1);
if (runs > 0) {
  console.log(`\n## Stall detection (SIGSTOP of the camera until the gap row), ${runs} runs each, stall_timeout_s 10, timeout_seconds 5\n`);
  console.log('| backend | median | min | max |\n|---|---|---|---|');
  for (const [name, xs] of [['ffmpeg', ffmpeg], ['gstreamer', gstreamer]] as const) {
    console.log(`| ${name} | ${s(median(xs))} s | ${s(Math.min(...xs))} s | ${s(Math.max(...xs))} s |`);
  }
}
console.log(`\n## Retention sweep over ${sweep.n.toLocaleString('en')} catalogued segments (16 cameras)\n`);
console.log('| sweep | time | segments deleted |\n|---|---|---|');
console.log(`| nothing due (the every-5-s case) | ${sweep.idleMs.toFixed(1)} ms | 0 |`);
console.log(`| max_days: one day of 16 cameras expires | ${sweep.ageMs.toFixed(0)} ms | ${sweep.aged} |`);
console.log(`| free-space floor: oldest first until 30 GB are free (bounded: at most 500 a sweep) | ${sweep.spaceMs.toFixed(0)} ms | ${sweep.spaced} |`);
console.log(`| status (days held, forecast), first | ${sweep.statusMs.toFixed(0)} ms | - |`);
console.log(`| status again (the live bytes are a counter the catalog keeps) | ${sweep.statusCachedMs.toFixed(1)} ms | - |`);
console.log(`\n(building the catalog: ${s(sweep.buildMs)} s)`);
