import t from 'tap';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../config/errors.js';
import { effectiveRetention, loadConfig, parseConfig, readSecret } from '../../config/load.js';
import { validatorModule } from '../../config/compile-validator.js';
import { configSchemaJson } from '../../config/publish-schema.js';
import { configIssues } from '../support/config-issues.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

const MINIMAL = `
box: { id: box1 }
cameras:
  - id: cam1
    source: { type: test }
`;

const issuesOf = configIssues;

/** The ConfigError `fn` throws. */
function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError thrown');
}

/** A config with one camera whose source is given as YAML flow text. */
const withSource = (source: string) => `box: { id: box1 }\ncameras:\n  - id: cam1\n    source: ${source}\n`;

t.test('defaults are filled in', async (t) => {
  const c = parseConfig(MINIMAL, 'inline');
  t.equal(c.box.designated_site, false);
  t.same(c.storage, { path: '/var/lib/edge-nvr', free_space_floor_mb: 1024, retention: {}, exports_max_days: 30 });
  t.same(c.integrity, { checkpoint_interval_s: 300, verify_read_mb_s: 2, age_deletion_needs_clock_sync: true });
  const cam = c.cameras[0]!;
  t.equal(cam.enabled, true);
  t.same(cam.record, { backend: 'ffmpeg', segment_seconds: 60, timeout_seconds: 5 });
  t.same(cam.privacy_masks, []);
  t.equal(cam.capture_masks_on, 'auto', 'capture masks: on the camera when it holds them, else the box');
  // defaults inside the selected union branch too
  t.same(cam.source, { type: 'test', width: 640, height: 360, fps: 15, bitrate_kbps: 1000 });
  t.same(c.redaction, { faces: true, plates: true, method: 'pixelate', fail_closed: true, detectors: [] });
  t.same(c.watchdog, { stall_timeout_s: 10, backoff_s: [1, 2, 5, 10, 30, 60], camera_masks_check_s: 30, view_cpu_percent: 12.8 });
  // docs/config.md: view_cpu_percent 0.5 to 100
  for (const share of [0.4, 101]) {
    t.same(issuesOf(t, MINIMAL + `watchdog: { view_cpu_percent: ${share} }\n`), [`watchdog.view_cpu_percent: expected a number from 0.5 to 100, got ${share}`]);
  }
  t.equal(c.log.level, 'info');
  t.equal(c.mqtt, undefined);
  // README's promises that rest on defaults: a tamper change raised after 10 s, health at least every 5 minutes
  t.equal(cam.tamper.persistence_s, 10, 'tamper: a change must last 10 s');
  const withMqtt = parseConfig(MINIMAL + 'mqtt:\n  url: mqtt://127.0.0.1:1883\n', 'inline');
  t.equal(withMqtt.mqtt?.health_refresh_s, 300, 'health: published at least every 5 minutes when nothing changed');
});

t.test('schema errors name the path and what is expected, one line each', async (t) => {
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "10.0.0.5" }')), [
    'cameras[0].source.url: expected rtsp://host[:port]/path, got "10.0.0.5"',
  ]);
  const text = `
box: { id: box1 }
storage: { free_space_floor_mb: -1 }
cameras:
  - id: cam1
    colour: red
    source: { type: test }
    record: { segment_seconds: "ten", backend: vlc }
  - id: Cam 2
    source: { type: test, fps: 0 }
redaction: { fail_closed: false }
`;
  t.same(issuesOf(t, text), [
    'cameras[0].colour: unknown field; allowed: id, name, enabled, source, record, retention, privacy_masks, capture_masks, capture_masks_on, tamper',
    'cameras[0].record.backend: expected one of ffmpeg, gstreamer, got "vlc"',
    'cameras[0].record.segment_seconds: expected an integer from 1 to 600, got "ten"',
    'cameras[1].id: expected lower-case letters, digits, "-" and "_", starting with a letter or digit, got "Cam 2"',
    'cameras[1].source.fps: expected an integer from 1 to 60, got 0',
    'redaction.fail_closed: expected true (cannot be turned off), got false',
    'storage.free_space_floor_mb: expected an integer of at least 0, got -1',
  ]);
});

t.test('issues are ordered by path, indexes numerically, without repeats', async (t) => {
  const cams = Array.from({ length: 11 }, (_, i) => `  - { id: c${i}, source: { type: test }${i === 2 || i === 10 ? ', x: 1' : ''} }`);
  const issues = issuesOf(t, `box: { id: box1, colour: red }\ncameras:\n${cams.join('\n')}\n`);
  t.same(issues.map((i) => i.split(':')[0]), ['box.colour', 'cameras[2].x', 'cameras[10].x']);
});

t.test('a misspelt field gets a suggestion', async (t) => {
  const issues = issuesOf(t, MINIMAL + '    record: { segment_second: 10 }\n');
  t.same(issues, [
    'cameras[0].record.segment_second: unknown field (did you mean segment_seconds?); allowed: backend, segment_seconds, timeout_seconds',
  ]);
  // two letters swapped are one slip (an outside probe's "recrod" got no suggestion)
  t.match(issuesOf(t, MINIMAL + '    recrod: { segment_seconds: 10 }\n')[0], /^cameras\[0\]\.recrod: unknown field \(did you mean record\?\)/);
});

t.test('camera sources: only the branch named by type is reported', async (t) => {
  t.same(issuesOf(t, withSource('{ type: rtsp, host: 10.0.0.5 }')), [
    'cameras[0].source.host: unknown field; allowed: type, url, username, password, password_file',
    'cameras[0].source.url: missing; expected rtsp://host[:port]/path',
  ]);
  t.same(issuesOf(t, withSource('{ type: onvif, url: "rtsp://x/y" }')), [
    'cameras[0].source.host: missing; expected host or host:port of the ONVIF service (no scheme, no user:password@; an IPv6 address in brackets)',
    'cameras[0].source.url: unknown field; allowed: type, host, username, password, password_file, profile, allowed_stream_hosts',
  ]);
  t.same(issuesOf(t, withSource('{ type: http, url: "rtsp://x/y" }')), [
    'cameras[0].source.type: expected one of rtsp, onvif, test, got "http"',
  ]);
  t.same(issuesOf(t, withSource('{ url: "rtsp://x/y" }')), ['cameras[0].source.type: missing; expected one of rtsp, onvif, test']);
  t.same(issuesOf(t, withSource('rtsp://10.0.0.5/ch1')), [
    'cameras[0].source: expected an object with type rtsp, onvif or test, got "rtsp://10.0.0.5/ch1"',
  ]);
  t.same(issuesOf(t, 'box: { id: box1 }\ncameras:\n  - id: cam1\n'), [
    'cameras[0].source: missing; expected an object with type rtsp, onvif or test',
  ]);
  const onvif = parseConfig(withSource('{ type: onvif, host: "10.0.0.7:80" }'), 'inline');
  t.same(onvif.cameras[0]!.source, { type: 'onvif', host: '10.0.0.7:80' });
});

t.test('whole-file problems', async (t) => {
  t.same(issuesOf(t, ''), [
    '(top level): the file holds no settings; expected a YAML mapping with the sections box, storage, integrity, cameras, mqtt, http, uploads, redaction, watchdog, log',
  ]);
  t.same(issuesOf(t, 'box: { id: box1 }\ncameras: []\n'), ['cameras: expected a list of at least 1 entry, got an empty list']);
  t.same(issuesOf(t, 'box: { id: box1 }\n'), ['cameras: missing; expected a list of at least 1 entry']);
});

t.test('YAML anchors and merge keys share settings between cameras', async (t) => {
  const c = parseConfig(
    'box: { id: b }\ncameras:\n  - { id: a, source: { type: test }, record: &rec { backend: gstreamer, segment_seconds: 30 } }\n  - { id: b, source: { type: test }, record: { <<: *rec, timeout_seconds: 9 } }\n',
    'inline',
  );
  t.same(c.cameras[1]!.record, { backend: 'gstreamer', segment_seconds: 30, timeout_seconds: 9 });
});

t.test('a YAML syntax error names its line', async (t) => {
  const issues = issuesOf(t, 'box:\n  id: box1\ncameras:\n  - id: cam1\n   source: { type: test }\n');
  t.ok(issues.length >= 1);
  t.match(issues[0], /^line 5, column \d+: .+; expected valid YAML/);
  t.match(issuesOf(t, 'box: { id: box1 }\nbox: { id: box2 }\ncameras: []\n')[0], /^line 2, column 1: .*unique/i);
});

t.test('semantic rules', async (t) => {
  const twoCams = 'box: { id: box1 }\ncameras:\n  - { id: cam1, source: { type: test } }\n  - { id: cam2, source: { type: test } }\n  - { id: cam1, source: { type: test } }\n';
  t.same(issuesOf(t, twoCams), ['cameras[2].id: duplicate camera id "cam1" (also cameras[0].id); expected an id no other camera uses']);

  const retention = (r: string, box = '{ id: box1 }') => `box: ${box}\nstorage: { retention: ${r} }\n${MINIMAL.split('\n').slice(2).join('\n')}`;
  t.same(issuesOf(t, retention('{ min_days: 7 }')), [
    'storage.retention.min_days: 7 days is below the legal minimum of 30 days; expected at least 30, or set storage.retention.below_legal_minimum_reason to record why',
  ]);
  t.ok(parseConfig(retention('{ min_days: 7, below_legal_minimum_reason: "private office, staff consent" }'), 'inline'));
  // a reason of one letter in spaces passed (the box's other reasons need 3 characters besides spaces)
  t.match(issuesOf(t, retention('{ min_days: 7, below_legal_minimum_reason: "   x   " }'))[0], /^storage\.retention\.below_legal_minimum_reason: expected the reason, 3 characters or more besides spaces/);
  t.same(issuesOf(t, retention('{ min_days: 30 }', '{ id: box1, designated_site: true }')), [
    'storage.retention.min_days: 30 days is below the legal minimum of 90 days (box.designated_site is true); expected at least 90, or set storage.retention.below_legal_minimum_reason to record why',
  ]);
  t.same(issuesOf(t, retention('{ max_days: 20 }')), [
    'storage.retention.max_days: 20 days is below the legal minimum of 30 days: recordings would be deleted too early; expected at least 30, or set storage.retention.below_legal_minimum_reason to record why',
  ]);
  t.same(issuesOf(t, retention('{ min_days: 60, max_days: 45 }')), [
    'storage.retention.min_days: min_days 60 is more than max_days 45; expected min_days <= max_days',
  ]);
  // a camera override is judged on its own, and against what it inherits
  const camRetention = (r: string) =>
    `box: { id: box1 }\nstorage: { retention: { max_days: 40 } }\ncameras:\n  - { id: cam1, source: { type: test }, retention: ${r} }\n`;
  t.same(issuesOf(t, camRetention('{ min_days: 50 }')), [
    'cameras[0].retention.min_days: min_days 50 is more than max_days from storage.retention 40; expected min_days <= max_days',
  ]);
  t.same(issuesOf(t, camRetention('{ min_days: 3 }')), [
    'cameras[0].retention.min_days: 3 days is below the legal minimum of 30 days; expected at least 30, or set cameras[0].retention.below_legal_minimum_reason to record why',
  ]);

  t.same(issuesOf(t, withSource('{ type: rtsp, url: "rtsp://h/x", password: pw1, password_file: /run/pw }')), [
    'cameras[0].source.password: both password and password_file are set; expected only one of them (prefer password_file)',
  ]);
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtts://broker:8883", cert_file: /etc/c.pem }\n'), [
    'mqtt.key_file: missing while cert_file is set; expected both cert_file and key_file for a client certificate, or neither',
  ]);
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtts://broker:8883", key_file: /etc/k.pem }\n'), [
    'mqtt.cert_file: missing while key_file is set; expected both cert_file and key_file for a client certificate, or neither',
  ]);
});

t.test('configured ONNX detectors: layout errors name the field', async (t) => {
  const input = 'input: { width: 640, height: 640 }';
  const withDetectors = (...entries: string[]) => `${MINIMAL}redaction:\n  detectors:\n${entries.map((e) => `    - ${e}\n`).join('')}`;
  const ok = parseConfig(withDetectors(`{ name: plates, model: /m/plate.onnx, ${input}, output: { format: boxes, score_at: 4 } }`), 'inline');
  t.same(ok.redaction.detectors[0], {
    name: 'plates', model: '/m/plate.onnx', label: 'object', threshold: 0.5, every_n_frames: 1, pad: 0.1, tile: 0,
    input: { width: 640, height: 640, layout: 'nchw', channels: 'rgb', mean: [0, 0, 0], std: [1, 1, 1], resize: 'letterbox', pad_value: 0 },
    output: { format: 'boxes', transposed: false, box: 'xyxy', box_at: 0, normalized: false, score_at: 4, sigmoid: false, nms_iou: 0.45 },
  }, 'defaults of the boxes branch are filled');
  t.same(issuesOf(t, withDetectors(`{ name: x, model: /m.onnx, ${input}, output: { format: yolo } }`)), [
    'redaction.detectors[0].output.format: expected one of boxes, heatmap, got "yolo"',
  ]);
  t.same(issuesOf(t, withDetectors(`{ name: x, model: /m.onnx, ${input}, output: { format: heatmap, score_at: 1 } }`)), [
    'redaction.detectors[0].output.score_at: unknown field; allowed: format, tensor, min_area, grow',
  ]);
  t.same(issuesOf(t, withDetectors(`{ name: x, model: /m.onnx, input: { width: 640, height: 640, layout: hwc }, output: { format: heatmap } }`)), [
    'redaction.detectors[0].input.layout: expected one of nchw, nhwc, got "hwc"',
  ]);
  t.same(issuesOf(t, withDetectors(
    `{ name: blazeface, model: /a.onnx, ${input}, output: { format: heatmap } }`,
    `{ name: p, model: /b.onnx, ${input}, output: { format: boxes, labels: [plate] } }`,
    `{ name: p, model: /c.onnx, ${input}, output: { format: heatmap } }`,
  )), [
    'redaction.detectors[0].name: "blazeface" is a built-in detector (switch it with redaction.faces or redaction.plates); expected another name',
    'redaction.detectors[1].output.labels: set without classes_at; expected classes_at (the row index of the first class score), or label instead of labels for a one-class model',
    'redaction.detectors[1].output.score_at: missing; expected the row index of the score, or classes_at for per-class scores (or both: objectness times class score)',
    'redaction.detectors[2].name: duplicate detector name "p" (also redaction.detectors[1].name); expected a name no other detector uses',
  ]);
});

t.test('schema and semantic problems are reported together', async (t) => {
  const text = 'box: { id: box1 }\nstorage: { retention: { min_days: 7 } }\ncameras:\n  - { id: cam1, source: { type: test, fps: 0 } }\n  - { id: cam1, source: { type: test } }\n';
  t.same(
    issuesOf(t, text).map((i) => i.split(':')[0]),
    ['cameras[0].source.fps', 'cameras[1].id', 'storage.retention.min_days'],
  );
});

t.test('effectiveRetention: camera over storage, minimum defaults to the legal one', async (t) => {
  const c = parseConfig(
    'box: { id: b, designated_site: true }\nstorage: { retention: { max_days: 120 } }\ncameras:\n  - { id: a, source: { type: test } }\n  - { id: b, source: { type: test }, retention: { min_days: 100, max_days: 200 } }\n',
    'inline',
  );
  t.same(effectiveRetention(c, c.cameras[0]!), { minDays: 90, maxDays: 120 });
  t.same(effectiveRetention(c, c.cameras[1]!), { minDays: 100, maxDays: 200 });
  const plain = parseConfig(MINIMAL, 'inline');
  t.same(effectiveRetention(plain, plain.cameras[0]!), { minDays: 30, maxDays: null });
  // a max_days below the legal minimum, on record: the minimum is not left above the maximum
  const short = parseConfig('box: { id: b }\ncameras:\n  - { id: a, source: { type: test }, retention: { max_days: 20, below_legal_minimum_reason: "staff room, works council 2024-03" } }\n', 'inline');
  t.same(effectiveRetention(short, short.cameras[0]!), { minDays: 20, maxDays: 20 });
});

t.test('secrets: read from files, never shown in errors', async (t) => {
  const dir = t.testdir({ 'cam.pass': 'hunter2-secret\n', 'empty.pass': '', 'two.pass': 'hunter2-secret\nmore\n', 'locked.pass': 'hunter2-secret' });
  t.equal(readSecret({ password_file: join(dir, 'cam.pass') }, 'cameras[0].source'), 'hunter2-secret');
  t.equal(readSecret({ password: 'inline-pw' }, 'mqtt'), 'inline-pw');
  t.equal(readSecret({}, 'mqtt'), undefined);
  const missing = failure(() => readSecret({ password_file: join(dir, 'nope.pass') }, 'cameras[0].source', 'site.yaml'));
  t.equal(missing.source, 'site.yaml');
  t.equal(missing.issues.length, 1);
  t.match(missing.issues[0], /^cameras\[0\]\.source\.password_file: cannot read .*nope\.pass \(ENOENT/);
  t.match(failure(() => readSecret({ password_file: join(dir, 'empty.pass') }, 'mqtt')).issues[0], /^mqtt\.password_file: .* is empty/);
  // the same rule as `check`'s: a second line was sent to the camera as part of the password
  const two = failure(() => readSecret({ password_file: join(dir, 'two.pass') }, '--password-file'));
  t.match(two.issues[0], /^--password-file: .*two\.pass holds more than one line/);
  t.notMatch(two.message, /hunter2/);
  t.match(failure(() => readSecret({ password_file: dir }, 'mqtt')).issues[0], /a directory, not a file/);
  if (process.getuid?.() !== 0) {
    chmodSync(join(dir, 'locked.pass'), 0o000);
    const locked = failure(() => readSecret({ password_file: join(dir, 'locked.pass') }, 'mqtt'));
    t.match(locked.issues[0], /EACCES/);
    t.notMatch(locked.message, /hunter2/);
  }

  // secrets in wrong places: neither an inline password nor URL credentials are echoed
  const leaky = `
box: { id: box1 }
cameras:
  - id: cam1
    source: { type: rtsp, url: "rtsp://admin:hunter2-secret@cam 1/x", password: 987654321, password_file: /x }
  - id: cam2
    source: { type: onvif, host: cam2, password: ["hunter2-secret"] }
mqtt: { url: "http://user:hunter2-secret@broker", password: hunter2-secret, password_file: /y }
`;
  const issues = issuesOf(t, leaky);
  t.ok(issues.length >= 5);
  for (const issue of issues) {
    t.notMatch(issue, /hunter2|987654321/, issue);
  }
  t.ok(issues.includes('cameras[0].source.password: expected a string (inline secret; prefer password_file), got a number (not shown)'));
  t.ok(issues.includes('cameras[0].source.url: expected rtsp://host[:port]/path, got "rtsp://***@cam 1/x"'));
});

t.test('loadConfig names the file and the OS reason', async (t) => {
  const dir = t.testdir({ 'good.yaml': MINIMAL, 'bad.yaml': 'box: { id: box1 }\n' });
  t.equal(loadConfig(join(dir, 'good.yaml')).cameras[0]!.id, 'cam1');
  const missing = join(dir, 'missing.yaml');
  const absent = failure(() => loadConfig(missing));
  t.equal(absent.source, missing);
  t.same(absent.issues, ['cannot read the config file (ENOENT: no such file); expected a readable YAML file']);
  const bad = failure(() => loadConfig(join(dir, 'bad.yaml')));
  t.equal(bad.source, join(dir, 'bad.yaml'));
  t.same(bad.issues, ['cameras: missing; expected a list of at least 1 entry']);
});

t.test('the examples validate', async (t) => {
  const site = loadConfig(root('config/examples/edge-nvr.yaml'));
  t.same(site.cameras.map((c) => c.source.type), ['rtsp', 'rtsp', 'onvif']);
  t.ok(site.cameras.every((c) => c.source.type === 'test' || c.source.password_file), 'secrets live in files');
  t.ok(site.mqtt);
  const demo = loadConfig(root('config/examples/demo.yaml'));
  t.equal(demo.box.id, 'demo');
  t.equal(demo.storage.path, './demo-data');
  t.equal(demo.mqtt, undefined);
  t.same(
    demo.cameras.map((c) => [c.id, c.source.type, c.record.backend, c.record.segment_seconds]),
    [
      ['demo-1', 'test', 'ffmpeg', 10],
      ['demo-2', 'test', 'gstreamer', 10],
    ],
  );
});

t.test('the validator the loader runs is the schema compiled now, and needs no ajv at run time', async (t) => {
  const committed = readFileSync(root('config/validate.generated.ts'), 'utf8');
  // a schema.ts (or ajv) change without `npm run schema` leaves the loader checking the old schema
  t.equal(committed, validatorModule(), 'regenerate it: npm run schema');
  t.notMatch(committed, /\brequire\(|from ['"]ajv/, 'it imports and requires nothing: the helpers ajv would load are inlined');
});

t.test('docs/config.schema.json is up to date and usable on its own', async (t) => {
  const published = readFileSync(root('docs/config.schema.json'), 'utf8');
  t.equal(published, configSchemaJson(), 'regenerate it: npx tsc -p . && node dist/config/publish-schema.js');
  // what an editor does with it: plain draft-07 validation, no defaults filled
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(published));
  for (const example of ['config/examples/edge-nvr.yaml', 'config/examples/demo.yaml']) {
    t.ok(validate(parseYaml(readFileSync(root(example), 'utf8'))), `${example}: ${JSON.stringify(validate.errors)}`);
  }
  t.notOk(validate({ box: { id: 'b' }, cameras: [{ id: 'c', source: { type: 'rtsp' } }] }));
});
