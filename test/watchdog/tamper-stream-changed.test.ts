import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until, writeConfig } from '../support/daemon.js';

type Json = Record<string, any>;
/** the PTZ camera's learn_s once turned on, the shortest the config allows: its learning is waited
 * for, not measured (a reference still needs its 5 samples, however short learn_s is) */
const PTZ_LEARN_S = 5;

t.test('a stream that changes resolution raises stream_changed, audited; a camera opted out is still identified, and a reload turns it on in place', async (t) => {
  const sim = await new CameraSim({ mounts: ['door', 'ptz'], width: 640, height: 360, fps: 10, gop: 10 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [
    { id: 'door', url: sim.url('door'), tamper: { learn_s: 8 } },
    { id: 'ptz', url: sim.url('ptz'), tamper: { enabled: false, reason: 'PTZ patrol tour' } },
  ], { segmentSeconds: 2 });
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  for (const id of ['door', 'ptz']) await daemon.waitForLog(new RegExp(`"camera":"${id}".*camera identity pinned \\(stream\\)`), 60_000);

  const show = async () => JSON.parse((await runCli(['tamper', 'show', '--json', '--config', config])).stdout) as { cameras: Json[] };
  const ptz = (await show()).cameras.find((c) => c.camera === 'ptz')!;
  t.equal(ptz.view.state, 'off', 'the opted-out camera\'s view is off');
  t.equal(ptz.view.detail, 'PTZ patrol tour', 'with its written reason');
  t.same([ptz.identity.codec, ptz.identity.width, ptz.identity.height], ['h264', 640, 360], 'its stream is pinned all the same');

  // the camera comes back from a "firmware update" at a lower resolution, same address
  sim.opts.width = 320;
  sim.opts.height = 240;
  await sim.restart();
  const changed = (id: string) => new RegExp(`"event":"tamper_suspected","camera":"${id}","kind":"stream_changed"`);
  await daemon.waitForLog(changed('door'), 60_000);
  await daemon.waitForLog(changed('ptz'), 30_000);
  t.pass('both cameras raise stream_changed');
  // the still of the change shows the new stream, not the last picture of the old one (it did: a
  // camera swapped for another at the same address was shown as the one swapped away)
  const event = daemon.output.split('\n').find((l) => changed('door').test(l))!;
  const still = join(dir, 'data', (JSON.parse(event) as Json).still as string);
  t.ok(still, `door's event names its still: ${still}`);
  await until(() => existsSync(still), 30_000, 'the still written');
  const size = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', still], { encoding: 'utf8' }).trim();
  t.equal(size, '320,240', 'the still is a picture of the new stream');

  const status = JSON.parse((await runCli(['status', '--json', '--config', config])).stdout) as Json;
  for (const c of status.cameras as Json[]) {
    t.same([c.stream.width, c.stream.height], [320, 240], `${c.camera}: status shows the stream as recorded now`);
    t.ok(c.view.kinds.includes('stream_changed'), `${c.camera}: and stream_changed in its view`);
  }

  // turning view analysis on for the PTZ camera: applied in place, its recorder keeps running
  writeFileSync(config, readFileSync(config, 'utf8').replace('tamper: {"enabled":false,"reason":"PTZ patrol tour"}', `tamper: {"learn_s":${PTZ_LEARN_S}}`));
  const reload = await runCli(['reload', '--config', config]);
  t.equal(reload.code, 0, `reload exits 0: ${reload.stderr}`);
  await daemon.waitForLog(/"msg":"config reloaded"/, 30_000);
  t.match(daemon.output, /"unchanged":\["door","ptz"\]/, 'no recorder restarted');
  await until(() => new RegExp('"camera":"ptz".*view reference learned').test(daemon.output), 60_000, 'the ptz view learned');
  t.pass('the PTZ camera\'s view is learned once turned on');

  const { code } = await daemon.stop();
  t.equal(code, 0);

  // a restart with the change still there, unacknowledged: it goes on from when it began; it is
  // not announced anew (each restart and each reload that restarted the camera had raised it
  // again, with no still and a new onset, and audited it once more: an outside probe)
  const onset = (JSON.parse(event) as Json).since_ms as number;
  const again = new DaemonProcess(config).start();
  t.teardown(() => { again.proc?.kill('SIGKILL'); });
  await again.waitForLog(/"camera":"door".*tamper suspected since before this run: it goes on/, 60_000);
  const goesOn = again.output.split('\n').find((l) => /"camera":"door".*it goes on/.test(l))!;
  const since = (JSON.parse(goesOn) as Json).sinceMs as number;
  t.ok(Math.abs(since - onset) < 1000, `from its first onset (when it was audited: ${since - onset} ms from the event's)`);
  const shown = JSON.parse((await runCli(['status', '--json', '--config', config])).stdout) as Json;
  t.ok((shown.cameras as Json[]).find((c) => c.camera === 'door')!.view.kinds.includes('stream_changed'), 'status still shows it');
  t.notMatch(again.output, changed('door'), 'no new event');
  t.equal((await again.stop()).code, 0);

  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const audits = db.prepare("SELECT camera, details FROM audit_log WHERE action = 'tamper.stream_changed' ORDER BY id").all() as Array<{ camera: string; details: string }>;
  t.same(audits.map((a) => a.camera).sort(), ['door', 'ptz'], 'one audit entry per camera');
  const d = JSON.parse(audits[0]!.details) as Json;
  t.same([d.pinned.width, d.pinned.height, d.seen.width, d.seen.height], [640, 360, 320, 240], 'naming the pinned and the seen resolution');
});
