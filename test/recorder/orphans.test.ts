import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { killOrphansWriting } from '../../recorder/backends/orphans.js';

/*
 * A recorder left by an earlier run (a kill -9 of the daemon where setpriv's parent-death
 * signal is missing) is found by its staging dir on its command line and killed at start-up;
 * a process of another camera, whose staging dir only shares a prefix (cam1, cam10), is left alone.
 */
t.test('a process writing into the staging dir is killed, one of another camera is not', async (t) => {
  const dir = t.testdir();
  const staging = join(dir, 'staging', 'cam1');
  const keepAlive = 'setInterval(() => {}, 1000)';
  // as ffmpeg's output pattern, and as the GStreamer child's one argument
  const ffmpeg = spawn(process.execPath, ['-e', keepAlive, join(staging, '1700000000000-%06d.mp4')], { stdio: 'ignore' });
  const gst = spawn(process.execPath, ['-e', keepAlive, staging], { stdio: 'ignore' });
  const neighbour = spawn(process.execPath, ['-e', keepAlive, join(dir, 'staging', 'cam10'), join(dir, 'staging', 'cam10', 'x.mp4')], { stdio: 'ignore' });
  t.teardown(() => { for (const p of [ffmpeg, gst, neighbour]) p.kill('SIGKILL'); });
  await Promise.all([once(ffmpeg, 'spawn'), once(gst, 'spawn'), once(neighbour, 'spawn')]);

  // listening before the kill: a second orphan's 'exit' could come while the first one's was
  // awaited, and a listener added after it waited for ever (seen once: a 360 s timeout)
  const exits = [ffmpeg, gst].map((p) => once(p, 'exit') as Promise<[number | null, NodeJS.Signals | null]>);
  const killed = killOrphansWriting(staging);
  t.same(killed.sort(), [ffmpeg.pid, gst.pid].sort(), 'both orphans, and only they, are reported killed');
  for (const [i, name] of (['ffmpeg-like', 'gstreamer-like'] as const).entries()) {
    const [, signal] = await exits[i]!;
    t.equal(signal, 'SIGKILL', `the ${name} orphan is gone`);
  }
  t.equal(neighbour.exitCode, null, "the other camera's process still runs");
  t.equal(neighbour.signalCode, null);
});
