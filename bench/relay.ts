/**
 * bench/relay: what keeping camera passwords off ffmpeg's command line costs.
 *
 * N authenticated cameras are recorded twice for the same time, with exactly the daemon's ffmpeg
 * command line (`ffmpegArgs`): (a) the baseline, ffmpeg given the credentials in the URL as the
 * daemon did before; (b) ffmpeg given a relay URL, the loopback RTSP relay
 * (`recorder/sources/rtsp-relay.ts`) running in this process as it runs in the daemon. CPU of the
 * ffmpeg processes comes from /proc; the relay's is this process's own CPU time in (b) minus the
 * same in (a) (the sampler, timers). Same simulator settings, fresh simulator each run.
 *
 *   npm run build && node dist/bench/relay.js [--cameras 4] [--seconds 30] [--bitrate 4000] [--auth digest]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { withCredentials } from '../common/credentials.js';
import { ffmpegArgs } from '../recorder/backends/ffmpeg.js';
import { relayUrl, type RelayedUrl } from '../recorder/sources/rtsp-relay.js';
import { CameraSim } from '../test/support/camera-sim.js';
import { TreeSampler } from './proc-tree.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = HERE.replace(/\/dist\/bench$/, '').replace(/\/bench$/, '');
const USER = 'bench';
const PASSWORD = 'bench-Relay-pw';

const { values } = parseArgs({
  options: {
    cameras: { type: 'string', default: '4' }, seconds: { type: 'string', default: '30' },
    bitrate: { type: 'string', default: '4000' }, auth: { type: 'string', default: 'digest' }, json: { type: 'string' },
  },
});
const N = Number(values.cameras), SECONDS = Number(values.seconds), BITRATE = Number(values.bitrate);
const AUTH = values.auth === 'basic' ? 'basic' : 'digest';

interface Run { ffmpegCpuS: number; selfCpuS: number; peakRssMiB: number; segments: number }

async function record(viaRelay: boolean): Promise<Run> {
  const mounts = Array.from({ length: N }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
  const sim = await new CameraSim({ mounts, user: USER, password: PASSWORD, auth: AUTH, pattern: 'snow', bitrate: BITRATE, fps: 15, gop: 15 }).start();
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-bench-relay-'));
  const relays: RelayedUrl[] = [];
  const procs: ChildProcess[] = [];
  let segments = 0;
  try {
    const selfBefore = process.cpuUsage();
    const rssBefore = process.memoryUsage().rss;
    let peakRss = 0;
    for (const m of mounts) {
      const url = withCredentials(sim.url(m, false), USER, PASSWORD);
      let target = url;
      if (viaRelay) {
        const r = await relayUrl(url, { connectTimeoutMs: 5000 });
        relays.push(r);
        target = r.url;
      }
      const stagingDir = join(dir, m);
      mkdirSync(stagingDir);
      const p = spawn('ffmpeg', ffmpegArgs({ camera: m, url: target, safeUrl: m, stagingDir, segmentSeconds: 2, timeoutSeconds: 5 }, Date.now()),
        { stdio: ['ignore', 'pipe', 'ignore', 'pipe'] });
      p.stdout!.on('data', (d) => { segments += String(d).split('\n').filter(Boolean).length; });
      (p.stdio[3] as NodeJS.ReadableStream).resume();
      procs.push(p);
    }
    const sampler = new TreeSampler(() => procs.map((p) => p.pid!).filter(Boolean)).start();
    const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss - rssBefore); }, 500);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const last = sampler.sample();
    sampler.stop();
    clearInterval(rssTimer);
    const self = process.cpuUsage(selfBefore);
    for (const p of procs) p.kill('SIGINT');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('close', r)))));
    return { ffmpegCpuS: last.cpuSeconds, selfCpuS: (self.user + self.system) / 1e6, peakRssMiB: Math.max(0, peakRss) / 2 ** 20, segments };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const r of relays) r.close();
    await sim.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const baseline = await record(false);
const relayed = await record(true);
const pct = (s: number) => `${((s / SECONDS) * 100).toFixed(1)} %`;
const relayCpu = Math.max(0, relayed.selfCpuS - baseline.selfCpuS);
const ratio = (relayed.ffmpegCpuS + relayCpu) / baseline.ffmpegCpuS;
const result = {
  date: new Date().toISOString(), machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`, node: process.version,
  cameras: N, seconds: SECONDS, bitrate_kbps: BITRATE, auth: AUTH,
  baseline: { ffmpeg_cpu_s: baseline.ffmpegCpuS, bench_cpu_s: baseline.selfCpuS, segments: baseline.segments },
  relay: { ffmpeg_cpu_s: relayed.ffmpegCpuS, bench_cpu_s: relayed.selfCpuS, relay_cpu_s: relayCpu, relay_rss_mib: relayed.peakRssMiB, segments: relayed.segments },
  ratio_total_cpu: ratio,
};
console.log(`${N} cameras, ${BITRATE} kbit/s each (${AUTH}), ${SECONDS} s, ${result.machine}`);
console.log(`baseline (credentials on ffmpeg's command line): ffmpeg ${pct(baseline.ffmpegCpuS)} of a core, ${baseline.segments} segments`);
console.log(`relay: ffmpeg ${pct(relayed.ffmpegCpuS)}, relay ${pct(relayCpu)} (+${relayed.peakRssMiB.toFixed(1)} MiB RSS), ${relayed.segments} segments`);
console.log(`ratio, all CPU (relay run / baseline): ${ratio.toFixed(2)}`);
const out = values.json ?? join(ROOT, 'bench', 'results', `relay-${result.date.slice(0, 10)}.json`);
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`written to ${out}`);
if (baseline.segments === 0 || relayed.segments === 0) process.exitCode = 1;
