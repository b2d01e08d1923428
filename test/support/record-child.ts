/**
 * Records one camera with the GStreamer backend in a process of its own, for tests that kill
 * the recording process (kill -9 must leave a playable file) or that check it exits by itself.
 *
 *   node --import tsx test/support/record-child.ts <url> <stagingDir> <segmentSeconds> [stopAfterMs]
 *
 * Prints one JSON line per event: {"event":"progress"|"segment"|"exit", ...}. With stopAfterMs
 * it calls stop() then and does nothing else: the process must then end on its own.
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
say('started', { runStartMs: backend.runStartMs });
if (stopAfterMs) setTimeout(() => { void backend.stop(); }, Number(stopAfterMs));
