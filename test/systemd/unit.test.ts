import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EXIT } from '../../daemon/args.js';
import { CLI } from '../support/cli.js';
import { parseUnit } from '../support/unit-file.js';

const SYSTEMD_DIR = fileURLToPath(new URL('../../systemd/', import.meta.url));
const UNIT = join(SYSTEMD_DIR, 'edge-nvr.service');
const SYSUSERS = join(SYSTEMD_DIR, 'edge-nvr.sysusers');
const TMPFILES = join(SYSTEMD_DIR, 'edge-nvr.tmpfiles');
const unitText = readFileSync(UNIT, 'utf8');

function scratch(test: Pick<typeof t, 'teardown'>): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-unit-'));
  test.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The unit as it would run from this checkout: this node, this build. */
function localCopy(dir: string, text = unitText): string {
  const path = join(dir, 'edge-nvr.service');
  writeFileSync(path, text.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${CLI} run --config /etc/edge-nvr/config.yaml`)
    .replace(/^ExecReload=.*$/m, `ExecReload=${process.execPath} ${CLI} reload --config /etc/edge-nvr/config.yaml`));
  return path;
}

/** `systemd-analyze verify`: no PID 1, no man pages and no generators needed (a container is fine). */
function verify(path: string) {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', '--generators=no', path], { encoding: 'utf8' });
  const aboutUnit = r.stderr.split('\n').filter((l) => l.includes('edge-nvr.service'));
  return { status: r.status, stderr: r.stderr, aboutUnit, error: r.error };
}

t.test('the unit has what the watchdog issue requires', async (t) => {
  const unit = parseUnit(unitText);
  const svc = unit.get('Service')!;
  t.ok(svc, '[Service] section');
  const one = (key: string) => {
    const values = svc.get(key);
    return values?.[values.length - 1];
  };
  const expected: Record<string, string> = {
    Type: 'notify',
    NotifyAccess: 'all',
    WatchdogSec: '30',
    Restart: 'always',
    RestartSec: '2',
    RestartPreventExitStatus: String(EXIT.catalog),
    User: 'edge-nvr',
    Group: 'edge-nvr',
    ProtectSystem: 'strict',
    ReadWritePaths: '/var/lib/edge-nvr',
    StateDirectory: 'edge-nvr',
    ConfigurationDirectory: 'edge-nvr',
    NoNewPrivileges: 'yes',
    CapabilityBoundingSet: '',
    AmbientCapabilities: '',
    PrivateTmp: 'yes',
    ProtectHome: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectControlGroups: 'yes',
    RestrictSUIDSGID: 'yes',
    LockPersonality: 'yes',
    RestrictRealtime: 'yes',
    RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    SystemCallArchitectures: 'native',
    SystemCallErrorNumber: 'EPERM',
    PrivateMounts: 'yes',
    ProtectProc: 'invisible',
    RemoveIPC: 'yes',
    UMask: '0077',
    KillMode: 'control-group',
    TimeoutStopSec: '20',
  };
  for (const [key, value] of Object.entries(expected)) t.equal(one(key), value, `${key}=${value}`);
  t.same(svc.get('CapabilityBoundingSet'), [''], 'exactly one CapabilityBoundingSet=, and it is empty: no capabilities');
  t.same(svc.get('Environment'), ['NODE_ENV=production', 'NODE_OPTIONS=--max-semi-space-size=1', 'ORT_DISABLE_TELEMETRY=1', 'MALLOC_ARENA_MAX=2'],
    'production, a 1 MB young generation and two malloc arenas (bench/record runs the daemon with both), and no ONNX Runtime telemetry');
  t.same(svc.get('SystemCallFilter'), ['@system-service', '~@privileged @resources', 'capset setpriority'],
    'the system calls of a system service, none of the privileged or resource ones but capset (setpriv) and setpriority (nice)');
  t.equal(svc.get('ProcSubset'), undefined, 'no ProcSubset=pid: the relay reads /proc/net/tcp, reload /proc/locks');
  t.equal(svc.get('MemoryDenyWriteExecute'), undefined, "no MemoryDenyWriteExecute (V8's JIT needs W+X pages)");
  t.equal(svc.get('SupplementaryGroups'), undefined, 'group video comes from sysusers, not from a name that may not exist');
  t.equal(one('ExecStart'), '/usr/bin/node /usr/lib/edge-nvr/dist/daemon/cli.js run --config /etc/edge-nvr/config.yaml');
  t.equal(unit.get('Unit')?.get('StartLimitIntervalSec')?.[0], '0', 'never stops restarting');
  t.same(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
});

t.test('systemd-analyze verify accepts it without a warning', async (t) => {
  const dir = scratch(t);
  const r = verify(localCopy(dir));
  t.equal(r.error, undefined, 'systemd-analyze runs');
  t.equal(r.status, 0, `exit 0; stderr:\n${r.stderr}`);
  t.same(r.aboutUnit, [], 'no warning about the unit');

  // The same check catches what systemd would silently ignore at run time.
  const typo = verify(localCopy(scratch(t), unitText.replace('ProtectSystem=strict', 'ProtectSytem=strict')));
  t.match(typo.aboutUnit.join('\n'), /Unknown key 'ProtectSytem'/, 'a misspelt hardening line is reported');
  const badValue = verify(localCopy(scratch(t), unitText.replace('NoNewPrivileges=yes', 'NoNewPrivileges=maybe')));
  t.match(badValue.aboutUnit.join('\n'), /NoNewPrivileges|boolean/, 'a bad value is reported');
  const missingNode = join(dir, 'missing.service');
  writeFileSync(missingNode, readFileSync(join(dir, 'edge-nvr.service'), 'utf8').replace(`ExecStart=${process.execPath}`, 'ExecStart=/nonexistent/node'));
  t.not(verify(missingNode).status, 0, 'an ExecStart binary that does not exist fails verify');
});

t.test('systemd-analyze security rates the sandbox OK (exposure at most 2.1 of 10)', async (t) => {
  const path = localCopy(scratch(t));
  const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', '--threshold=21', path], { encoding: 'utf8' });
  const level = /Overall exposure level for edge-nvr\.service: (\d+\.\d+) (\w+)/.exec(r.stdout);
  t.ok(level, `an overall level is printed\n${r.stderr}`);
  t.equal(r.status, 0, `exposure ${level?.[1]} ${level?.[2]} is within the threshold`);
  t.ok(Number(level?.[1]) <= 2.1, `exposure ${level?.[1]} <= 2.1 (2.0, plus setpriority for the niced egress processes)`);
  const json = JSON.parse(spawnSync('systemd-analyze', ['security', '--offline=yes', '--json=short', path], { encoding: 'utf8' }).stdout) as { name: string; set: boolean }[];
  const set = (name: string) => json.find((c) => c.name === name)?.set;
  t.equal(set('NoNewPrivileges='), true);
  t.equal(set('ProtectSystem='), true);
  t.equal(set('CapabilityBoundingSet=~CAP_SYS_ADMIN'), true, 'no CAP_SYS_ADMIN');
  t.equal(set('CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)'), true, 'no identity changes');
  t.equal(set('MemoryDenyWriteExecute='), false, 'W+X stays allowed for the JIT');
  t.equal(set('SystemCallFilter=~@resources'), false, '@resources: setpriority allowed, for the niced egress processes');
  for (const group of ['@mount', '@module', '@raw-io', '@reboot', '@swap', '@clock', '@debug']) {
    t.equal(set(`SystemCallFilter=~${group}`), true, `no ${group} system calls`);
  }
});

t.test('sysusers and tmpfiles create the user and the directories the unit expects', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('offline root', { skip: 'systemd-tmpfiles needs root to chown' });
  const root = scratch(t);
  mkdirSync(join(root, 'etc'));
  // Debian's base-passwd has group video (44): the user joins it, no second video group appears.
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nvideo:x:44:\n');
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');

  const su = spawnSync('systemd-sysusers', [`--root=${root}`, SYSUSERS], { encoding: 'utf8' });
  t.equal(su.status, 0, `systemd-sysusers exits 0\n${su.stderr}`);
  t.same(su.stderr.split('\n').filter((l) => l.includes('edge-nvr.sysusers')), [], 'no complaint about the file');
  const passwd = readFileSync(join(root, 'etc', 'passwd'), 'utf8');
  const user = /^edge-nvr:x:(\d+):(\d+):[^:\n]*:([^:\n]*):([^:\n]*)$/m.exec(passwd);
  t.ok(user, `a user line:\n${passwd}`);
  const [, uid, gid, home, shell] = user!;
  t.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid (${uid})`);
  t.equal(home, '/var/lib/edge-nvr');
  t.equal(shell, '/usr/sbin/nologin');
  const group = readFileSync(join(root, 'etc', 'group'), 'utf8');
  t.match(group, /^video:x:44:edge-nvr$/m, 'a member of the existing video group');
  t.equal(group.match(/^video:/gm)?.length, 1);
  t.match(group, new RegExp(`^edge-nvr:x:${gid}:$`, 'm'), 'its own group');

  const tf = spawnSync('systemd-tmpfiles', [`--root=${root}`, '--create', TMPFILES], { encoding: 'utf8' });
  t.equal(tf.status, 0, `systemd-tmpfiles exits 0\n${tf.stderr}`);
  t.same(tf.stderr.split('\n').filter((l) => l.includes('edge-nvr.tmpfiles')), [], 'no complaint about the file');
  const data = statSync(join(root, 'var/lib/edge-nvr'));
  t.ok(data.isDirectory());
  t.equal((data.mode & 0o7777).toString(8), '750');
  t.equal(data.uid, Number(uid));
  t.equal(data.gid, Number(gid));
  const etc = statSync(join(root, 'etc/edge-nvr'));
  t.equal((etc.mode & 0o7777).toString(8), '750');
  t.equal(etc.uid, 0, 'root owns the config');
  t.equal(etc.gid, Number(gid), 'the service reads it through its group');

  // The unit writes where tmpfiles made room, as the user sysusers made.
  const svc = parseUnit(unitText).get('Service')!;
  t.equal(svc.get('ReadWritePaths')?.[0], '/var/lib/edge-nvr');
  t.equal(svc.get('StateDirectoryMode')?.[0], '0750', 'StateDirectoryMode= matches tmpfiles (systemd would warn otherwise)');
  t.equal(svc.get('ConfigurationDirectoryMode')?.[0], '0750', 'ConfigurationDirectoryMode= matches tmpfiles');
});
