#!/usr/bin/python3
"""Applies a systemd unit's system call restrictions to this process, then execs a command.

    unit-sandbox.py SPEC.json -- COMMAND [ARGS...]

For machines where the unit cannot be started under systemd itself (no PID 1 systemd, as in a
container): test/support/unit-sandbox.ts reads edge-nvr.service, does the mount and identity
part (ProtectSystem=, User=, NoNewPrivileges=, ...) with unshare and setpriv, and hands this
script the seccomp part as SPEC: the system calls SystemCallFilter= allows (expanded from
`systemd-analyze syscall-filter`), SystemCallErrorNumber=, RestrictAddressFamilies=,
RestrictNamespaces=, RestrictRealtime=, RestrictSUIDSGID= and LockPersonality=, built the way
systemd builds them with libseccomp (python3-seccomp). SystemCallArchitectures=native is
libseccomp's default: only this architecture's calls pass.
"""
import errno
import json
import os
import socket
import sys

import seccomp

NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
FAMILIES = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6, "AF_NETLINK": socket.AF_NETLINK}
# calls whose arguments are checked below: never allowed unconditionally
CONDITIONAL = {"socket", "clone", "clone3", "unshare", "setns", "sched_setscheduler", "chmod", "fchmod", "fchmodat", "fchmodat2", "personality"}


def rule(f, action, name, *args):
    try:
        f.add_rule(action, name, *args)
        return True
    except (RuntimeError, ValueError, OSError):
        return False  # not a system call of this architecture


def main() -> int:
    argv = sys.argv[1:]
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    command = argv[2:]
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(spec["errno"]))
    allowed = set(spec["allow"])
    for name in sorted(allowed - CONDITIONAL):
        rule(f, seccomp.ALLOW, name)

    def allow_if(name, *args):
        if name in allowed:
            rule(f, seccomp.ALLOW, name, *args)

    families = spec.get("address_families")
    if families is None:
        allow_if("socket")
    else:
        for family in families:
            allow_if("socket", seccomp.Arg(0, seccomp.EQ, FAMILIES[family]))
        if "socket" in allowed:
            # the other families: EAFNOSUPPORT, as systemd answers
            for value in range(0, 64):
                if value not in {FAMILIES[x] for x in families}:
                    rule(f, seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, value))

    if spec.get("restrict_namespaces"):
        allow_if("clone", seccomp.Arg(0, seccomp.MASKED_EQ, NS_FLAGS, 0))
        allow_if("unshare", seccomp.Arg(0, seccomp.MASKED_EQ, NS_FLAGS, 0))
        # clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone
        rule(f, seccomp.ERRNO(errno.ENOSYS), "clone3")
    else:
        for name in ("clone", "clone3", "unshare", "setns"):
            allow_if(name)

    if spec.get("restrict_realtime"):
        for policy in (0, 3, 5):  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE (SCHED_RESET_ON_FORK masked off)
            allow_if("sched_setscheduler", seccomp.Arg(1, seccomp.MASKED_EQ, 0x3FFFFFFF, policy))
    else:
        allow_if("sched_setscheduler")

    if spec.get("restrict_suid_sgid"):
        allow_if("chmod", seccomp.Arg(1, seccomp.MASKED_EQ, 0o6000, 0))
        allow_if("fchmod", seccomp.Arg(1, seccomp.MASKED_EQ, 0o6000, 0))
        allow_if("fchmodat", seccomp.Arg(2, seccomp.MASKED_EQ, 0o6000, 0))
        allow_if("fchmodat2", seccomp.Arg(2, seccomp.MASKED_EQ, 0o6000, 0))
    else:
        for name in ("chmod", "fchmod", "fchmodat", "fchmodat2"):
            allow_if(name)

    if spec.get("lock_personality"):
        allow_if("personality", seccomp.Arg(0, seccomp.EQ, 0))
        allow_if("personality", seccomp.Arg(0, seccomp.EQ, 0xFFFFFFFF))
    else:
        allow_if("personality")

    f.load()
    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    sys.exit(main())
