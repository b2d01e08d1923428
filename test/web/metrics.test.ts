import t from 'tap';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { parseMetrics, servedUrl } from '../support/web.js';

const scrape = async (url: string) => {
  const r = await fetch(`${url}/metrics`);
  if (r.status !== 200) throw new Error(`scrape: HTTP ${r.status}`);
  return { text: await r.text(), type: r.headers.get('content-type') ?? '' };
};

/** Scrapes until `ready` holds (the daemon connects to its broker on its own time). */
async function scrapeUntil(url: string, ready: (m: Map<string, number>) => boolean, timeoutMs: number): Promise<Map<string, number>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = parseMetrics((await scrape(url)).text);
    if (ready(m) || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 250));
  }
}

t.test('Prometheus scrapes real values that move while a camera dies and comes back', async (t) => {
  const cams = await new CameraSim({ mounts: ['door'] }).start();
  t.teardown(() => cams.kill());
  const gate = await new CameraSim({ mounts: ['gate'] }).start();
  t.teardown(() => gate.kill());
  const broker = await new Mosquitto(join(t.testdir(), 'broker')).start();
  t.teardown(() => broker.stop());
  const dir = t.testdir();
  // `never`: unreachable since the box was set up, so it never recorded
  const config = writeConfig(dir, [{ id: 'door', url: cams.url('door') }, { id: 'gate', url: gate.url('gate') }, { id: 'never', url: 'rtsp://127.0.0.1:9/none' }], {
    extraYaml: `http:\n  metrics_listen: 127.0.0.1:0\nmqtt:\n  url: ${broker.url}\n  health_interval_s: 5\n`,
  });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const url = await servedUrl(daemon, 'metrics');
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'on loopback');
  await daemon.waitForLog(segmentIndexed('door'));
  await daemon.waitForLog(segmentIndexed('gate'));

  const first = await scrape(url);
  t.match(first.type, /^text\/plain; version=0\.0\.4/, 'the Prometheus text format');
  const m1 = parseMetrics(first.text);
  const v1 = (k: string) => m1.get(k);

  // naming: one prefix, _total only on counters, every metric explained, no unbounded label
  const families = [...first.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => ({ name: x[1]!, type: x[2]! }));
  t.ok(families.length >= 25, `${families.length} metric families`);
  t.same(families.filter((f) => !f.name.startsWith('edge_nvr_')), [], 'every name starts with edge_nvr_');
  t.same(families.filter((f) => f.type === 'counter' && !f.name.endsWith('_total')), [], 'every counter ends in _total');
  t.same(families.filter((f) => f.type !== 'counter' && f.name.endsWith('_total')), [], 'nothing else does');
  t.same(families.filter((f) => !new RegExp(`^# HELP ${f.name} \\S`, 'm').test(first.text)), [], 'each has its help text');
  const labels = new Set([...m1.keys()].flatMap((k) => [...k.matchAll(/([a-z_]+)="/g)].map((x) => x[1]!)));
  t.same([...labels].filter((l) => !['camera', 'type', 'kind', 'result', 'version', 'box', 'node_version'].includes(l)), [], `only bounded labels (${[...labels].join(', ')})`);
  t.equal(v1('edge_nvr_build_info{version="0.1.0",box="test-box",node_version="' + process.versions.node + '"}'), 1, 'an _info metric names version and box');

  t.equal(v1('edge_nvr_camera_up{camera="door"}'), 1, 'door is up');
  t.equal(v1('edge_nvr_camera_up{camera="gate"}'), 1, 'gate is up');
  t.ok(v1('edge_nvr_camera_segments_recorded_total{camera="gate"}')! >= 1, 'segments recorded');
  t.ok(v1('edge_nvr_camera_recorded_bytes_total{camera="gate"}')! > 10_000, 'bytes recorded');
  const lastEnd = v1('edge_nvr_camera_last_segment_end_timestamp_seconds{camera="gate"}')!;
  t.ok(Math.abs(Date.now() / 1000 - lastEnd) < 30, 'the last segment ended moments ago (seconds since the epoch)');
  t.equal(v1('edge_nvr_camera_retention_required_seconds{camera="gate"}'), 30 * 86400, 'required: 30 days, in seconds');
  // days held (README: "days held against the days required", from the health report's days to
  // a thousandth): the oldest recording kept is seconds old here, never negative
  const held = v1('edge_nvr_camera_retention_held_seconds{camera="gate"}')!;
  t.ok(held >= 0 && held < 600, `held: the oldest recording kept is ${held} s old`);
  t.equal(v1('edge_nvr_camera_tamper_events_total{camera="gate"}'), 0, 'tamper events: counted per camera from 0');
  t.ok(v1('edge_nvr_storage_size_bytes')! > 0 && v1('edge_nvr_storage_free_bytes')! > 0, 'storage');
  t.equal(v1('edge_nvr_holds_active'), 0, 'no holds');
  // the background verifier's pass: what it re-hashed of what it will reach, and what it found
  const checked = v1('edge_nvr_verify_checked_segments')!;
  t.ok(checked >= 0 && v1('edge_nvr_verify_total_segments')! >= checked, `background verification: ${checked} of ${v1('edge_nvr_verify_total_segments')} segments`);
  t.equal(v1('edge_nvr_verify_violations'), 0, 'no violations');
  await until(() => /mqtt reporter started/.test(daemon.output), 10000, 'the mqtt reporter');
  const m = await scrapeUntil(url, (x) => x.get('edge_nvr_mqtt_connected') === 1, 20000);
  t.equal(m.get('edge_nvr_mqtt_connected'), 1, 'the broker is connected');
  t.equal(typeof m.get('edge_nvr_mqtt_outbox_messages'), 'number', 'the outbox depth');

  // gate dies: up falls to 0, the offline event and the open gap count
  const segsBefore = v1('edge_nvr_camera_segments_recorded_total{camera="door"}')!;
  await gate.kill();
  await daemon.waitForLog(/"event":"camera_offline","camera":"gate"/, 30000);
  const m2 = await scrapeUntil(url, (x) => x.get('edge_nvr_camera_up{camera="gate"}') === 0, 10000);
  t.equal(m2.get('edge_nvr_camera_up{camera="gate"}'), 0, 'gate is down');
  t.equal(m2.get('edge_nvr_camera_up{camera="door"}'), 1, 'door records on');
  t.ok(m2.get('edge_nvr_camera_gaps_total{camera="gate"}')! >= 1, 'the gap counts');
  t.ok(m2.get('edge_nvr_events_total{type="camera_offline"}')! >= 1, 'and the camera_offline event');
  t.ok(m2.get('edge_nvr_camera_recorder_restarts_total{camera="gate"}')! >= 1, 'the recorder restarts, backing off');
  t.ok(m2.get('edge_nvr_camera_continuity_last_24h_ratio{camera="gate"}')! < 1, 'continuity drops');
  t.equal(m2.get('edge_nvr_camera_up{camera="never"}'), 0, 'a camera down since the box started is down');
  t.equal(m2.get('edge_nvr_camera_continuity_last_24h_ratio{camera="never"}'), 0, 'and has nothing on record: continuity 0, not 1');
  await until(() => daemon.countLog(segmentIndexed('door')) >= 2, 20000, 'another door segment');
  // a reading is served again for up to a second (metrics-reuse.test.ts)
  const m3 = await scrapeUntil(url, (x) => x.get('edge_nvr_camera_segments_recorded_total{camera="door"}')! > segsBefore, 5000);
  t.ok(m3.get('edge_nvr_camera_segments_recorded_total{camera="door"}')! > segsBefore, 'door\'s segment count grows');
  t.ok(m3.get('edge_nvr_camera_gap_last_24h_seconds{camera="gate"}')! > 0, 'the open gap grows the last 24 h\'s gap seconds');

  // gate comes back: up again, and the closed gap's seconds counted
  await gate.restart();
  await daemon.waitForLog(/gap closed.*"camera":"gate"|"camera":"gate".*gap closed/, 40000);
  const m4 = await scrapeUntil(url, (x) => x.get('edge_nvr_camera_up{camera="gate"}') === 1, 10000);
  t.equal(m4.get('edge_nvr_camera_up{camera="gate"}'), 1, 'gate is up again');
  t.ok(m4.get('edge_nvr_camera_gap_seconds_total{camera="gate"}')! > 0.5, `the closed gap counts ${m4.get('edge_nvr_camera_gap_seconds_total{camera="gate"}')} s`);

  // a hold and a snapshot (through the egress gate) show up too
  const data = join(dir, 'data');
  t.equal((await runCli(['hold', 'add', '--data', data, '--camera', 'door', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 7'])).code, 0);
  const snap = await runCli(['snapshot', '--data', data, '--camera', 'door', '--out', join(dir, 'door.jpg')], { timeoutMs: 120000 });
  t.equal(snap.code, 0, snap.stderr);
  const m5 = await scrapeUntil(url, (x) => x.get('edge_nvr_egress_total{kind="snapshot",result="ok"}') === 1, 5000);
  t.equal(m5.get('edge_nvr_holds_active'), 1, 'the hold is counted');
  t.equal(m5.get('edge_nvr_egress_total{kind="snapshot",result="ok"}'), 1, 'the snapshot is counted by kind and result');
  t.equal(m5.get('edge_nvr_events_total{type="hold_added"}'), 1, 'and its event');

  t.ok(m5.get('edge_nvr_process_resident_memory_bytes')! > 10e6, 'the daemon\'s own memory');
  t.equal((await fetch(`${url}/`)).status, 404, 'only /metrics is served');
  t.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405, 'and only read');
  t.equal((await daemon.stop()).code, 0);

  // the counters are the catalog's totals: a restarted daemon goes on from them
  const again = new DaemonProcess(config).start();
  t.teardown(() => { again.proc?.kill('SIGKILL'); });
  const m6 = parseMetrics((await scrape(await servedUrl(again, 'metrics'))).text);
  t.ok(m6.get('edge_nvr_camera_segments_recorded_total{camera="door"}')! >= m5.get('edge_nvr_camera_segments_recorded_total{camera="door"}')!, 'segments recorded do not reset with the daemon');
  t.equal(m6.get('edge_nvr_egress_total{kind="snapshot",result="ok"}'), 1, 'nor do egress results');
  t.equal((await again.stop()).code, 0);
});
