import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactFile } from '../../redaction/egress.js';
import { egressContext, MEDIA, megamindClip, tmp } from './media.js';

/**
 * The daemon runs exports while it records, answers MQTT and feeds the systemd watchdog: a probe
 * must never hold its event loop. Made visible with tools that take 6 s to answer (a busy SD
 * card, a loaded box): with a synchronous probe the loop stands still for those seconds.
 */
const SLOW_S = 6;
/** Well under SLOW_S, well above what model loading and detection stall on a loaded 2-core box (measured up to 2.6 s). */
const BOUND_MS = SLOW_S * 1000 * (2 / 3);

function slowTools(dir: string): void {
  for (const tool of ['ffprobe', 'gst-inspect-1.0']) {
    const path = join(dir, tool);
    writeFileSync(path, `#!/bin/sh\nsleep ${SLOW_S}\nexec /usr/bin/${tool} "$@"\n`);
    chmodSync(path, 0o755);
  }
}

/** The longest the event loop went without running a 20 ms timer while `work` ran. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return longest;
}

t.test('an export-path probe leaves the event loop running, however slow ffprobe is', async (t) => {
  const dir = tmp();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  slowTools(bin);
  const clip = megamindClip(dir, 1);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  t.teardown(() => { process.env.PATH = path; });
  const ctx = egressContext(t, dir);

  const started = performance.now();
  const stillStall = await longestStall(() => redactFile(ctx, { input: MEDIA.messi, out: join(dir, 'still.jpg'), requester: 'tap', reason: 'test' }));
  t.ok(performance.now() - started >= SLOW_S * 1000, 'the slow ffprobe really ran');
  t.ok(stillStall < BOUND_MS, `redacting an image: the loop never stood still for ${SLOW_S} s (longest ${Math.round(stillStall)} ms)`);

  const videoStall = await longestStall(() => redactFile(ctx, { input: clip, out: join(dir, 'clip.mp4'), requester: 'tap', reason: 'test' }));
  t.ok(videoStall < BOUND_MS, `redacting a video (probe and encoder choice): longest stall ${Math.round(videoStall)} ms`);
});
