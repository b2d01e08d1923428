import t from 'tap';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { captureMasksEnforced } from '../../daemon/commands/check.js';
import { maskSetHash } from '../../recorder/capture-masks.js';
import { maskDetail } from '../../watchdog/capture-mask-check.js';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until } from '../support/daemon.js';
import { configHead, startOnvifCamera } from '../support/onvif.js';

const W = 320, H = 240;
const USER = 'installer', PASSWORD = 'pw-masks-on-camera';
/** a PIN pad (rectangle) and a neighbour's window (triangle) */
const MASKS = [{ x: 0.5, y: 0.1, w: 0.4, h: 0.5 }, { points: [[0, 0.6], [0.35, 1], [0, 1]] }];
const MASKS_YAML = ['capture_masks:', '  - { x: 0.5, y: 0.1, w: 0.4, h: 0.5 }', '  - { points: [[0, 0.6], [0.35, 1], [0, 1]] }'];

/** Every frame of a recorded file, RGB24 at the camera's size. */
function frames(file: string): Buffer[] {
  const r = spawnSync('ffmpeg', ['-v', 'quiet', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 });
  const out = r.stdout ?? Buffer.alloc(0);
  const size = W * H * 3;
  const list: Buffer[] = [];
  for (let at = 0; at + size <= out.length; at += size) list.push(out.subarray(at, at + size));
  return list;
}

interface Row { id: number; path: string; start_ms: number; provenance: string | null }

t.test('capture masks on an ONVIF camera: pushed, read back, seen blank on the recording; their loss detected and the box takes over', async (t) => {
  const dir = t.testdir();
  const svg = join(dir, 'camera-masks.svg');
  // snow: detail in every pixel, so a blank area is the mask's doing; the camera paints the masks its ONVIF side holds
  const sim = await new CameraSim({ mounts: ['pinpad', 'lobby'], pattern: 'snow', width: W, height: H, fps: 10, gop: 10, user: USER, password: PASSWORD, maskSvg: svg }).start();
  t.teardown(() => sim.kill());
  const onvif = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('pinpad', false), media2: true, maskSvgFile: svg, width: W, height: H });
  // an ONVIF camera without Media2: it cannot hold masks
  const plain = await startOnvifCamera(t, { username: USER, password: PASSWORD, streamUri: sim.url('lobby', false), width: W, height: H });

  const config = join(dir, 'config.yaml');
  const onvifCamera = (id: string, host: string, extra: string[]) => [
    `  - id: ${id}`, '    source:', '      type: onvif', `      host: "${host}"`, `      username: ${USER}`, `      password: ${PASSWORD}`,
    '    record:', '      segment_seconds: 1', '      timeout_seconds: 3', ...extra.map((l) => `    ${l}`),
  ];
  writeFileSync(config, configHead(join(dir, 'data'), ['  camera_masks_check_s: 3600']) + [
    'cameras:',
    ...onvifCamera('pinpad', onvif.address, MASKS_YAML),
    ...onvifCamera('lobby', plain.address, [...MASKS_YAML, 'capture_masks_on: camera']),
    '',
  ].join('\n'));
  const t0 = Date.now();
  const phase = (what: string) => t.comment(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const hash = maskSetHash(MASKS);
  const dbPath = join(dir, 'data', 'catalog.db');
  const rows = (since = 0): Row[] => {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare("SELECT id, path, start_ms, provenance FROM segments WHERE camera = 'pinpad' AND start_ms >= ? ORDER BY id").all(since) as Row[];
    } finally { db.close(); }
  };
  const events = (type: string): Array<{ camera: string; data: Record<string, unknown> }> => {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT camera, data FROM events WHERE type = ? ORDER BY id').all(type) as Array<{ camera: string; data: string }>)
        .map((e) => ({ camera: e.camera, data: JSON.parse(e.data) as Record<string, unknown> }));
    } finally { db.close(); }
  };
  /** every frame of each segment: blank under the masks, picture elsewhere */
  const allMasked = (list: Row[], what: string) => {
    let n = 0;
    for (const row of list) {
      for (const [i, f] of frames(join(dir, 'data', row.path)).entries()) {
        n++;
        const d = maskDetail(f, W, H, MASKS);
        if (d.inside.some((std) => !(std <= 3))) t.fail(`${row.path} frame ${i}: detail under a mask (std ${d.inside.map((v) => v.toFixed(1)).join(', ')})`);
        if (d.outside < 30) t.fail(`${row.path} frame ${i}: the rest of the frame lost its picture (std ${d.outside.toFixed(1)})`);
      }
    }
    t.ok(n >= 5, `${what}: ${n} frames of ${list.length} segments, each blank under the masks with the picture elsewhere`);
  };

  // 1. pushed through ONVIF with the camera's credentials, read back, recorded by stream copy
  await daemon.waitForLog(/capture masks enforced by the camera/, 30_000);
  phase('enforced by the camera');
  t.equal(onvif.masks.size, 2, 'the camera holds both masks');
  t.ok(onvif.credentialed.includes('CreateMask') && onvif.credentialed.includes('GetMasks'), 'created and read back with the camera\'s credentials');
  await until(() => rows().length >= 2, 60_000, 'two segments masked by the camera');
  const first = rows();
  for (const r of first) t.same(JSON.parse(r.provenance ?? 'null'), { enforced: 'camera', masks: hash }, `${r.path}: provenance says the camera enforced this mask set`);
  phase('segments');
  allMasked(first, 'masked by the camera');
  phase('frames checked');
  await daemon.waitForLog(/capture masks seen blank on a recorded picture.*pinpad|pinpad.*capture masks seen blank on a recorded picture/, 30_000);
  t.pass('the daemon checked a sampled recorded picture: blank under the masks');

  phase('phase 1 done');
  // the camera that cannot hold masks, told to mask on the camera, is not recorded
  await daemon.waitForLog(/camera not recorded: its capture masks cannot be enforced/, 10_000);
  t.match(events('capture_mask_unenforced'), [{ camera: 'lobby', data: { reason: /no Media2 service/, masks: hash } }], 'lobby: capture_mask_unenforced, saying why');

  // 2. the camera reboots (its stream drops) and comes back without its masks; the periodic
  // read-back is an hour away: the box reads them back before it reconnects
  await sim.kill();
  const rebootAt = Date.now();
  onvif.reboot();
  sim.opts.port = sim.port;
  await sim.start();
  await until(() => events('capture_mask_lost').length >= 1, 30_000, 'capture_mask_lost');
  const lost = events('capture_mask_lost')[0]!;
  t.match(lost, { camera: 'pinpad', data: { where: 'camera', detected_by: 'read_back', reason: /no longer holds 2 of its 2/, masks: hash } }, 'the loss is raised, found by reading the masks back');
  phase('loss detected');
  t.ok((lost.data.unverified_since_ms as number) <= rebootAt, 'it names when the masks were last verified (recordings after that may be unmasked)');
  await until(() => daemon.countLog(/capture masks enforced by the camera/) >= 2, 30_000, 'the masks pushed again');
  t.equal(onvif.masks.size, 2, 'the camera holds both masks again');
  await until(() => rows(rebootAt).length >= 1, 60_000, 'segments after the reboot');
  allMasked(rows(rebootAt), 'nothing recorded unmasked after the reboot');
  phase('phase 2 done');
  // 3. a camera that says it holds the masks while its picture shows the area: the box takes over
  const lieAt = Date.now();
  onvif.opts.maskSvgFile = undefined;
  writeFileSync(svg, '');
  await daemon.waitForLog(/capture masks enforced on the box/, 60_000);
  phase('box path');
  const lies = events('capture_mask_lost').slice(1);
  t.match(lies, [{ camera: 'pinpad', data: { where: 'camera', detected_by: 'frame' } }], 'detail seen under masks the camera still lists: detected on a sampled recorded picture');
  t.equal(onvif.masks.size, 2, 'the camera still lists them');
  await until(() => rows(lieAt).filter((r) => r.provenance?.includes('"box"')).length >= 1, 60_000, 'segments masked by the box');
  const boxed = rows(lieAt).filter((r) => r.provenance?.includes('"box"'));
  for (const r of boxed) t.same(JSON.parse(r.provenance ?? 'null'), { enforced: 'box', encoder: 'x264enc', masks: hash }, `${r.path}: provenance says the box enforced them`);
  allMasked(boxed, 'masked by the box after the camera was caught');

  phase('phase 3 done');
  const { code } = await daemon.stop('SIGTERM');
  t.equal(code, 0, 'the daemon stops cleanly');
  t.notMatch(daemon.output, PASSWORD, 'the password never reaches the log');

  const status = await runCli(['status', '--config', config, '--json']);
  t.match(JSON.parse(status.stdout), { cameras: [{ camera: 'pinpad', capture_masks: 'box' }, { camera: 'lobby', recording: false, capture_masks: 'none' }] },
    'status: pinpad masked on the box now, lobby masked nowhere (not recorded)');
  phase('status');
  // the check itself, in this process (the CLI's other checks probe every camera's stream: seconds)
  const masksCheck = await captureMasksEnforced({ config: loadConfig(config), configPath: config });
  t.match(masksCheck, { ok: false, detail: /pinpad: enforced by the camera \(ONVIF privacy masks; it holds 2 of 2 now.*lobby: capture_masks_on is camera, and the camera cannot hold them \(.*no Media2 service/ },
    'check: how each camera\'s masks are enforced, failing for the one that cannot be');
});
