import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { InstanceLock } from '../../daemon/instance-lock.js';
import { backdate, makeClip } from '../support/backdate.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, writeConfig } from '../support/daemon.js';

interface Status {
  recording: boolean;
  disabled: Array<{ camera: string; last_segment_end_ms: number | null }>;
  removed: Array<{ camera: string; last_segment_end_ms: number | null }>;
  daemon_pid: number | null;
  cameras: Array<{ camera: string; recording: boolean; not_recording: string | null; open_gap: { cause: string } | null; gaps_24h: number; days_held: number; min_days: number | null; last_segment_end_ms: number | null }>;
  retention: { min_required_days: number };
  disk: { total_bytes: number; available_bytes: number };
  events: Array<{ type: string; camera: string | null }>;
  mqtt: { last_status: unknown; last_health: unknown };
}

t.test('status tells a site manager which cameras record, with or without the daemon', async (t) => {
  const up = await new CameraSim({ mounts: ['up'] }).start();
  t.teardown(() => up.kill());
  const down = await new CameraSim({ mounts: ['down'] }).start();
  t.teardown(() => down.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'up', url: up.url('up') }, { id: 'down', url: down.url('down') }, { id: 'off', url: up.url('up'), enabled: false }]);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('down'));
  await down.kill();
  await daemon.waitForLog(/"event":"camera_offline","camera":"down"/, 20000);
  await sleep(2500);

  const r = await runCli(['status', '--config', config, '--json']);
  t.equal(r.code, 1, `not every camera records: exit 1 ${r.stderr}`);
  const s = JSON.parse(r.stdout) as Status;
  t.equal(s.daemon_pid, daemon.pid, 'the running daemon is named');
  const cam = (id: string) => s.cameras.find((c) => c.camera === id)!;
  t.same(s.cameras.map((c) => c.camera), ['up', 'down'], 'the cameras recorded');
  t.same(s.disabled, [{ camera: 'off', last_segment_end_ms: null }], 'and the one disabled in the config, named apart');
  t.equal(cam('up').recording, true, 'the live camera records');
  t.equal(cam('down').recording, false, 'the dead camera does not');
  t.equal(cam('down').open_gap?.cause, 'camera_unreachable', 'with its open gap and cause');
  t.ok(cam('down').gaps_24h >= 1, 'the gap counts in the last 24 h');
  t.ok(cam('up').days_held > 0 && cam('up').days_held < 0.01, 'days held');
  t.equal(s.retention.min_required_days, 30, 'against the days required');
  t.ok(s.disk.total_bytes > 0, 'disk');
  t.ok(s.events.some((e) => e.type === 'camera_offline' && e.camera === 'down'), 'last events');
  t.same(s.mqtt, { last_status: null, last_health: null }, 'nothing published over MQTT yet');

  const text = await runCli(['status', '--config', config]);
  t.match(text.stdout, /^box: NOT RECORDING/m);
  t.match(text.stdout, /^up +yes /m);
  t.match(text.stdout, /^down +NO .*down since .*camera unreachable/m);
  t.match(text.stdout, /^disabled in the config, not recorded: off \(no recordings\)$/m);

  await daemon.stop();
  const db = new Database(join(dir, 'data', 'catalog.db'));
  db.prepare("INSERT INTO meta (key, value) VALUES ('mqtt.last_status', ?)").run(JSON.stringify({ state: 'online', at_ms: 1 }));
  db.close();
  const after = JSON.parse((await runCli(['status', '--config', config, '--json'])).stdout) as Status;
  t.equal(after.daemon_pid, null, 'works without the daemon');
  t.equal(after.cameras.find((c) => c.camera === 'up')!.recording, false, 'and nothing records after the stop');
  t.match(after.cameras.find((c) => c.camera === 'up')!.not_recording, /daemon/, 'said why');
  t.equal(cam('up').not_recording, null, 'nothing to say while it recorded');
  t.same(after.mqtt.last_status, { state: 'online', at_ms: 1 }, 'what the box last published is shown');
  t.same(after.removed, [], 'no camera removed from the config');

  // a camera taken out of the config: its recordings stay, and status says whose they are
  const fewer = writeConfig(join(dir, 'fewer'), [{ id: 'up', url: up.url('up') }]);
  const dataLine = `  path: ${join(dir, 'data')}`;
  writeFileSync(fewer, readFileSync(fewer, 'utf8').replace(/^ {2}path: .*$/m, dataLine));
  const lastDown = after.cameras.find((c) => c.camera === 'down')!.last_segment_end_ms;
  const trimmed = JSON.parse((await runCli(['status', '--config', fewer, '--json'])).stdout) as Status;
  t.same(trimmed.cameras.map((c) => c.camera), ['up']);
  t.same(trimmed.removed, [{ camera: 'down', last_segment_end_ms: lastDown }], 'the removed camera, with its last recording');
  t.match((await runCli(['status', '--config', fewer])).stdout, /^removed from the config, recordings kept under the box's retention: down \(last segment \S+Z\)$/m);

  // without the config: the days required come from what the daemon stored in the catalog
  const data = join(dir, 'data');
  const bare = JSON.parse((await runCli(['status', '--data', data, '--json'])).stdout) as Status & { retention: { policy_from: string } };
  t.same(bare.cameras.map((c) => [c.camera, c.min_days]), [['up', 30], ['down', 30]], 'status --data knows each camera and its days required');
  t.same(bare.disabled, [{ camera: 'off', last_segment_end_ms: null }], 'and the disabled one');
  t.equal(bare.retention.min_required_days, 30);
  t.equal(bare.retention.policy_from, 'catalog');
  const human = (await runCli(['status', '--data', data])).stdout;
  t.match(human, /^up +NO .* \/ 30 /m, 'no "?" for the days required');
  t.match(human, /^mqtt: last status online$/m, 'what was published, in words');
  t.notMatch(human, /[{}]/, 'no raw JSON for a person');
  t.match(human, /^ {2}\S+Z +.* ago +down +(camera down: camera unreachable|recorder restarted \(camera unreachable\))$/m, 'events in words');
});

t.test('a camera that stopped recording on a full disk says so before the gap is written', async (t) => {
  const dir = t.testdir();
  // the daemon's floor is more than the disk has free: what a full disk looks like to status
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/cam1' }], { floorMb: 1024 * 1024 * 1024 });
  const data = join(dir, 'data');
  const catalog = Catalog.open(data);
  const [last] = await backdate(data, catalog, makeClip(join(dir, 'clip.mp4')), 'cam1', [Date.now() - 3_600_000]);
  catalog.close();
  // a running daemon holds the data dir's lock; this test stands in for it
  const lock = InstanceLock.acquire(data);
  t.teardown(() => lock.release());
  const s = JSON.parse((await runCli(['status', '--config', config, '--json'])).stdout) as Status;
  t.match(s.cameras[0]!.not_recording, new RegExp(`^no segment since ${new Date(last!.end_ms).toISOString().slice(0, 19)}.*; the data disk is full \\(.* free, floor 1024 TiB\\)$`));
  t.match((await runCli(['status', '--config', config])).stdout, /^cam1 +NO .*\(no segment since .*; the data disk is full/m);
});
