import t from 'tap';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, writeConfig } from '../support/daemon.js';
import { moduleTrace } from '../support/module-trace.js';

// What makes a CLI call slow to start (each costs 50-550 ms before the command does anything):
// the config loader (YAML, and before its validator was compiled ahead of time, the typebox schema
// and the ajv compiler), the daemon with everything it wires, ONNX Runtime, MQTT.js. A command that
// reads a data dir needs none of them; one that reads a config needs neither typebox nor ajv.
const HEAVY: Array<[string, RegExp]> = [
  ['the config loader', /\/dist\/config\/(load|parse|schema)\.js$/],
  ['yaml', /\/node_modules\/yaml\//],
  ['typebox', /\/node_modules\/@sinclair\/typebox\//],
  ['ajv', /\/node_modules\/ajv\//],
  ['the daemon', /\/dist\/daemon\/(daemon|lifecycle)\.js$/],
  ['the egress gate', /\/dist\/redaction\/egress\.js$/],
  ['ONNX Runtime', /\/node_modules\/onnxruntime-node\//],
  ['MQTT.js', /\/node_modules\/mqtt\//],
];

function heavy(loaded: string[]): string[] {
  return HEAVY.filter(([, re]) => loaded.some((url) => re.test(url))).map(([name]) => name);
}

async function traced(dir: string, args: string[]) {
  const trace = moduleTrace(dir);
  const r = await runCli(args, { env: { ...process.env, NODE_OPTIONS: trace.nodeOptions } });
  return { ...r, loaded: trace.loaded() };
}

t.test('commands that read a data dir load none of the config loader, the daemon, ONNX Runtime or MQTT.js', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  Catalog.open(data).close();
  const light: Array<[string[], number]> = [
    [['--help'], 0],
    // no daemon runs, so status says "not recording" (exit 1): it still read the catalog
    [['status', '--data', data], 1], [['verify', '--data', data], 0], [['audit', '--data', data], 0],
    [['recordings', '--data', data], 0], [['hold', 'list', '--data', data], 0], [['exports', '--data', data], 0],
    [['uploads', '--data', data], 0], [['tamper', 'show', '--data', data], 0], [['checkpoint', '--data', data], 0],
    [['user', 'list', '--data', data], 0],
    // the writing ones too (the reload finds no daemon: exit 1; the catalog has no camera "gate": exit 2)
    [['hold', 'add', '--all-cameras', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', 'case 42', '--data', data], 0],
    [['reload', '--data', data], 1],
    [['evidence', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--agency', 'Police', '--officer', 'A B:1',
      '--officer', 'C D:2', '--approval', 'order 1', '--reason', 'case 42', '--destination', 'case file', '--out', join(dir, 'bundle'), '--data', data], 2],
  ];
  for (const [i, [args, code]] of light.entries()) {
    const r = await traced(join(dir, `trace-${i}`), args);
    t.equal(r.code, code, `${args[0]}: exit ${code}${r.code === code ? '' : ` (${r.stderr.trim()})`}`);
    if (args[0] !== '--help' && args[0] !== 'user') t.ok(r.loaded.some((u) => /\/node_modules\/better-sqlite3\//.test(u)), `${args[0]}: the trace sees it open the catalog`);
    t.same(heavy(r.loaded), [], `${args.slice(0, 2).join(' ')}: none of the heavy modules (${r.loaded.filter((u) => u.startsWith('file:')).length} files loaded)`);
  }
});

t.test('a command or a daemon that reads the config loads the loader but neither typebox nor ajv, and its errors are unchanged', async (t) => {
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'gate', url: 'rtsp://127.0.0.1:9/none' }]);
  Catalog.open(join(dir, 'data')).close();
  const withConfig = await traced(join(dir, 'trace-config'), ['verify', '--config', config]);
  t.equal(withConfig.code, 0, withConfig.stderr);
  // the validator is compiled ahead of time (config/validate.generated.ts): the loader builds no
  // TypeBox schema and runs no ajv compiler at run time
  t.same(heavy(withConfig.loaded), ['the config loader', 'yaml'], 'the trace sees the loader when it is used, without typebox or ajv');
  // the daemon too: a start loads the loader, not the schema builder or the validator compiler
  // (a box without mqtt:; the MQTT reporter brings its own payload schemas)
  const trace = moduleTrace(join(dir, 'trace-run'));
  const daemon = new DaemonProcess(config, ['run'], { NODE_OPTIONS: trace.nodeOptions }).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/edge-nvr running/, 60_000);
  t.equal((await daemon.stop()).code, 0, 'the daemon started and stopped');
  const started = heavy(trace.loaded());
  t.ok(started.includes('the config loader') && started.includes('the daemon'), `the trace sees the daemon read its config: ${started.join(', ')}`);
  t.same(started.filter((m) => m === 'typebox' || m === 'ajv'), [], 'a daemon start loads neither typebox nor ajv');
  const missing = await runCli(['audit', '--config', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 2, 'a config that cannot be read: exit 2, as before');
  t.match(missing.stderr, `${join(dir, 'nope.yaml')}:`, 'naming the file');
});
