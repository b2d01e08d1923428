import t from 'tap';
import { DaemonProcess, writeConfig } from '../support/daemon.js';
import { moduleTrace } from '../support/module-trace.js';

async function loadedBy(dir: string, extraYaml: string): Promise<string[]> {
  const trace = moduleTrace(dir);
  // no camera recorded: what is loaded is what the daemon carries whatever its cameras
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', enabled: false }], { extraYaml });
  const daemon = new DaemonProcess(config, ['run'], { NODE_OPTIONS: trace.nodeOptions }).start();
  try {
    await daemon.waitForLog(/edge-nvr running/, 60_000);
    if (extraYaml.includes('metrics_listen')) await daemon.waitForLog(/prometheus metrics on/, 30_000);
  } finally {
    await daemon.stop();
  }
  return trace.loaded();
}

const MQTT = /\/node_modules\/mqtt\//;
const PROM = /\/node_modules\/prom-client\//;
const WEB = /\/dist\/web\/server\.js$/;
const ONNX = /\/node_modules\/onnxruntime-node\//;

t.test('a box without a broker or a status page does not load MQTT.js, the web server or prom-client (they cost it ~10 MB)', async (t) => {
  const loaded = await loadedBy(t.testdir(), '');
  t.ok(loaded.some((u) => /\/dist\/daemon\/daemon\.js$/.test(u)), `the trace sees the daemon's modules (${loaded.length} loaded)`);
  t.ok(loaded.some((u) => /\/node_modules\/better-sqlite3\//.test(u)), 'and its packages');
  t.same(loaded.filter((u) => MQTT.test(u) || PROM.test(u) || /\/dist\/web\//.test(u) || /\/dist\/daemon\/mqtt\/(reporter|client|commands)\.js$/.test(u) || ONNX.test(u)), [],
    'nothing of MQTT, the status page, the metrics or ONNX Runtime');
});

t.test('configured, they are loaded (the trace would see them)', async (t) => {
  // a broker nobody listens on: the reporter is started and keeps trying, which is all this needs
  const loaded = await loadedBy(t.testdir(), 'http:\n  metrics_listen: 127.0.0.1:0\nmqtt:\n  url: mqtt://127.0.0.1:9\n');
  t.ok(loaded.some((u) => MQTT.test(u)), 'MQTT.js with an mqtt section');
  t.ok(loaded.some((u) => WEB.test(u)) && loaded.some((u) => PROM.test(u)), 'the web server and prom-client with metrics_listen');
  // the command validators are compiled ahead of time (npm run schema): no schema builder, no compiler
  t.ok(loaded.some((u) => /\/dist\/daemon\/mqtt\/commands\.js$/.test(u)), 'the command path is loaded');
  t.same(loaded.filter((u) => /\/node_modules\/(@sinclair\/typebox|ajv)\//.test(u)), [], 'but neither typebox nor ajv');
});
