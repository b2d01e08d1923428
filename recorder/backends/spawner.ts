import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withParentDeathSignal } from './orphans.js';

/** The spawner ships beside the compiled code's sources: dist/recorder/... -> recorder/... */
export const SPAWNER_SCRIPT = fileURLToPath(new URL('./spawner.py', import.meta.url)).replace('/dist/recorder/', '/recorder/');
/** Debian's interpreter, as for the GStreamer child */
const PYTHON = '/usr/bin/python3';
/** what spawner.py writes first on each connection: "<request id, 12> <fd, 2>\n" */
const HEADER_BYTES = 16;

/** A child's fd: /dev/null, or a unix socket whose other end this process reads (or writes, fd 0). */
export type ChildFd = 'null' | 'socket';

/**
 * A recorder started by the spawner: what the backends used of a ChildProcess. Events: 'spawn'
 * (pid and streams set), 'error' (could not start; pid stays undefined), 'exit' (code, signal)
 * and 'close' (code, signal) once the output streams have also closed.
 */
export class SpawnedChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** the child's fds as asked: a socket for each 'socket', null for 'null' (set by 'spawn') */
  readonly stdio: Array<Socket | null>;
  /** resolves once the child has started or could not start ('spawn' or 'error') */
  readonly started: Promise<void>;
  /**
   * Set when the spawner died under a started child: why it ended, whatever it said on its way
   * out (its parent-death signal makes a GStreamer child end with EOS, which read as the camera
   * closing the stream, and an ffmpeg child starting up say its output failed: the camera's fault)
   */
  lostWith?: string;
  private pending: number;
  private openOutputs = 0;
  private exit?: [number | null, NodeJS.Signals | null];

  constructor(readonly fds: readonly ChildFd[]) {
    super();
    this.stdio = fds.map(() => null);
    this.pending = fds.filter((f) => f === 'socket').length;
    this.started = new Promise((resolve) => { this.once('spawn', resolve); this.once('error', () => resolve()); });
  }

  get stdin(): Socket | null { return this.stdio[0] ?? null; }
  get stdout(): Socket | null { return this.stdio[1] ?? null; }
  get stderr(): Socket | null { return this.stdio[2] ?? null; }

  /** the spawner's connection for fd `fd` */
  attach(fd: number, socket: Socket): void {
    if (this.fds[fd] !== 'socket' || this.stdio[fd]) return void socket.destroy();
    this.stdio[fd] = socket;
    this.pending--;
    if (fd > 0) {
      this.openOutputs++;
      socket.once('close', () => { this.openOutputs--; this.maybeClose(); });
    }
    this.maybeSpawned();
  }

  spawned(pid: number): void {
    this.pid = pid;
    this.maybeSpawned();
  }

  failed(err: Error): void {
    for (const s of this.stdio) s?.destroy();
    this.emit('error', err);
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = [code, signal];
    this.maybeSpawned();
  }

  /** 'spawn' once the pid and every connection are here; 'exit' only after it */
  private maybeSpawned(): void {
    if (this.pid === undefined || this.pending > 0) return;
    this.emitOnce('spawn');
    if (!this.exit || this.emitted.has('exit')) return;
    this.emitted.add('exit');
    [this.exitCode, this.signalCode] = this.exit;
    this.stdin?.destroy();
    this.emit('exit', ...this.exit);
    this.maybeClose();
  }

  private readonly emitted = new Set<string>();
  private emitOnce(event: 'spawn' | 'close', ...args: unknown[]): void {
    if (this.emitted.has(event)) return;
    this.emitted.add(event);
    this.emit(event, ...args);
  }

  private maybeClose(): void {
    if (this.emitted.has('exit') && this.openOutputs === 0) {
      this.emitOnce('close', this.exitCode, this.signalCode);
    }
  }
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * One process (spawner.py) that forks and execs the recorders, so the event loop never waits for
 * a fork and exec (Node's spawn does, 50-80 ms a child on a loaded box). Started lazily, with a
 * parent-death signal; if it dies, its recorders die with it (they are started through setpriv
 * --pdeathsig with it as their parent), are reported killed, and the next spawn starts a new one.
 * Its connections come to a unix socket in a 0700 directory of its own: only this user reaches it.
 */
export class Spawner {
  private proc?: ChildProcess;
  private server?: Server;
  private dir?: string;
  private nextId = 1;
  private readonly children = new Map<string, SpawnedChild>();

  /** `python`: the interpreter (tests give one that does not exist) */
  constructor(private readonly python = PYTHON) {}

  spawn(command: string, args: string[], fds: readonly ChildFd[]): SpawnedChild {
    const child = new SpawnedChild(fds);
    const proc = this.running();
    const id = String(this.nextId++);
    this.children.set(id, child);
    child.once('close', () => this.forget(id));
    child.once('error', () => this.forget(id));
    this.refWhileBusy();
    proc.stdin!.write(`${JSON.stringify({ spawn: id, command, args, env: process.env, fds })}\n`);
    return child;
  }

  /** the socket directory (for tests: its mode) */
  get socketDir(): string | undefined {
    return this.dir;
  }

  private forget(id: string): void {
    this.children.delete(id);
    this.refWhileBusy();
  }

  /** The spawner keeps this process alive only while a child's start or exit is still to come. */
  private refWhileBusy(): void {
    const out = this.proc?.stdout as Socket | undefined;
    if (this.children.size > 0) {
      out?.ref();
      this.proc?.ref(); // its own exit, when that is what ends them
    } else {
      out?.unref();
      this.proc?.unref();
    }
  }

  private running(): ChildProcess {
    if (this.proc) return this.proc;
    if (!this.server) {
      this.dir = mkdtempSync(join(tmpdir(), 'edge-nvr-spawner-')); // 0700
      const dir = this.dir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      this.server = createServer((socket) => this.onConnection(socket));
      this.server.on('error', (err) => this.lost(err));
      this.server.listen(join(this.dir, 'spawn.sock'));
      this.server.unref();
    }
    // KILL: the spawner has nothing to finish; its recorders get their own TERM when it dies
    const [command, args] = withParentDeathSignal(this.python, [SPAWNER_SCRIPT, join(this.dir!, 'spawn.sock')], 'KILL');
    const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = proc;
    proc.on('error', (err) => this.lost(err, proc));
    proc.on('exit', (code, signal) => this.lost(new Error(`${signal ? `was killed by ${signal}` : `exited with status ${code}`}${code === 127 ? ` (is ${this.python} installed?)` : ''}`), proc));
    proc.stdin!.on('error', () => undefined); // its exit says why
    (proc.stdin as Socket).unref();
    proc.unref();
    let rest = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) this.onReport(line);
    });
    return proc;
  }

  private onReport(line: string): void {
    const [what, id, a, b] = line.split(' ');
    const child = this.children.get(id ?? '');
    if (!child) return;
    if (what === 'spawned') child.spawned(Number(a));
    else if (what === 'error') child.failed(new Error(line.slice(`error ${id} `.length)));
    else if (what === 'exit') child.exited(a === '-' ? null : Number(a), b === '-' ? null : signalNames.get(Number(b)) ?? null);
  }

  private onConnection(socket: Socket): void {
    const onReadable = () => {
      const head = socket.read(HEADER_BYTES) as Buffer | null;
      if (head === null) return;
      socket.off('readable', onReadable);
      const [id, fd] = head.toString('latin1').trim().split(/\s+/);
      const child = this.children.get(id ?? '');
      if (child) child.attach(Number(fd), socket);
      else socket.destroy();
    };
    socket.on('readable', onReadable);
    socket.on('error', () => undefined); // the child's end went away: its exit says why
  }

  /**
   * The spawner is gone (or never started): children not started fail, started ones are killed
   * (their parent-death signal should have done it) and reported so; the next spawn starts anew.
   */
  private lost(err: Error, proc?: ChildProcess): void {
    if (proc && proc !== this.proc) return;
    this.proc = undefined;
    for (const child of [...this.children.values()]) {
      if (child.pid === undefined) child.failed(new Error(`the recorder spawner (${this.python} ${SPAWNER_SCRIPT}) ${err.message}`));
      else {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        child.lostWith = `the recorder spawner ${err.message}, and its recorders with it`;
        child.exited(null, 'SIGKILL');
      }
    }
  }
}

let spawner: Spawner | undefined;

/**
 * Starts `command` through the daemon's one spawner, in a session and process group of its own
 * (like spawn's `detached`), with `fds` as its fd 0, 1, 2, 3...: returns at once, before the
 * child exists. The child's streams are in `stdio` from its 'spawn' event on.
 */
export function spawnRecorder(command: string, args: string[], fds: readonly ChildFd[]): SpawnedChild {
  spawner ??= new Spawner();
  return spawner.spawn(command, args, fds);
}

/** The directory of the spawner's socket, once started (tests check its mode). */
export function spawnerSocketDir(): string | undefined {
  return spawner?.socketDir;
}
