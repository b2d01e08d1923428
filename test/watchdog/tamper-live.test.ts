import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProcess, sleep, until, writeConfig } from '../support/daemon.js';
import { FOOTAGE, FootageCamera, type Effect } from '../support/footage-camera.js';

/*
 * The acceptance test of tamper detection: real footage served over RTSP (opencv-doc's vtest.avi,
 * photographs brought to life), recorded by the daemon, and what happens in front of each lens
 * switched mid-stream, all cameras at once. Each tamper must raise its kind within 20 s; normal
 * life (nothing, people passing right in front of the lens, lights dimmed, a switch to
 * monochrome) must raise nothing. A view shifted sideways is in tamper-analysis.test.ts (with
 * the other changes, on other photographs) and in bench/tamper.ts.
 */
const CAMERAS: Array<{ id: string; footage: string; effect: Effect; param?: number; expect: string | null }> = [
  { id: 'hand', footage: FOOTAGE.vtest, effect: 'cover', expect: 'covered' },
  { id: 'paint', footage: FOOTAGE.leuven, effect: 'spray', expect: 'covered' },
  { id: 'blur', footage: FOOTAGE.vtest, effect: 'defocus', param: 4, expect: 'defocused' },
  { id: 'turned', footage: FOOTAGE.rocket, effect: 'rotate', param: 15, expect: 'moved' },
  { id: 'stuck', footage: FOOTAGE.building, effect: 'freeze', expect: 'frozen' },
  { id: 'plain', footage: FOOTAGE.vtest, effect: 'none', expect: null },
  { id: 'passers', footage: FOOTAGE.vtest, effect: 'person', param: 12, expect: null },
  { id: 'dimmed', footage: FOOTAGE.leuven, effect: 'dim', param: 0.35, expect: null },
  { id: 'night', footage: FOOTAGE.rocket, effect: 'mono', expect: null },
];
const DEADLINE_MS = 20_000;
/** normal life is watched this long after the change (three persistence periods and more) */
const NORMAL_WATCH_MS = 40_000;

interface EventRow { at_ms: number; type: string; camera: string; data: string }

t.test('each tamper raises its kind within 20 s, with a redacted still; normal life raises nothing', async (t) => {
  const sim = await new FootageCamera({ mounts: Object.fromEntries(CAMERAS.map((c) => [c.id, c.footage])), width: 384, height: 288, fps: 6, gop: 6 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, CAMERAS.map((c) => ({ id: c.id, url: sim.url(c.id), tamper: { learn_s: 10 } })), { segmentSeconds: 4 });
  const dataDir = join(dir, 'data');
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });

  for (const c of CAMERAS) await daemon.waitForLog(new RegExp(`"camera":"${c.id}".*view reference learned`), 180_000);
  t.pass('every camera learned its normal view');

  const applied = new Map<string, number>();
  await Promise.all(CAMERAS.map(async (c) => {
    await sim.apply(c.id, c.effect, c.param);
    applied.set(c.id, Date.now());
  }));
  const raised = (id: string) => new RegExp(`"event":"tamper_suspected","camera":"${id}"`).test(daemon.output);
  await until(() => CAMERAS.filter((c) => c.expect).every((c) => raised(c.id)), 45_000, 'every tamper raised').catch(() => undefined);
  const start = Math.min(...applied.values());
  if (Date.now() < start + NORMAL_WATCH_MS) await sleep(start + NORMAL_WATCH_MS - Date.now());
  // the stills are written after their events, one at a time, at low priority
  const tampered = CAMERAS.filter((c) => c.expect && raised(c.id));
  await until(() => tampered.every((c) => new RegExp(`"camera":"${c.id}".*tamper still written`).test(daemon.output)), 120_000, 'every still written').catch(() => undefined);
  t.notOk(readFileSync(`/proc/${daemon.pid}/maps`, 'utf8').includes('onnxruntime'),
    'the stills were redacted in a child process: the daemon itself never loaded ONNX Runtime (docs/tamper.md, memory)');
  t.equal(daemon.countLog(/view analysis thread started/), 0, `${CAMERAS.length} cameras: every view analysed on the event loop, no thread started (docs/tamper.md, the analysis)`);
  const { code } = await daemon.stop();
  t.equal(code, 0, 'the daemon stops cleanly');

  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const events = db.prepare("SELECT at_ms, type, camera, data FROM events WHERE type LIKE 'tamper_%' ORDER BY id").all() as EventRow[];
  for (const c of CAMERAS) {
    const mine = events.filter((e) => e.camera === c.id && e.type === 'tamper_suspected');
    if (!c.expect) {
      t.same(mine.map((e) => JSON.parse(e.data).kind), [], `${c.id} (${c.effect}): normal life raises nothing`);
      continue;
    }
    const first = mine[0];
    if (!t.ok(first, `${c.id} (${c.effect}) raised tamper_suspected`)) continue;
    const data = JSON.parse(first.data) as { kind: string; score: number; since_ms: number; still: string | null };
    const after = first.at_ms - applied.get(c.id)!;
    t.equal(data.kind, c.expect, `${c.id} (${c.effect}): kind ${c.expect}`);
    t.ok(after <= DEADLINE_MS, `${c.id} (${c.effect}): raised ${(after / 1000).toFixed(1)} s after the change (<= 20 s)`);
    t.ok(data.score > 0 && data.score <= 1, `${c.id}: a score in (0, 1]: ${data.score}`);
    t.ok(data.since_ms >= applied.get(c.id)! - 1000 && data.since_ms <= first.at_ms, `${c.id}: since_ms is when the change was first seen`);
    t.ok(data.still && existsSync(join(dataDir, data.still)) && existsSync(join(dataDir, `${data.still}.manifest.json`)),
      `${c.id}: the still ${data.still} and its signed manifest are kept on the box`);
  }
  const stills = db.prepare("SELECT camera, reason FROM audit_log WHERE action = 'snapshot' AND actor = 'edge-nvr'").all() as Array<{ camera: string; reason: string }>;
  for (const c of CAMERAS.filter((x) => x.expect)) {
    t.ok(stills.some((s) => s.camera === c.id && s.reason === `tamper_suspected ${c.expect}`), `${c.id}: the still is in the audit log`);
  }
  const views = new Map((db.prepare('SELECT camera, view FROM camera_view').all() as Array<{ camera: string; view: string }>).map((r) => [r.camera, JSON.parse(r.view) as { state: string; kinds: string[] }]));
  for (const c of CAMERAS) {
    const v = views.get(c.id);
    t.equal(v?.state, c.expect ? 'tampered' : 'ok', `${c.id}: view state ${c.expect ? 'tampered' : 'ok'} in the catalog (what status shows)`);
    if (c.expect) t.ok(v?.kinds.includes(c.expect), `${c.id}: view kinds name ${c.expect}`);
  }
});
