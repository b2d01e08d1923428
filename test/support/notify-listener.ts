import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './daemon.js';

/**
 * A real NOTIFY_SOCKET: Node cannot bind an AF_UNIX datagram socket, so Debian's python3 does,
 * printing each datagram (with its arrival time and the sender pid from SCM_CREDENTIALS) as a
 * JSON line. Passed file descriptors (systemd-notify's BARRIER=1 pipe) are closed at once, as
 * PID 1 does, which completes the barrier.
 */
const LISTENER = `
import array, json, os, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
    pid = None
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", cdata[:12])[0]
        elif level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(cdata[:len(cdata) - len(cdata) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"t": time.time() * 1000, "pid": pid, "data": data.decode("utf-8", "replace")}), flush=True)
`;

export interface Datagram { t: number; pid: number | null; data: string; fields: Record<string, string> }

export class NotifyListener {
  readonly messages: Datagram[] = [];
  private proc?: ChildProcess;
  private buf = '';
  readonly dir = mkdtempSync(join(tmpdir(), 'edge-nvr-notify-'));
  readonly socket = join(this.dir, 'notify.sock');

  async start(): Promise<this> {
    const proc = spawn('/usr/bin/python3', ['-c', LISTENER, this.socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    let listening = false;
    proc.stdout!.on('data', (d) => {
      this.buf += String(d);
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
        if (line.listening) { listening = true; continue; }
        const fields = Object.fromEntries(String(line.data).split('\n').filter(Boolean).map((f: string) => {
          const i = f.indexOf('=');
          return [f.slice(0, i), f.slice(i + 1)];
        }));
        this.messages.push({ ...line, fields });
      }
    });
    await until(() => listening || proc.exitCode !== null, 10_000, 'the notify listener');
    if (!listening) throw new Error('the python notify listener did not start');
    return this;
  }

  /** messages that carry `key` (BARRIER=1 round trips are left out unless asked for) */
  with(key: string): Datagram[] {
    return this.messages.filter((m) => key in m.fields);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc!.kill(sig);
  }

  stop(): void {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGCONT');
      this.proc.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function listener(test: { teardown(fn: () => unknown): void }): Promise<NotifyListener> {
  const l = await new NotifyListener().start();
  test.teardown(() => l.stop());
  return l;
}

