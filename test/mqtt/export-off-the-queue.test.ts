import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProcess, segmentIndexed, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { Platform } from './platform.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';
/** the unit's TimeoutStopSec (systemd/edge-nvr.service) */
const UNIT_STOP_TIMEOUT_MS = 20_000;

const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

t.test('an export runs off the command queue, has a maximum range, and SIGTERM cancels it cleanly', async (t) => {
  // 720p: redacting it takes about a second per second of footage here, so the export below runs long
  const { data: dataDir, broker, secret: SECRET, config } = await mqttBox(t, { sim: { width: 1280, height: 720, fps: 15 }, commands: ['max_export_s: 600'] });
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 30000, 'online');
  await daemon.waitForLog(segmentIndexed('cam1'), 30000);
  const firstStart = Date.now();
  // about 16 s of 720p footage
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= 8, 60000, '8 segments');
  const platform = new Platform(sub, PREFIX, 'test-box', SECRET);

  const tooLong = await platform.one('export', platform.request('export', { camera: 'cam1', from_ms: firstStart - 3_600_000, to_ms: firstStart, reason: 'the whole hour' }));
  t.equal(tooLong.error?.code, 'invalid', 'a range over mqtt.commands.max_export_s is refused');
  t.match(tooLong.error?.message, /at most 600 s \(mqtt\.commands\.max_export_s\)/);

  const exportReq = platform.request('export', { camera: 'cam1', from_ms: firstStart - 10_000, to_ms: Date.now(), reason: 'incident 12', destination: 'platform archive' });
  await platform.publish('export', exportReq);
  const exportsDir = join(dataDir, 'exports');
  // two passes: the whole clip is looked at before the partial file is written (slow on a busy box)
  await until(() => list(exportsDir).some((f) => f.includes('.partial-')), 90000, 'the export writing its partial file');

  const now = Date.now();
  const hold = await platform.one('hold', platform.request('hold', { camera: 'cam1', from_ms: now - 60_000, to_ms: now, reason: 'incident 12' }), { timeoutMs: 10000 });
  t.equal(hold.ok, true, `a hold is answered while the export runs: ${JSON.stringify(hold.error)}`);
  const reload = await platform.one('reload', platform.request('reload', {}), { timeoutMs: 15000 });
  t.equal(reload.ok, true, `so is a reload: ${JSON.stringify(reload.error)}`);
  t.equal(platform.replies('export').filter((r) => r.id === exportReq.id).length, 0, 'and the export is still running');
  t.ok(list(exportsDir).some((f) => f.includes('.partial-')), 'still writing');

  const termAt = Date.now();
  const exited = await daemon.stop('SIGTERM');
  const tookMs = Date.now() - termAt;
  t.equal(exited.code, 0, 'SIGTERM during an export: exit 0');
  t.ok(tookMs < UNIT_STOP_TIMEOUT_MS, `stopped in ${tookMs} ms, within the unit's stop timeout (${UNIT_STOP_TIMEOUT_MS} ms)`);
  const cancelled = await sub.waitFor((m) => m.topic === `${PREFIX}/cmd/export/reply` && (m.json as { id: string }).id === exportReq.id, 5000, 'the export reply');
  t.match(cancelled.json, { ok: false, error: { code: 'failed', message: /^cancelled: the daemon is stopping; nothing was written/ } }, 'the export is answered: cancelled');
  t.same(list(exportsDir), [], 'no output, partial file or manifest is left in exports/');
  t.same(list(join(dataDir, 'recordings/cam1/.staging')).filter((f) => f.endsWith('.mp4')), [], 'the open segment was finalised and indexed');

  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const last = db.prepare("SELECT max(end_ms) AS end FROM segments WHERE camera = 'cam1'").get() as { end: number };
  t.ok(termAt - last.end < 4000, `recording reaches the stop (${termAt - last.end} ms before SIGTERM)`);
  const failed = db.prepare("SELECT details FROM audit_log WHERE action = 'export.failed'").all() as Array<{ details: string }>;
  t.equal(failed.length, 1, 'the cancelled export is in the audit log');
  t.match(JSON.parse(failed[0]!.details), { error: /^cancelled/ });
  const cmd = db.prepare("SELECT details FROM audit_log WHERE action = 'cmd.export'").all() as Array<{ details: string }>;
  t.match(cmd.map((r) => JSON.parse(r.details) as unknown), [{ ok: false, code: 'invalid' }, { ok: false, error: /cancelled/ }], 'and so are the commands (the range refused, the export cancelled)');
  t.equal((db.prepare('SELECT count(*) AS n FROM holds').get() as { n: number }).n, 1, 'the hold sent during the export is kept');
});
