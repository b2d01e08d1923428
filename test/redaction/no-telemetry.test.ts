import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../support/cli.js';
import { MEDIA, tmp } from './media.js';

/**
 * ONNX Runtime's Linux build carries a telemetry client that keeps a device id and an event store
 * in the home directory, logs to /tmp/mat-debug-<pid>.log and uploads over HTTPS. A redaction
 * (which loads both detectors) must leave no trace of it, with nothing set in the environment.
 */
t.test('redacting leaves no ONNX Runtime telemetry behind (no device id, no event store, no debug log)', async (t) => {
  const dir = tmp();
  const home = join(dir, 'home');
  mkdirSync(home);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.ORT_DISABLE_TELEMETRY;
  const child = spawn(process.execPath, [CLI, 'redact', MEDIA.messi, join(dir, 'out.jpg'), '--data', join(dir, 'data'), '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += String(d); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0, `the redaction ran (both detectors loaded): ${stderr}`);
  t.ok(existsSync(join(dir, 'out.jpg')), 'and wrote its output');
  t.same(readdirSync(home), [], 'nothing in the home directory (no ~/.cache/Microsoft/DeveloperTools/.onnxruntime)');
  t.notOk(existsSync(`/tmp/mat-debug-${child.pid}.log`), 'no telemetry debug log in /tmp');
  t.notMatch(stderr, /telemetry/i, 'and no word of telemetry');
});
