import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readlinkSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const INSTALL = join(REPO, 'scripts/install');
const PROVISION = join(REPO, 'scripts/provision');

/** A throwaway root that looks like a Debian base: systemd's own units and /usr/bin/node. */
function throwawayRoot(t: { teardown(fn: () => unknown): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'edge-nvr-root-'));
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
