import t from 'tap';
import { join } from 'node:path';
import { healthChanges } from '../../daemon/mqtt/health.js';
import type { HealthPayload } from '../../daemon/mqtt/payloads.js';
import { CameraSim } from '../support/camera-sim.js';
import { DaemonProcess, writeConfig } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const INTERVAL_S = 5;
// three checks: a refresh is told apart from a report at every check, and a quiet box sends a third of them
const REFRESH_S = 15;

type Health = HealthPayload & { cameras: Array<HealthPayload['cameras'][number] & Record<string, unknown>> };

t.test('health is published on connect, when something changes, and after health_refresh_s; never twice the same in between', async (t) => {
  const dir = t.testdir();
  const sim = await new CameraSim({ mounts: ['gate'], width: 320, height: 180, fps: 10, gop: 10 }).start();
  t.teardown(() => sim.kill());
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  t.teardown(() => broker.stop());
  const config = writeConfig(dir, [{ id: 'gate', url: sim.url('gate') }], {
    extraYaml: ['mqtt:', `  url: ${broker.url}`, `  health_interval_s: ${INTERVAL_S}`, `  health_refresh_s: ${REFRESH_S}`].join('\n'),
  });
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const reports = () => sub.on(`${PREFIX}/health`).map((m) => ({ at: m.at, h: m.json as Health }));

  const first = await sub.waitFor((m) => m.topic === `${PREFIX}/health`, 30000, 'the first health report');
  t.same((first.json as Health).changed, ['connect'], 'the first report after a connect says so');
  t.equal((first.json as Health).schema, 'edge-nvr/health@2');
  const recording = await sub.waitFor((m) => m.topic === `${PREFIX}/health` && (m.json as Health).cameras[0]?.state === 'recording', 30000, 'a report with the camera recording');

  // steady recording: the refresh comes health_refresh_s after the last report (a change or two
  // may come first), and until it the checks in between send nothing
  const windowS = REFRESH_S + 2 * INTERVAL_S;
  const refresh = await sub.waitFor((m) => m.topic === `${PREFIX}/health` && m.at > recording.at && (m.json as Health).changed.includes('refresh'), windowS * 1000,
    `a refresh within ${windowS} s of the camera recording`).catch(() => undefined);
  const steady = reports().filter((r) => r.at > recording.at && r.at <= (refresh?.at ?? Date.now()));
  t.ok(refresh, `a refresh within ${REFRESH_S} s of quiet (${steady.length} reports: ${steady.map((r) => r.h.changed.join('+')).join(', ')})`);
  const checks = Math.floor(((refresh?.at ?? Date.now()) - recording.at) / 1000 / INTERVAL_S);
  t.ok(steady.length < checks, `fewer reports than checks: ${steady.length} in ${checks} checks at a ${INTERVAL_S} s interval`);
  const all = reports();
  for (let i = 1; i < all.length; i++) {
    const { h } = all[i]!;
    const gap = h.ts - all[i - 1]!.h.ts;
    if (h.changed.includes('refresh')) t.ok(gap >= REFRESH_S * 1000 - 1000, `a refresh comes ${gap} ms after the report before`);
    else if (!h.changed.includes('connect')) t.same(h.changed, healthChanges(all[i - 1]!.h, h), `report ${i} names what changed: ${h.changed.join(', ')}`);
  }

  // the camera dies: its state is a change, reported at the next check
  const killedAt = Date.now();
  await sim.kill();
  const down = await sub.waitFor((m) => m.topic === `${PREFIX}/health` && m.at > killedAt && (m.json as Health).changed.includes('cameras.gate.state'), 30000, 'a report of the camera state');
  t.not((down.json as Health).cameras[0]!.state, 'recording', `reported ${down.at - killedAt} ms after the camera died: ${(down.json as Health).cameras[0]!.state}`);
  t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates against its schema');
});

t.test('what counts as a change: states and counts at once, disk, memory and forecasts by their steps, moving values not at all', async (t) => {
  const base: Health = {
    schema: 'edge-nvr/health@2', box: 'b', ts: 1_000_000, changed: [], uptime_s: 100, daemon_uptime_s: 50, load: [0.5, 0.5, 0.5],
    temperature_c: 50, throttled: null, clock: { synchronized: true, source: 'ntp' }, memory: { total_bytes: 4e9, available_bytes: 2e9 },
    disks: [{ path: '/data', total_bytes: 1e12, free_bytes: 5e11, available_bytes: 5e11, floor_bytes: 1e9 }],
    retention: { oldest_ms: 1, days_held: 10, forecast_days: 40, min_required_days: 30, cameras: [] },
    cameras: [{ camera: 'gate', state: 'recording', last_segment_end_ms: 999_000, restarts: 0, gaps_24h: 0, gap_ms_24h: 0, continuity_24h: 1, bitrate_kbps: 1000,
      stream: { codec: 'h264', width: 1280, height: 720, fps: 15 }, view: { state: 'ok', kinds: [], since_ms: 1, reference_ms: 1, detail: null } }],
    chain_head: { id: 10, hash: 'a'.repeat(64) }, outbox: { queued: 0, dropped: 0 },
    integrity: { verify_read_mb_s: 2, last_full_pass_ms: null, last_full_pass_segments: null, pass_progress: 0.1, violations: 0, last_checkpoint_ms: 900_000 },
  };
  const next = (edit: (h: Health) => void): string[] => {
    const h = structuredClone(base);
    edit(h);
    return healthChanges(base, h);
  };
  t.same(next((h) => {
    h.ts += 60_000; h.uptime_s += 60; h.daemon_uptime_s += 60; h.load = [0.9, 0.8, 0.6]; h.cameras[0]!.last_segment_end_ms = 1_059_000;
    h.chain_head = { id: 11, hash: 'b'.repeat(64) }; h.disks[0]!.available_bytes -= 5e9; h.memory.available_bytes -= 1e8; h.temperature_c = 51.5;
    h.cameras[0]!.continuity_24h = 0.998; h.retention.days_held = 10.05; h.cameras[0]!.bitrate_kbps = 1200;
    h.integrity.pass_progress = 0.2; h.integrity.last_checkpoint_ms = 1_000_000;
  }), [], 'a minute of recording (and a checkpoint, published on its own topic) changes nothing that counts');
  t.same(next((h) => { h.cameras[0]!.state = 'down'; }), ['cameras.gate.state']);
  t.same(next((h) => { h.cameras[0]!.restarts = 1; h.cameras[0]!.gaps_24h = 1; }), ['cameras.gate.restarts', 'cameras.gate.gaps_24h']);
  t.same(next((h) => { h.cameras[0]!.gaps_24h = 1; h.cameras[0]!.continuity_24h = 0.99; }), ['cameras.gate.gaps_24h'], 'an interruption is a gap; continuity follows');
  t.same(next((h) => { h.cameras[0]!.bitrate_kbps = 300; }), ['cameras.gate.bitrate_kbps'], 'a bitrate down by 70 %');
  t.same(next((h) => { h.cameras[0]!.view = { state: 'tampered', kinds: ['covered'], since_ms: 2, reference_ms: 1, detail: null }; }), ['cameras.gate.view'], 'the view tampered with');
  t.same(next((h) => { h.cameras[0]!.stream = { codec: 'h264', width: 1280, height: 720, fps: 14.2 }; }), [], 'the measured frame rate rides along');
  t.same(next((h) => { h.cameras[0]!.stream = { codec: 'hevc', width: 1920, height: 1080, fps: 15 }; }), ['cameras.gate.stream'], 'another stream');
  t.same(next((h) => { h.disks[0]!.available_bytes -= 2e10; }), ['disks./data.available_bytes'], 'two per cent of the disk');
  t.same(next((h) => { h.clock.synchronized = false; }), ['clock']);
  t.same(next((h) => { h.throttled = { now: true, since_boot: true, raw: '0x50005' }; }), ['throttled']);
  t.same(next((h) => { h.temperature_c = 58; }), ['temperature_c']);
  t.same(next((h) => { h.outbox.queued = 3; }), ['outbox.queued'], 'events waiting for the broker');
  t.same(next((h) => { h.outbox.dropped = 1; }), ['outbox.dropped']);
  t.same(next((h) => { h.commands = { accepted: 0, failed: 0, refused: 3, unanswered: 0, refused_by_code: { bad_json: 3 }, egress_running: 0, egress_queued: 0 }; }), ['commands.refused'], 'refused commands');
  t.same(next((h) => { h.integrity.violations = 1; }), ['integrity.violations'], 'a segment whose bytes changed');
  t.same(next((h) => { h.integrity.last_full_pass_ms = 1_000_000; h.integrity.pass_progress = null; }), ['integrity.last_full_pass_ms'], 'a background pass finished');
  t.same(next((h) => { h.retention.forecast_days = 30; }), ['retention.forecast_days']);
  t.same(next((h) => { h.cameras.push({ ...h.cameras[0]!, camera: 'yard' }); }), ['cameras.yard'], 'a camera added');
  t.same(next((h) => { h.cameras = []; }), ['cameras.gate'], 'a camera removed');
});
