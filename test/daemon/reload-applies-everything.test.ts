import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, sleep, until, writeConfig, type TestCameraEntry } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { Platform } from '../mqtt/platform.js';
import { Subscriber } from '../mqtt/subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const SECRET = randomBytes(32).toString('hex');
const MASK_A = '[{ x: 0, y: 0, w: 0.5, h: 0.5 }]';
const MASK_B = '[{ x: 0.5, y: 0.5, w: 0.25, h: 0.25 }]';

interface Manifest { settings: { masks: unknown[] }; switched_off: Array<{ detector: string; reason: string }>; detectors: Array<{ name: string }> }
const manifestOf = (result: Record<string, unknown> | undefined) => JSON.parse(readFileSync(String(result?.manifest), 'utf8')) as Manifest;

t.test('a reload applies egress settings, cameras, mqtt and the log level at once, and names what needs a restart', async (t) => {
  const dir = t.testdir();
  const sim = await new CameraSim({ mounts: ['a', 'b'], width: 320, height: 180, fps: 10, user: 'viewer', password: 'cam-pass-1' }).start();
  t.teardown(() => sim.kill());
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  t.teardown(() => broker.stop());
  const secretFile = join(dir, 'cmd.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const mqttPassword = join(dir, 'mqtt.password');
  writeFileSync(mqttPassword, 'first-password\n', { mode: 0o600 });
  const mqtt = (interval: number) => [
    'mqtt:', `  url: ${broker.url}`, '  username: box', `  password_file: ${mqttPassword}`, `  health_interval_s: ${interval}`,
    '  commands:', `    hmac_secret_file: ${secretFile}`,
  ];
  const write = (cameras: TestCameraEntry[], extra: string[], opts: { dataDir?: string } = {}) => {
    const path = writeConfig(dir, cameras, { extraYaml: extra.join('\n') });
    if (opts.dataDir) writeFileSync(path, readFileSync(path, 'utf8').replace(`path: ${join(dir, 'data')}`, `path: ${opts.dataDir}`));
    return path;
  };
  const camPassword = join(dir, 'cam.password');
  writeFileSync(camPassword, 'cam-pass-1\n', { mode: 0o600 });
  const camA = { id: 'a', url: sim.url('a', false), username: 'viewer', passwordFile: camPassword };
  const config = write([camA], mqtt(60));
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 30000, 'online');
  await daemon.waitForLog(segmentIndexed('a'), 30000);
  const platform = new Platform(sub, PREFIX, 'test-box', SECRET);
  const snapshot = async (camera: string) => {
    const r = await platform.one('snapshot', platform.request('snapshot', { camera, reason: 'reload check' }), { timeoutMs: 60000 });
    t.equal(r.ok, true, `snapshot of ${camera}: ${JSON.stringify(r.error)}`);
    return manifestOf(r.result);
  };
  t.same((await snapshot('a')).settings.masks, [], 'before: camera a has no mask');

  // a mask on a, camera b added with its own, plates switched off, log level up, mqtt changed
  writeFileSync(mqttPassword, 'second-password\n', { mode: 0o600 });
  write([{ ...camA, privacyMasks: MASK_A }, { id: 'b', url: sim.url('b'), privacyMasks: MASK_B }], [
    ...mqtt(30), 'redaction:', '  plates: false', '  plates_off_reason: a private yard; no public road in view',
  ]);
  writeFileSync(config, readFileSync(config, 'utf8').replace('level: debug', 'level: info'));
  const reloadedAt = Date.now();
  const out = await runCli(['reload', '--config', config, '--json']);
  t.equal(out.code, 0, `reload accepted: ${out.stderr}`);
  const r = JSON.parse(out.stdout) as { added: string[]; unchanged: string[]; changed: string[]; applied: string[]; restart_required: string[] };
  t.same(r.added, ['b'], 'camera b added');
  t.same(r.unchanged, ['a'], 'camera a keeps its recorder (a mask does not restart it)');
  for (const c of ['cameras[a].privacy_masks', 'cameras[b]', 'redaction.plates', 'redaction.plates_off_reason', 'log.level', 'mqtt.health_interval_s', 'mqtt.password_file (contents)']) {
    t.ok(r.changed.includes(c), `the outcome names ${c}`);
  }
  t.ok(r.applied.includes('log.level info'), 'the log level is applied');
  t.ok(r.applied.includes('mqtt reconnects with the new settings'), `mqtt reconnects: ${r.applied.join(', ')}`);
  t.same(r.restart_required, [], 'nothing needs a restart');
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online' && m.at >= reloadedAt, 20000, 'online again on the new connection');

  const a = await snapshot('a');
  t.same(a.settings.masks, [{ x: 0, y: 0, w: 0.5, h: 0.5 }], 'the next snapshot of a carries its new mask');
  t.same(a.switched_off, [{ detector: 'plates', reason: 'a private yard; no public road in view' }], 'and says plates were not hidden, and why');
  t.same(a.detectors.map((d) => d.name), ['blazeface'], 'the text detector is no longer run');
  await until(() => (() => { const d = new Database(join(dir, 'data', 'catalog.db'), { readonly: true }); try { return (d.prepare("SELECT count(*) AS n FROM segments WHERE camera = 'b'").get() as { n: number }).n > 0; } finally { d.close(); } })(), 30000, 'a segment of b');
  t.same((await snapshot('b')).settings.masks, [{ x: 0.5, y: 0.5, w: 0.25, h: 0.25 }], 'a camera added by reload is exported with its masks');

  const debugBefore = daemon.countLog(/"level":20/);
  await sleep(4000);
  t.equal(daemon.countLog(/"level":20/), debugBefore, 'no debug line since the level went to info');

  // b removed: its recordings stay, and are exported with the masks it had
  write([{ ...camA, privacyMasks: MASK_A }], [...mqtt(30), 'redaction:', '  plates: false', '  plates_off_reason: a private yard; no public road in view']);
  writeFileSync(config, readFileSync(config, 'utf8').replace('level: debug', 'level: info'));
  const removed = JSON.parse((await runCli(['reload', '--config', config, '--json'])).stdout) as { removed: string[]; applied: string[] };
  t.same(removed.removed, ['b']);
  t.same(removed.applied, [], 'nothing else to apply');
  t.same((await snapshot('b')).settings.masks, [{ x: 0.5, y: 0.5, w: 0.25, h: 0.25 }], 'a camera removed by reload is still exported with its masks');

  // a camera's password file rewritten (same path): the camera restarts with what it holds now
  writeFileSync(camPassword, 'cam-pass-1\r\n');
  const rotated = JSON.parse((await runCli(['reload', '--config', config, '--json'])).stdout) as { restarted: string[]; changed: string[] };
  t.same(rotated.restarted, ['a'], 'camera a restarts');
  t.same(rotated.changed, ['cameras[a].source.password_file (contents)'], 'because its password file changed');

  // a new data dir cannot be applied running: the rest is, and the outcome says so
  // and so can neither the log's format nor the page and metrics (README: reload names them)
  write([{ ...camA, privacyMasks: MASK_A }], [...mqtt(30), 'http:', '  metrics_listen: 127.0.0.1:0'], { dataDir: join(dir, 'elsewhere') });
  writeFileSync(config, readFileSync(config, 'utf8').replace('level: debug', 'level: info\n  format: json'));
  // the new config names another data dir: find the running daemon by the one it uses
  const moved = await runCli(['reload', '--data', join(dir, 'data'), '--json']);
  t.equal(moved.code, 0, 'accepted');
  const m = JSON.parse(moved.stdout) as { ok: boolean; restart_required: string[]; changed: string[] };
  t.same(m.restart_required, [
    'storage.path: the data dir cannot move under a running daemon; restart the service',
    'log.format: the log destination is set up once, at start; restart the service',
    'http: the status page and metrics keep the settings and files they started with; restart the service',
  ], 'storage.path, log.format and http need a restart');
  t.ok(m.changed.includes('redaction.plates'), 'plates back on is applied');
  const text = await runCli(['reload', '--data', join(dir, 'data')]);
  t.match(text.stderr, /not applied until the service restarts: storage\.path.*log\.format.*http/s, 'the CLI says so too, on a later reload as well: they stay unapplied until the restart (the second reload had forgotten log.format and http)');
  const back = await snapshot('a');
  t.same(back.switched_off, [], 'plates are hidden again from the next snapshot on');
  t.same(back.detectors.map((d) => d.name), ['blazeface', 'ppocr-det'], 'by the text detector');

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const switches = db.prepare("SELECT action, reason FROM audit_log WHERE action LIKE 'redaction.switched_%' ORDER BY id").all();
  t.same(switches, [
    { action: 'redaction.switched_off', reason: 'plates: a private yard; no public road in view' },
    { action: 'redaction.switched_on', reason: null },
  ], 'switching plates off, and on again, is audited');
  t.equal((await daemon.stop()).code, 0);
});
