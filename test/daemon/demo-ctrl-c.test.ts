/**
 * README: `npm run demo` "records two synthetic cameras (one per backend) into ./demo-data; Ctrl-C
 * stops it". demo.test.ts stops the demo with --duration; this one stops it as a person does: the
 * demo runs on a real pseudo-terminal (test/support/terminal.py) and Ctrl-C is typed there (byte
 * 0x03: the terminal's SIGINT to its foreground process group, the demo and whichever of its
 * children share that group). Proven: both cameras recorded before the Ctrl-C, demo-1 by an
 * ffmpeg process and demo-2 by the GStreamer recorder (the processes that write each camera's
 * staging dir, seen in /proc while the demo runs); the demo exits 0 within a few seconds of the
 * Ctrl-C; every process it started (simulators, recorders, the spawner) is gone then, none left
 * behind; and what it recorded is there and verifies.
 */
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';
import { until } from '../support/daemon.js';
import { processesMentioning } from '../support/processes.js';
import { onTerminal } from '../support/terminal.js';

/** Every live process below `root` (its children, theirs...), pid to command line. */
function descendants(root: number): Map<number, string> {
  const parent = new Map<number, number>();
  const cmdline = new Map<number, string>();
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmdline.set(Number(p), readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim());
    } catch {
      // exited while we looked
    }
  }
  const below = (pid: number) => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return new Map([...cmdline].filter(([pid]) => below(pid)));
}

/** The process is still there and is still the one seen (not a reused pid), and not a zombie. */
function alive(pid: number, cmdline: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() === cmdline;
  } catch {
    return false;
  }
}

async function segmentsOf(data: string, camera: string): Promise<Array<{ path: string }>> {
  const r = await runCli(['recordings', '--data', data, '--camera', camera, '--json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as { segments: Array<{ path: string }> }).segments : [];
}

t.test('the demo on a terminal: both cameras recorded, one per backend; Ctrl-C exits 0 at once and leaves no process behind', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'demo-data');
  const demo = await onTerminal(process.execPath, [CLI, 'demo', '--data', data], { cwd: dir, env: { ...process.env, EDGE_NVR_LOG_FORMAT: undefined } });
  // everything the demo starts, as it starts it (a recorder restarted meanwhile is seen too)
  const seen = new Map<number, string>();
  t.teardown(() => {
    demo.kill();
    for (const [pid, cmd] of seen) if (alive(pid, cmd)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (const p of processesMentioning(data)) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  });
  const watch = setInterval(() => { for (const [pid, cmd] of descendants(demo.pid)) if (cmd) seen.set(pid, cmd); }, 200);
  t.teardown(() => clearInterval(watch));
  await demo.waitFor(/Ctrl-C stops the demo/, 60000, 'the demo\'s guidance');
  t.match(demo.screen(), /recording demo-1 \(ffmpeg\) and demo-2 \(GStreamer\)/, 'the demo says which backend records which camera');

  // both cameras recorded: a segment of each in the catalog (segments are 10 s long)
  const end = Date.now() + 60000;
  let counts = [0, 0];
  while (counts.some((n) => n < 1) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1000));
    counts = [(await segmentsOf(data, 'demo-1')).length, (await segmentsOf(data, 'demo-2')).length];
  }
  t.ok(counts.every((n) => n >= 1), `each camera has recorded a segment before the Ctrl-C (demo-1: ${counts[0]}, demo-2: ${counts[1]})`);

  // which backend records which camera: the processes writing each camera's staging dir
  const staging = (camera: string) => join(data, 'recordings', camera, '.staging');
  const writers = (camera: string) => [...seen.values()].filter((cmd) => cmd.includes(staging(camera)));
  const ffmpeg = (cmd: string) => /(^|[ /])ffmpeg /.test(cmd);
  const gstreamer = (cmd: string) => /python3 \S*gst-recorder\.py /.test(cmd);
  t.ok(writers('demo-1').some(ffmpeg), `demo-1 is recorded by ffmpeg: ${JSON.stringify(writers('demo-1'))}`);
  t.notOk(writers('demo-1').some(gstreamer), 'and not by the GStreamer recorder');
  t.ok(writers('demo-2').some(gstreamer), `demo-2 is recorded by the GStreamer recorder: ${JSON.stringify(writers('demo-2'))}`);
  t.notOk(writers('demo-2').some(ffmpeg), 'and not by ffmpeg');

  const running = new Map(seen);
  t.comment(`the demo's processes before the Ctrl-C: ${JSON.stringify([...running.values()])}`);
  const typedAt = Date.now();
  demo.type('\x03');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([demo.exited, new Promise<'still running'>((r) => { timer = setTimeout(() => r('still running'), 15000); })]);
  clearTimeout(timer);
  const took = Date.now() - typedAt;
  clearInterval(watch);
  t.equal(code, 0, `Ctrl-C: the demo exits 0 (after ${took} ms)`);
  if (code !== 0) t.comment(demo.screen().slice(-3000));
  t.ok(took < 10000, `within a few seconds of the Ctrl-C (${took} ms)`);
  t.match(demo.screen(), /stopping/, 'it says it is stopping');

  // nothing left behind: every process the demo ever had below it is gone (give the kernel a
  // moment to reap what the demo's own exit orphaned), and none names the demo's data dir
  const left = () => [...seen].filter(([pid, cmd]) => alive(pid, cmd));
  await until(() => left().length === 0, 3000, 'its processes to be gone').catch(() => undefined);
  t.same(left().map(([, cmd]) => cmd), [], 'no process the demo started is left running');
  t.same(processesMentioning(data).filter((p) => p.state !== 'Z').map((p) => p.cmdline), [], 'none that names its data dir');
  t.ok([...running.values()].some((cmd) => cmd.includes('rtsp-simulator.py')), 'the synthetic cameras were among them');

  // what it recorded is kept: no file left open in staging, the catalog verifies
  for (const camera of ['demo-1', 'demo-2']) {
    const open = existsSync(staging(camera)) ? readdirSync(staging(camera)).filter((f) => f.endsWith('.mp4')) : [];
    t.same(open, [], `${camera}: its open segment was finalised, none left in staging`);
  }
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, `verify after the Ctrl-C: ${verified.stdout}${verified.stderr}`);
});
