/**
 * Runs one camera's GStreamer backend in a Node process of its own, standing in for the daemon
 * in tests that kill it (its recorder must not outlive it).
 *
 *   node --import tsx test/support/record-child.ts <url> <stagingDir> <segmentSeconds> [stopAfterMs]
 *
 * Prints one JSON line per event: {"event":"started"|"progress"|"segment"|"exit", ...}; "started"
 * carries the recorder's pid. With stopAfterMs it calls stop() then.
 */
import { GstreamerBackend } from '../../recorder/backends/gstreamer.js';
import { scrubCredentials } from '../../common/credentials.js';

const [url, stagingDir, segmentSeconds, stopAfterMs] = process.argv.slice(2);
if (!url || !stagingDir || !segmentSeconds) {
  process.stderr.write('usage: record-child <url> <stagingDir> <segmentSeconds> [stopAfterMs]\n');
  process.exit(2);
}

const backend = new GstreamerBackend({
  camera: 'child',
  url,
  safeUrl: scrubCredentials(url),
  stagingDir,
  segmentSeconds: Number(segmentSeconds),
  timeoutSeconds: 5,
});
const say = (event: string, data: object) => process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
backend.on('progress', (p) => say('progress', p));
backend.on('segment', (s) => say('segment', s));
backend.on('exit', (e) => say('exit', e));
backend.start();
// the pid is known once the spawner has started it (recorder/backends/spawner.ts)
backend.once('spawned', ({ pid }) => say('started', { runStartMs: backend.runStartMs, pid }));
if (stopAfterMs) setTimeout(() => { void backend.stop(); }, Number(stopAfterMs));
