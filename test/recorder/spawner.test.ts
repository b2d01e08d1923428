import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withParentDeathSignal } from '../../recorder/backends/orphans.js';
import { killGroup, readLines, watchChildEnd, type ChildEnd } from '../../recorder/backends/process-group.js';
import { Spawner, spawnerSocketDir, spawnRecorder, SPAWNER_SCRIPT } from '../../recorder/backends/spawner.js';
import { processesMentioning } from '../support/processes.js';

/*
 * The recorders are started by one spawner process (recorder/backends/spawner.py) so that the
 * daemon's event loop never waits for a fork and exec. These tests hold it to what the backends
 * relied on with child_process.spawn: every line a child wrote is read before its exit is
 * reported, exit codes and signals, clear start errors, a process group of its own, and no
 * recorder outliving a daemon killed with -9.
 */
const PROJECT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = join(PROJECT, 'test', 'support', 'spawner-child.ts');

/** Runs `command` through the spawner with its stdout and stderr read as lines, as the backends do. */
function run(command: string, args: string[], fds: Array<'null' | 'socket'> = ['null', 'socket', 'socket']) {
  const child = spawnRecorder(command, args, fds);
  const out: string[] = [];
  const err: string[] = [];
  const outputs = fds.slice(1).filter((f) => f === 'socket').length;
  let linesAtEnd = -1;
  const ended = new Promise<ChildEnd>((resolve) => {
    const { streamClosed } = watchChildEnd(child, outputs, (end) => { linesAtEnd = out.length; resolve(end); });
    child.once('spawn', () => {
      readLines(child.stdout!, (l) => out.push(l), streamClosed);
      readLines(child.stderr!, (l) => err.push(l), streamClosed);
    });
  });
  return { child, out, err, ended, linesAtEnd: () => linesAtEnd };
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');


/**
 * This process's spawners (started through setpriv, which execs in place: their parent is us).
 * Other test files run beside this one with daemons of their own, whose spawners run the same
 * script: one of theirs killed here took that daemon's recorders with it.
 */
function ownSpawners() {
  return processesMentioning(SPAWNER_SCRIPT).filter((p) => p.ppid === process.pid);
}

t.test('every line the child wrote is read before its exit is reported, with its exit status', async (t) => {
  // 200 000 lines (1.5 MB): far more than a socket buffer holds, written just before exiting
  const r = run('sh', ['-c', 'seq 1 200000; echo bye >&2; exit 3']);
  const end = await r.ended;
  t.same({ code: end.code, signal: end.signal, spawnError: end.spawnError }, { code: 3, signal: null, spawnError: undefined });
  t.equal(r.linesAtEnd(), 200000, 'all lines were read when the exit was reported');
  t.equal(r.out.at(-1), '200000');
  t.same(r.err, ['bye']);
  t.equal(r.child.exitCode, 3);
});

t.test('a child killed by a signal reports the signal', async (t) => {
  const r = run('sh', ['-c', 'kill -TERM $$']);
  const end = await r.ended;
  t.same({ code: end.code, signal: end.signal }, { code: null, signal: 'SIGTERM' });
  t.equal(r.child.signalCode, 'SIGTERM');
});

t.test('a binary that does not exist is a clear start error, and the spawner still serves', async (t) => {
  const r = run('/nonexistent/ffmpeg-xyz', ['-version']);
  const end = await r.ended;
  t.equal(r.child.pid, undefined, 'no pid');
  t.match(end.spawnError?.message, /No such file or directory/);
  const ok = run('sh', ['-c', 'echo still here']);
  t.equal((await ok.ended).code, 0);
  t.same(ok.out, ['still here']);
});

t.test('a spawner that cannot start fails each spawn loudly (there is no fallback to a direct spawn)', async (t) => {
  const spawner = new Spawner('/nonexistent/python3');
  const child = spawner.spawn('sh', ['-c', 'echo never'], ['null', 'socket', 'socket']);
  const [err] = (await once(child, 'error')) as [Error];
  t.match(err.message, /^the recorder spawner \(\/nonexistent\/python3 .*spawner\.py\) (exited with status 127 \(is \/nonexistent\/python3 installed\?\)|.*ENOENT)/, err.message);
  t.equal(child.pid, undefined);
});

t.test('the child leads its own process group; killGroup kills the whole group', async (t) => {
  // a grandchild in the same group, as ffmpeg's or GStreamer's helpers would be
  const r = run('sh', ['-c', 'sleep 300 & echo started; wait']);
  t.ok(await waitFor(() => r.out.includes('started'), 10000), 'started');
  const pid = r.child.pid!;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  t.equal(Number(fields[2]), pid, 'its process group is its own');
  t.equal(Number(fields[3]), pid, 'and its session (detached)');
  const grandchild = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
  t.ok(grandchild > 0 && alive(grandchild), `the grandchild runs as ${grandchild}`);
  killGroup(r.child, 'SIGKILL');
  const end = await r.ended;
  t.equal(end.signal, 'SIGKILL');
  t.ok(await waitFor(() => !alive(grandchild), 5000), 'the grandchild went with the group');
});

t.test('stdin: a request written to the child arrives, and no command line holds it', async (t) => {
  const secret = `Pw-${randomBytes(6).toString('hex')}`;
  const request = JSON.stringify({ password: secret });
  const r = run('sh', ['-c', 'read line; echo "$line"; sleep 300'], ['socket', 'socket', 'socket']);
  r.child.once('spawn', () => r.child.stdin!.end(`${request}\n`));
  t.ok(await waitFor(() => r.out.length > 0, 10000), 'the child answered');
  t.same(r.out, [request], 'it read the whole line');
  const holders = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(secret);
    } catch {
      return false;
    }
  });
  t.same(holders, [], 'no process has the secret on its command line');
  killGroup(r.child, 'SIGKILL');
  await r.ended;
});

t.test("the spawner's socket is in a directory only this user can enter", async (t) => {
  const r = run('true', []);
  await r.ended;
  const dir = spawnerSocketDir();
  t.ok(dir, 'the spawner runs');
  t.equal(statSync(dir!).mode & 0o777, 0o700, 'mode 0700');
  t.equal(statSync(dir!).uid, process.getuid!());
  t.ok(statSync(join(dir!, 'spawn.sock')).isSocket(), 'its socket is a file in it (not the abstract namespace)');
  const spawner = ownSpawners();
  t.equal(spawner.length, 1, 'one spawner');
  t.notMatch(spawner[0]!.cmdline, /password|token/i);
});

t.test('when the spawner dies, its children die and are reported killed; the next spawn starts a new one', async (t) => {
  const marker = `sp-${randomBytes(4).toString('hex')}`;
  const [command, args] = withParentDeathSignal(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker]);
  const r = run(command, args);
  await once(r.child, 'spawn');
  t.ok(alive(r.child.pid!), 'the child runs');
  const spawner = ownSpawners().filter((p) => p.state !== 'Z');
  t.equal(spawner.length, 1);
  process.kill(spawner[0]!.pid, 'SIGKILL');
  const end = await r.ended;
  t.equal(end.signal, 'SIGKILL', 'reported killed');
  t.equal(r.child.lostWith, 'the recorder spawner was killed by SIGKILL, and its recorders with it', 'and why, whatever the child said');
  t.ok(await waitFor(() => !alive(r.child.pid!), 5000), 'the child is gone');
  const again = run('sh', ['-c', 'echo again']);
  t.equal((await again.ended).code, 0);
  t.same(again.out, ['again']);
});

t.test("a stop signalled to the daemon's whole group leaves the spawner and its children to the daemon", async (t) => {
  // systemd's KillMode=control-group and a terminal's Ctrl-C signal every process of the daemon:
  // the spawner must not die then (its recorders would die with it before the daemon stops
  // them with SIGINT and indexes their open segments, and be reported crashed)
  const r = run('sh', ['-c', 'echo up; sleep 300']);
  t.ok(await waitFor(() => r.out.includes('up'), 10000), 'the child runs');
  const [spawner] = ownSpawners().filter((p) => p.state !== 'Z');
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.kill(spawner!.pid, signal);
  // a signal with its default action kills before the process runs again: the next request
  // is served by the same spawner only if it ignored them
  const next = run('sh', ['-c', 'echo next']);
  t.equal((await next.ended).code, 0);
  t.same(next.out, ['next']);
  t.same(ownSpawners().filter((p) => p.state !== 'Z').map((p) => p.pid), [spawner!.pid], 'the same spawner serves');
  t.ok(alive(r.child.pid!), 'the first child still runs');
  t.equal(r.child.exitCode ?? r.child.signalCode, null, 'and no exit was reported');
  killGroup(r.child, 'SIGKILL');
  await r.ended;
});

t.test('a daemon killed with -9 leaves no child behind', async (t) => {
  const marker = `k9-${randomBytes(4).toString('hex')}`;
  const daemon = spawn(process.execPath, ['--import', 'tsx', CHILD, marker], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { daemon.kill('SIGKILL'); });
  const [line] = (await once(createInterface({ input: daemon.stdout! }), 'line')) as [string];
  const { pid, socketDir } = JSON.parse(line) as { pid: number; socketDir: string };
  t.teardown(() => rmSync(socketDir, { recursive: true, force: true })); // what a kill -9 leaves
  // running as itself: setpriv has set the parent-death signal and exec'd it (the kernel would
  // not signal a child whose parent died before it asked, the same race as without the spawner)
  const exe = realpathSync(process.execPath);
  t.ok(await waitFor(() => { try { return readlinkSync(`/proc/${pid}/exe`) === exe; } catch { return false; } }, 10000), `the child runs as pid ${pid}`);
  const cmd = () => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return 'gone'; } };
  t.ok(processesMentioning(marker).some((p) => p.pid === pid), `it is the marked child: ${cmd()}`);
  const exited = once(daemon, 'exit');
  daemon.kill('SIGKILL');
  await exited;
  t.ok(await waitFor(() => !alive(pid) && processesMentioning(marker).every((p) => p.state === 'Z'), 10000), `the child did not outlive the daemon: ${cmd()}`);
});

