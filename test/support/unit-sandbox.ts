import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UnitFile } from './unit-file.js';

const SECCOMP = fileURLToPath(new URL('./unit-sandbox.py', import.meta.url)).replace('/dist/test/support/', '/test/support/');

/**
 * What edge-nvr.service does to the daemon, done by hand where no systemd runs as PID 1 (a
 * container, CI): read from the unit file itself, so a changed unit changes the sandbox, and a
 * hardening setting this file cannot reproduce stops the test instead of passing unchecked.
 *
 * - mounts (ProtectSystem=strict, ReadWritePaths=, StateDirectory=, PrivateTmp=, ProtectHome=,
 *   ProtectKernelTunables=, ProtectKernelModules=, ProtectKernelLogs=, ProtectControlGroups=,
 *   ProtectProc=, PrivateMounts=) in a private mount namespace (`unshare -m`), ProtectHostname=
 *   in a private UTS namespace (`unshare -u`);
 * - identity (User=, Group=, the supplementary groups sysusers gives, NoNewPrivileges=,
 *   CapabilityBoundingSet=, AmbientCapabilities=) with setpriv; UMask= and Environment= by the shell;
 * - system calls (SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=,
 *   RestrictAddressFamilies=, RestrictNamespaces=, RestrictRealtime=, RestrictSUIDSGID=,
 *   LockPersonality=) with libseccomp, by unit-sandbox.py.
 * The one process runs through all of it by exec (unshare, sh, setpriv, python, the command):
 * the pid spawned is the command's.
 */

/** settings that shape the process; anything else in [Service] is lifecycle (Type=, Restart=, ...) */
const REPRODUCED = new Set([
  'User', 'Group', 'UMask', 'Environment', 'ProtectSystem', 'ReadWritePaths', 'StateDirectory', 'StateDirectoryMode',
  'ConfigurationDirectory', 'ConfigurationDirectoryMode', 'NoNewPrivileges', 'CapabilityBoundingSet', 'AmbientCapabilities',
  'PrivateTmp', 'PrivateMounts', 'ProtectHome', 'ProtectProc', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs',
  'ProtectControlGroups', 'ProtectHostname', 'RestrictNamespaces', 'RestrictSUIDSGID', 'LockPersonality', 'RestrictRealtime',
  'RestrictAddressFamilies', 'SystemCallArchitectures', 'SystemCallFilter', 'SystemCallErrorNumber',
]);
/** what happens around a run, not to it: nothing to reproduce */
const LIFECYCLE = new Set([
  'Type', 'NotifyAccess', 'WatchdogSec', 'TimeoutStartSec', 'TimeoutStopSec', 'Restart', 'RestartSec', 'RestartPreventExitStatus', 'KillMode', 'ExecStart', 'ExecReload',
  // removes the user's SysV IPC objects after the service stops
  'RemoveIPC',
]);

export interface SandboxOptions {
  uid: number;
  gid: number;
  /** supplementary groups (sysusers makes the service user a member of video) */
  groups?: number[];
  /** the unit's paths -> this test's (/var/lib/edge-nvr -> a test data dir) */
  paths: Record<string, string>;
  /** where to write the seccomp spec (readable by uid) */
  workDir: string;
}

/** `systemd-analyze syscall-filter`: every @group and its members, expanded to system call names. */
function syscallGroups(): Map<string, string[]> {
  const out = spawnSync('systemd-analyze', ['syscall-filter', '--no-pager'], { encoding: 'utf8' }).stdout;
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of out.split('\n')) {
    if (/^@[\w-]+$/.test(line.trim()) && !line.startsWith(' ')) groups.set(line.trim(), (current = []));
    else if (current && line.trim() && !line.trim().startsWith('#')) current.push(line.trim());
  }
  const expand = (name: string, seen = new Set<string>()): string[] => {
    if (!name.startsWith('@')) return [name];
    if (seen.has(name)) return [];
    seen.add(name);
    const members = groups.get(name);
    if (!members) throw new Error(`systemd-analyze does not know the system call group ${name}`);
    return members.flatMap((m) => expand(m, seen));
  };
  return new Map([...groups.keys()].map((g) => [g, expand(g)]));
}

/** SystemCallFilter= lines as systemd reads them: the first decides allow- or deny-list, `~` removes. */
function allowedSyscalls(lines: string[]): string[] {
  const groups = syscallGroups();
  const names = (word: string) => (word.startsWith('@') ? groups.get(word) ?? [] : [word]);
  let allow: Set<string> | undefined;
  for (const line of lines) {
    const deny = line.startsWith('~');
    const words = line.replace(/^~/, '').split(/\s+/).filter(Boolean).flatMap(names);
    if (!allow) {
      if (deny) throw new Error('a deny-list SystemCallFilter= is not reproduced here');
      allow = new Set([...words, ...(groups.get('@default') ?? [])]);
    } else if (deny) for (const w of words) allow.delete(w);
    else for (const w of words) allow.add(w);
  }
  if (!allow) throw new Error('no SystemCallFilter=');
  return [...allow].sort();
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const ERRNO: Record<string, number> = { EPERM: 1, EACCES: 13, ENOSYS: 38 };

export function sandboxed(unit: UnitFile, opts: SandboxOptions, command: string[]): { command: string; args: string[] } {
  const svc = unit.get('Service');
  if (!svc) throw new Error('no [Service] section');
  for (const key of svc.keys()) {
    if (!REPRODUCED.has(key) && !LIFECYCLE.has(key)) throw new Error(`${key}= is not reproduced by the test sandbox (test/support/unit-sandbox.ts): add it there, or say why it cannot be`);
  }
  const last = (key: string) => svc.get(key)?.at(-1);
  const yes = (key: string) => /^(yes|true|1|on)$/i.test(last(key) ?? '');
  const mapped = (p: string) => opts.paths[p] ?? p;
  const mounts: string[] = ['set -e'];

  const proc = last('ProtectProc');
  if (proc && proc !== 'default') mounts.push(`mount -t proc -o hidepid=${proc},nosuid,nodev,noexec proc /proc`);
  if (last('ProtectSystem') === 'strict') {
    // every mount read-only, /dev and /proc aside (and /sys only through ProtectKernelTunables=)
    const sysToo = yes('ProtectKernelTunables') || yes('ProtectControlGroups');
    mounts.push(`awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do case "$mp" in /proc|/proc/*|/dev|/dev/*${sysToo ? '' : '|/sys|/sys/*'}) ;; *) mount -o remount,bind,ro "$mp" ;; esac; done`);
  } else if (last('ProtectSystem')) throw new Error(`ProtectSystem=${last('ProtectSystem')} is not reproduced here`);
  if (yes('ProtectKernelTunables')) mounts.push('mount --bind /proc/sys /proc/sys', 'mount -o remount,bind,ro /proc/sys');
  if (yes('PrivateTmp')) {
    // a checkout under /tmp would vanish under the fresh /tmp, with a bare "mount point does not exist"
    const hidden = [opts.workDir, ...Object.values(opts.paths), ...command].find((p) => /^\/(var\/)?tmp\//.test(p));
    if (hidden) throw new Error(`PrivateTmp=yes hides ${hidden} from the sandbox: run the tests from a checkout outside /tmp and /var/tmp`);
    for (const d of ['/tmp', '/var/tmp']) mounts.push(`mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs ${d}`);
  }
  if (yes('ProtectHome')) mounts.push('for d in /home /root /run/user; do [ -d "$d" ] && mount -t tmpfs -o ro,mode=0755 tmpfs "$d"; done; true');
  if (yes('ProtectKernelModules')) mounts.push('for d in /usr/lib/modules /lib/modules; do [ -d "$d" ] && mount -t tmpfs -o ro,mode=0000 tmpfs "$d"; done; true');
  if (yes('ProtectKernelLogs')) {
    mounts.push('touch /tmp/.inaccessible && chmod 0000 /tmp/.inaccessible', 'for f in /dev/kmsg /proc/kmsg; do [ -e "$f" ] && mount --bind /tmp/.inaccessible "$f"; done; true');
  }
  const writable = [...(svc.get('ReadWritePaths') ?? []), ...(svc.get('StateDirectory') ?? []).map((d) => `/var/lib/${d}`)];
  for (const p of new Set(writable.map(mapped))) mounts.push(`mount --bind ${q(p)} ${q(p)}`, `mount -o remount,bind,rw ${q(p)}`);

  const seccompSpec = {
    errno: ERRNO[last('SystemCallErrorNumber') ?? 'EPERM'] ?? 1,
    allow: allowedSyscalls(svc.get('SystemCallFilter') ?? []),
    address_families: last('RestrictAddressFamilies')?.split(/\s+/).filter(Boolean),
    restrict_namespaces: yes('RestrictNamespaces'),
    restrict_realtime: yes('RestrictRealtime'),
    restrict_suid_sgid: yes('RestrictSUIDSGID'),
    lock_personality: yes('LockPersonality'),
  };
  if (last('SystemCallArchitectures') !== 'native') throw new Error('only SystemCallArchitectures=native is reproduced here');
  const specFile = join(opts.workDir, 'seccomp.json');
  writeFileSync(specFile, JSON.stringify(seccompSpec), { mode: 0o644 });

  if (!yes('NoNewPrivileges')) throw new Error('NoNewPrivileges=no is not reproduced here');
  if (svc.get('CapabilityBoundingSet')?.join('') !== '' || (svc.get('AmbientCapabilities')?.join('') ?? '') !== '') throw new Error('only an empty capability set is reproduced here');
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOME=${mapped('/var/lib/edge-nvr')}`, `USER=${last('User') ?? 'root'}`,
    `LOGNAME=${last('User') ?? 'root'}`, ...(svc.get('Environment') ?? []).flatMap((e) => e.split(/\s+/)).filter(Boolean)];
  const identity = ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.gid}`,
    ...(opts.groups?.length ? [`--groups=${opts.groups.join(',')}`] : ['--clear-groups']),
    '--no-new-privs', '--bounding-set=-all', '--inh-caps=-all', '--ambient-caps=-all'];
  mounts.push(`umask ${last('UMask') ?? '0022'}`,
    `exec env -i ${env.map(q).join(' ')} ${identity.map(q).join(' ')} /usr/bin/python3 ${q(SECCOMP)} ${q(specFile)} -- ${command.map(q).join(' ')}`);
  const ns = ['-m', '--propagation', 'private', ...(yes('ProtectHostname') ? ['-u'] : [])];
  return { command: 'unshare', args: [...ns, 'sh', '-c', mounts.join('\n')] };
}
