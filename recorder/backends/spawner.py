#!/usr/bin/python3
"""Starts the recorders for the daemon, so that its event loop never waits for a fork and exec.

    setpriv --pdeathsig KILL /usr/bin/python3 spawner.py <socket path>

Node's child_process.spawn blocks the daemon's event loop for the fork and until the child has
exec'd (50-80 ms each on a loaded two-core box; 64 of them at start-up held the loop 5 s while
the first segments waited to be indexed). This process does the fork and exec instead
(posix_spawn: a vfork, cheap for a small process) and the daemon only writes a line.

Requests arrive on stdin, one JSON line each, in order:

    {"spawn": ID, "command": C, "args": [...], "env": {...}, "fds": ["null"|"socket", ...]}

For each "socket" in `fds` (the child's fd 0, 1, 2, 3... in order) this process connects to the
daemon's unix socket, writes a header naming the request and the fd, and hands the connection
to the child as that fd, then closes its own copy: the daemon reads the child's output (and
writes its stdin) directly, nothing is relayed here. "null" is /dev/null. The child leads a
session and process group of its own (like Node's `detached`). Reports on stdout, one line each:

    spawned ID PID
    error ID <message>                the child could not start (no such binary...)
    exit ID CODE SIGNAL               CODE or SIGNAL is "-"

The daemon starts this process with a parent-death signal, and the recorders are started through
setpriv --pdeathsig with this process as their parent: a daemon killed with -9 takes this
process with it, and it its recorders. EOF on stdin (the daemon closed it) ends it too. SIGTERM,
SIGINT and SIGHUP are ignored: they come to the daemon's whole process group or cgroup, and the
daemon stops its recorders itself.
"""
import json
import os
import selectors
import signal
import socket
import sys

HEADER = "{:>12} {:>2}\n"  # 16 bytes: request id, fd (recorder/backends/spawner.ts reads exactly these)


def report(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    path = sys.argv[1]
    # fd 3 is /dev/null from here on, so that no connection gets a number it is dup2'd to
    # (a dup2 onto itself would keep its close-on-exec flag)
    null = os.open(os.devnull, os.O_RDWR)
    if null < 3:
        print("spawner: stdin, stdout and stderr must be open", file=sys.stderr)
        return 2
    children = {}  # pid -> request id
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # A stop signalled to the daemon's whole process group (a terminal's Ctrl-C, a group kill) or
    # cgroup (systemd's KillMode=control-group) reaches this process too: dying then would kill
    # every recorder (parent-death signal) before the daemon could stop each with SIGINT and index
    # its open segment, and report them as crashed. The daemon's exit ends this process (EOF on
    # stdin, or the parent-death signal), so these are ignored; the recorders start with every
    # signal at its default (setsigdef).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # Python ignores these for itself; a recorder must start with every signal at its default
    defaults = {s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)}

    def spawn(req):
        rid = str(req["spawn"])
        conns = []
        try:
            actions = []
            for fd, kind in enumerate(req["fds"]):
                if kind == "socket":
                    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    conns.append(conn)
                    conn.connect(path)
                    conn.sendall(HEADER.format(rid, fd).encode())
                    actions.append((os.POSIX_SPAWN_DUP2, conn.fileno(), fd))
                else:
                    actions.append((os.POSIX_SPAWN_DUP2, null, fd))
            # posix_spawnp looks the command up in this process's PATH: the daemon's, as spawn would
            os.environ["PATH"] = req["env"].get("PATH", os.defpath)
            pid = os.posix_spawnp(
                req["command"], [req["command"], *req["args"]], req["env"],
                file_actions=actions, setsid=True, setsigdef=defaults, setsigmask=(),
            )
        except OSError as err:
            report(f"error {rid} {err.strerror or err}")
            return
        finally:
            for conn in conns:
                conn.close()
        children[pid] = rid
        report(f"spawned {rid} {pid}")

    def reap():
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = children.pop(pid, None)
            if rid is None:
                continue
            if os.WIFSIGNALED(status):
                report(f"exit {rid} - {os.WTERMSIG(status)}")
            else:
                report(f"exit {rid} {os.waitstatus_to_exitcode(status)} -")

    sel = selectors.DefaultSelector()
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "requests")
    sel.register(wake_r, selectors.EVENT_READ, "signal")
    pending = b""
    while True:
        for key, _ in sel.select():
            if key.data == "signal":
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                reap()
                continue
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                return 0  # the daemon is gone or done
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                spawn(json.loads(line))
        reap()


if __name__ == "__main__":
    sys.exit(main())
