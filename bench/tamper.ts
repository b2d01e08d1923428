/**
 * bench/tamper: what watching the view costs and how well it does, on real footage.
 *
 *   npm run bench:tamper        (= npm run build && node dist/bench/tamper.js)
 *   node dist/bench/tamper.js [--hours 3] [--cpu-seconds 90] [--only latency,false-alarms,cpu] [--json FILE]
 *
 * 1. Detection latency per kind: the daemon records 11 footage cameras (test/support/
 *    footage-camera.py: opencv-doc's vtest.avi and photographs brought to life, 480x360, 8 fps,
 *    1 s GOP); once every view is learned, each camera's tamper is applied at the same moment;
 *    latency = the event's time in the catalog minus the moment the change was applied.
 * 2. False alarms per hour: the analysis and the monitor (the daemon's own classes, with the
 *    default settings) over hours of vtest.avi looped, one sample a second, with the lights
 *    switched (brightness -25 % for 5 min of every 10), a day/night switch to monochrome (15 min
 *    of every 30) and sensor noise; every tamper_suspected is a false alarm.
 * 3. CPU per 1080p camera: vtest.avi upscaled to a 1920x1080 H.264 clip (x264 veryfast, 4 Mbit/s,
 *    25 fps, GOP 50, cached in $TMPDIR), served as it is over RTSP. The daemon records it for
 *    `cpu-seconds` twice, with tamper detection off (the baseline) and on; the difference is the
 *    cost of watching the view (tail, decoder, analysis). The alternative not chosen, a second
 *    RTSP connection decoding every keyframe (`ffmpeg -skip_frame nokey`), is measured beside it.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Catalog } from '../recorder/catalog/catalog.js';
import { TamperMonitor } from '../watchdog/tamper-monitor.js';
import { DaemonProcess, sleep, until, writeConfig } from '../test/support/daemon.js';
import { FOOTAGE, FootageCamera, type Effect } from '../test/support/footage-camera.js';
import { TreeSampler } from './proc-tree.js';

const { values } = parseArgs({
  options: {
    hours: { type: 'string', default: '3' }, 'cpu-seconds': { type: 'string', default: '90' },
    only: { type: 'string', default: 'latency,false-alarms,cpu' }, json: { type: 'string' },
  },
});
const only = new Set(values.only!.split(','));
const results: Record<string, unknown> = {
  at: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, load_at_start: loadavg(),
};

/* ------------------------------------------------------------------ 1. latency */

const KINDS: Array<{ id: string; footage: string; effect: Effect; param?: number; expect: string }> = [
  { id: 'cover-v', footage: FOOTAGE.vtest, effect: 'cover', expect: 'covered' },
  { id: 'cover-l', footage: FOOTAGE.leuven, effect: 'cover', expect: 'covered' },
  { id: 'spray-v', footage: FOOTAGE.vtest, effect: 'spray', expect: 'covered' },
  { id: 'spray-l', footage: FOOTAGE.leuven, effect: 'spray', expect: 'covered' },
  { id: 'defocus-v', footage: FOOTAGE.vtest, effect: 'defocus', param: 4, expect: 'defocused' },
  { id: 'defocus-r', footage: FOOTAGE.rocket, effect: 'defocus', param: 4, expect: 'defocused' },
  { id: 'shift-v', footage: FOOTAGE.vtest, effect: 'shift', param: 0.25, expect: 'moved' },
  { id: 'rotate-r', footage: FOOTAGE.rocket, effect: 'rotate', param: 12, expect: 'moved' },
  { id: 'freeze-v', footage: FOOTAGE.vtest, effect: 'freeze', expect: 'frozen' },
  { id: 'freeze-b', footage: FOOTAGE.building, effect: 'freeze', expect: 'frozen' },
  { id: 'normal-v', footage: FOOTAGE.vtest, effect: 'cycle', expect: '' },
];

async function latency(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-tamper-'));
  const sim = await new FootageCamera({ mounts: Object.fromEntries(KINDS.map((k) => [k.id, k.footage])) }).start();
  const daemon = new DaemonProcess(writeConfig(dir, KINDS.map((k) => ({ id: k.id, url: sim.url(k.id), tamper: { learn_s: 10 } })), { segmentSeconds: 4 })).start();
  try {
    for (const k of KINDS) await daemon.waitForLog(new RegExp(`"camera":"${k.id}".*view reference learned`), 180_000);
    const applied = new Map<string, number>();
    await Promise.all(KINDS.map(async (k) => { await sim.apply(k.id, k.effect, k.param); applied.set(k.id, Date.now()); }));
    await until(() => KINDS.filter((k) => k.expect).every((k) => new RegExp(`"event":"tamper_suspected","camera":"${k.id}"`).test(daemon.output)), 90_000, 'all raised').catch(() => undefined);
    await sleep(10_000);
    await daemon.stop();
    const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
    const rows = db.prepare("SELECT at_ms, camera, data FROM events WHERE type = 'tamper_suspected' ORDER BY id").all() as Array<{ at_ms: number; camera: string; data: string }>;
    db.close();
    const out = KINDS.map((k) => {
      const first = rows.find((r) => r.camera === k.id);
      const kind = first ? (JSON.parse(first.data) as { kind: string }).kind : null;
      return { camera: k.id, effect: k.effect, expected: k.expect || null, raised: kind, latency_s: first ? Math.round((first.at_ms - applied.get(k.id)!) / 100) / 10 : null };
    });
    results.latency = out;
    console.log('\nDetection latency (change applied -> tamper_suspected), default persistence 10 s:');
    console.log('| camera | effect | expected | raised | latency s |\n|---|---|---|---|---:|');
    for (const r of out) console.log(`| ${r.camera} | ${r.effect} | ${r.expected ?? 'nothing'} | ${r.raised ?? 'nothing'} | ${r.latency_s ?? '-'} |`);
  } finally {
    daemon.proc?.kill('SIGKILL');
    await sim.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/* ------------------------------------------------------------------ 2. false alarms */

async function falseAlarms(hours: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-fa-'));
  const catalog = Catalog.open(dir);
  const raised: Array<{ type: string; data: Record<string, unknown> }> = [];
  const monitor = new TamperMonitor('long', {
    catalog, log: pino({ level: 'silent' }), raise: (type, _c, data) => raised.push({ type, data }),
    settings: { enabled: true, sensitivity: 'medium', persistence_s: 10, learn_s: 60 },
  }).start();
  const W = 480, H = 360, seconds = Math.round(hours * 3600);
  // lights off-ish 5 min of every 10, monochrome 15 min of every 30, sensor noise
  const filter = `fps=1,scale=${W}:${H}:force_original_aspect_ratio=increase,crop=${W}:${H},`
    + "eq=brightness='if(lt(mod(t\\,600)\\,300)\\,0\\,-0.25)':eval=frame,hue=s='if(lt(mod(t\\,1800)\\,900)\\,1\\,0)',noise=alls=4:allf=t";
  // grey, full range, as the daemon's keyframe decoder gives the analysis (libav's swscale both)
  const ff = spawn('ffmpeg', ['-v', 'error', '-stream_loop', '-1', '-i', FOOTAGE.vtest, '-vf', filter, '-t', String(seconds), '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const size = W * H;
  let buf = Buffer.alloc(0);
  let n = 0;
  const started = performance.now();
  const t0 = Date.now();
  for await (const chunk of ff.stdout as AsyncIterable<Buffer>) {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= size) {
      await monitor.onFrame({ camera: 'long', atMs: t0 + n * 1000, width: W, height: H, channels: 1, data: Buffer.from(buf.subarray(0, size)) });
      buf = buf.subarray(size);
      n++;
    }
  }
  const analysed = (performance.now() - started) / 1000;
  await monitor.stop();
  catalog.close();
  rmSync(dir, { recursive: true, force: true });
  const alarms = raised.filter((r) => r.type === 'tamper_suspected');
  const watched = (n - 60) / 3600;
  results.false_alarms = { samples: n, hours_watched: Math.round(watched * 100) / 100, alarms: alarms.length, per_hour: Math.round((alarms.length / watched) * 100) / 100, kinds: alarms.map((a) => a.data.kind), wall_s: Math.round(analysed) };
  console.log(`\nFalse alarms: ${alarms.length} over ${watched.toFixed(2)} h of vtest.avi looped with lights and night mode switching (${n} samples, 1/s; ${(alarms.length / watched).toFixed(2)} per hour)${alarms.length ? `: ${alarms.map((a) => a.data.kind).join(', ')}` : ''}`);
}

/* ------------------------------------------------------------------ 3. CPU per 1080p camera */

function clip1080(): string {
  const path = join(tmpdir(), 'edge-nvr-bench-vtest-1080p-4M.mp4');
  if (!existsSync(path)) {
    console.log('encoding the 1080p clip once (x264 veryfast, 4 Mbit/s, GOP 50)...');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '3', '-i', FOOTAGE.vtest, '-vf', 'scale=1920:1080,fps=25', '-c:v', 'libx264', '-preset', 'veryfast',
      '-b:v', '4M', '-maxrate', '4M', '-bufsize', '8M', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-t', '300', `${path}.part.mp4`]);
    execFileSync('mv', [`${path}.part.mp4`, path]);
  }
  return path;
}

async function measureDaemon(url: string, tamper: boolean, seconds: number): Promise<{ percent: number; samples: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-cpu-'));
  const config = writeConfig(dir, [{ id: 'hd', url, tamper: tamper ? { learn_s: 10 } : { enabled: false, reason: 'benchmark baseline' } }], { segmentSeconds: 60, timeoutSeconds: 5 });
  const daemon = new DaemonProcess(config).start();
  try {
    await daemon.waitForLog(/camera identity pinned \(stream\)/, 60_000);
    if (tamper) await daemon.waitForLog(/view reference learned/, 90_000);
    const sampler = new TreeSampler(() => [daemon.pid], 1000).start();
    const before = sampler.sample();
    const samplesBefore = daemon.countLog(/"view sample"/);
    await sleep(seconds * 1000);
    const after = sampler.sample();
    sampler.stop();
    return { percent: ((after.cpuSeconds - before.cpuSeconds) / ((after.atMs - before.atMs) / 1000)) * 100, samples: daemon.countLog(/"view sample"/) - samplesBefore };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureSecondConnection(url: string, seconds: number): Promise<{ percent: number; frames: number }> {
  const ff = spawn('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-skip_frame', 'nokey', '-i', url, '-map', '0:v:0', '-fps_mode', 'passthrough',
    '-vf', 'scale=640:360', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let bytes = 0;
  ff.stdout!.on('data', (d: Buffer) => { bytes += d.length; });
  await sleep(8000);
  const sampler = new TreeSampler(() => [ff.pid!], 1000).start();
  const before = sampler.sample();
  const bytesBefore = bytes;
  await sleep(seconds * 1000);
  const after = sampler.sample();
  sampler.stop();
  ff.kill('SIGKILL');
  return { percent: ((after.cpuSeconds - before.cpuSeconds) / ((after.atMs - before.atMs) / 1000)) * 100, frames: Math.round((bytes - bytesBefore) / (640 * 360 * 3)) };
}

async function cpu(seconds: number): Promise<void> {
  const sim = await new FootageCamera({ mounts: { hd: `${clip1080()}:copy` } }).start();
  try {
    const url = sim.url('hd');
    const off = await measureDaemon(url, false, seconds);
    const on = await measureDaemon(url, true, seconds);
    const second = await measureSecondConnection(url, seconds);
    const cost = on.percent - off.percent;
    results.cpu_1080p = {
      seconds, daemon_tamper_off_percent: round(off.percent), daemon_tamper_on_percent: round(on.percent), tamper_cost_percent: round(cost),
      samples_per_minute: round((on.samples / seconds) * 60), ratio_on_over_off: round(on.percent / off.percent),
      second_connection_percent: round(second.percent), second_connection_keyframes_per_minute: round((second.frames / seconds) * 60), load_at_end: loadavg(),
    };
    console.log(`\nCPU, one 1920x1080 camera (4 Mbit/s, GOP 2 s), % of one core over ${seconds} s:`);
    console.log('| | % of one core | ratio to baseline |\n|---|---:|---:|');
    console.log(`| daemon, tamper detection off (baseline) | ${round(off.percent)} | 1.00 |`);
    console.log(`| daemon, tamper detection on (${round((on.samples / seconds) * 60)} samples/min) | ${round(on.percent)} | ${round(on.percent / off.percent)} |`);
    console.log(`| cost of watching the view (on - off) | ${round(cost)} | |`);
    console.log(`| not chosen: second RTSP connection, every keyframe decoded (${round((second.frames / seconds) * 60)}/min) | ${round(second.percent)} | |`);
  } finally {
    await sim.kill();
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

if (only.has('latency')) await latency();
if (only.has('false-alarms')) await falseAlarms(Number(values.hours));
if (only.has('cpu')) await cpu(Number(values['cpu-seconds']));
results.load_at_end = loadavg();
console.log(`\nload average at start ${(results.load_at_start as number[]).map((l) => l.toFixed(1)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(1)).join(' ')} (${cpus().length} cores)`);
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2) + '\n');
