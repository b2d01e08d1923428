#!/usr/bin/python3
"""
Runs a command on a real pseudo-terminal, as a person at a terminal runs it: `terminal.py CMD ARGS...` (not named pty.py: that would shadow the module it imports).
The command is a session leader whose controlling terminal is the pty's slave (so isatty() is
true, raw mode works, and a Ctrl-C typed, byte 0x03, is the line discipline's SIGINT to its
foreground process group). What this script reads on stdin is typed at the terminal; what the
terminal shows (the command's stdout and stderr, and the terminal's own echo) is copied to stdout.
It exits with the command's exit code (128 + the signal when a signal ended it), once the command
exited, without waiting for processes it left behind that still hold the terminal.
"""
import os
import pty
import select
import sys
import time

pid, master = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

stdin_open = True
status = None
while True:
    if status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    readers = [master] + ([0] if stdin_open and status is None else [])
    ready, _, _ = select.select(readers, [], [], 0.05)
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every holder of the slave closed it
            data = b""
        if data:
            os.write(1, data)
        elif status is not None:
            break
        else:
            time.sleep(0.05)  # the slave is closed, the command not yet reaped
    elif status is not None:
        break  # the command exited and nothing more to show
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(master, data)
        else:
            stdin_open = False
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
