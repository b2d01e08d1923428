/**
 * Configs an installer writes by mistake or an attacker plants: each is refused with one line per
 * problem naming the place and the fix, never a password, never a hang or a memory blowup; the
 * valid forms next to them are still accepted.
 */
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../config/errors.js';
import { loadConfig, parseConfig } from '../../config/load.js';
import { CLI, runCli } from '../support/cli.js';
import { configIssues } from '../support/config-issues.js';

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);

const MINIMAL = 'box: { id: box1 }\ncameras:\n  - id: cam1\n    source: { type: test }\n';
const withSource = (source: string) => `box: { id: box1 }\ncameras:\n  - id: cam1\n    source: ${source}\n`;
const SECRET = /S3cretPW|hunter2/;

const issuesOf = (t: Parameters<typeof configIssues>[0], text: string) => configIssues(t, text, SECRET);

t.test('numbers YAML can write but no setting can take are refused at their path', async (t) => {
  const msg = (path: string, v: string) => `${path}: ${v} is not a usable number (1e309 and .inf are infinite, .nan is none); expected a finite number`;
  // each was accepted: retention "at least for ever", a free-space floor no disk meets, a restart never tried
  t.same(issuesOf(t, MINIMAL + 'storage: { retention: { min_days: 1e309 } }\n'), [msg('storage.retention.min_days', 'Infinity')]);
  t.same(issuesOf(t, MINIMAL + 'storage: { retention: { max_days: .inf } }\n'), [msg('storage.retention.max_days', 'Infinity')]);
  t.same(issuesOf(t, MINIMAL + 'storage: { free_space_floor_mb: 1e400, exports_max_days: .inf }\n'), [
    msg('storage.exports_max_days', 'Infinity'),
    msg('storage.free_space_floor_mb', 'Infinity'),
  ]);
  t.same(issuesOf(t, MINIMAL + 'watchdog: { backoff_s: [1, .inf] }\n'), [msg('watchdog.backoff_s[1]', 'Infinity')]);
  t.same(issuesOf(t, MINIMAL + 'storage: { retention: { min_days: .nan } }\n'), [msg('storage.retention.min_days', 'NaN')]);
  t.same(issuesOf(t, MINIMAL + 'storage: { path: "/var/lib/x\\0y" }\n'), ['storage.path: contains a NUL character (\\0); expected text without it']);
  t.equal(parseConfig(MINIMAL + 'storage: { retention: { min_days: 30, max_days: 3.65e2 } }\n', 'inline').storage.retention.max_days, 365);
});

t.test('YAML tags are refused with their line, not read as text or dropped', async (t) => {
  t.same(issuesOf(t, MINIMAL + '    name: !!js/function "function () { return 1 }"\n'), [
    'line 5, column 11: a YAML tag (a value starting with "!") cannot be read here; expected a plain value: quote a value that starts with "!" (a password, say: \'!...\'), or give the setting without the tag or alias',
  ]);
  t.same(issuesOf(t, MINIMAL + '    name: !!binary aGVsbG8=\n'), ['line 5, column 11: a YAML tag (a value starting with "!") cannot be read here; expected a plain value: quote a value that starts with "!" (a password, say: \'!...\'), or give the setting without the tag or alias']);
  // an ordered map's settings used to vanish: segment_seconds 10 became the default 60
  t.same(issuesOf(t, MINIMAL + '    record: !!omap [ { segment_seconds: 10 } ]\n'), ['line 5, column 13: a YAML tag (a value starting with "!") cannot be read here; expected a plain value: quote a value that starts with "!" (a password, say: \'!...\'), or give the setting without the tag or alias']);
  t.same(issuesOf(t, MINIMAL + '    name: !secret cam_name\n'), ['line 5, column 11: a YAML tag (a value starting with "!") cannot be read here; expected a plain value: quote a value that starts with "!" (a password, say: \'!...\'), or give the setting without the tag or alias']);
  // the core tags still work
  const c = parseConfig(MINIMAL + '    name: !!str 123\n    record: !!map { segment_seconds: !!int "10" }\n', 'inline');
  t.equal(c.cameras[0]!.name, '123');
  t.equal(c.cameras[0]!.record.segment_seconds, 10);
});

t.test('a password read as a tag or an alias is never shown: the error names its place and the fix', async (t) => {
  // generated passwords start with "!", "*" or "&" often enough; the error went into the journal,
  // an MQTT reply and the audit log when a reload was refused (an outside probe)
  for (const secret of ['!Pa55SecretTag', '*Pa55SecretStar']) {
    const issues = issuesOf(t, withSource(secret));
    t.equal(issues.length, 1, issues.join(' | '));
    t.notMatch(issues[0], /Pa55Secret/, `${secret[0]}: the value is not in the error`);
    t.match(issues[0], new RegExp(`^line 4, column 13: .*quote a value that starts with "\\${secret[0]}"`), 'its place and the fix');
  }
});

t.test('anchors and aliases gone wrong name their line', async (t) => {
  t.same(issuesOf(t, withSource('*defaults')), ['line 4, column 13: an alias that names no anchor set before it (a value starting with "*") cannot be read here; expected a plain value: quote a value that starts with "*" (a password, say: \'*...\'), or give the setting without the tag or alias']);
  t.same(issuesOf(t, MINIMAL + '    record: { <<: 10 }\n'), ['line 5, column 15: a merge key (<<) takes a mapping; expected <<: *name where &name is on a mapping']);
});

t.test('YAML syntax errors: one line per mistake, and a fix that fits', async (t) => {
  // a trailing `}` missing used to give three lines for one mistake
  const unclosed = issuesOf(t, '{"box": {"id": "box1"}, "cameras": [{"id": "cam1", "source": {"type": "test"}]');
  t.equal(unclosed.length, 1, unclosed.join(' | '));
  t.match(unclosed[0], /^line 1, column \d+: .+; expected valid YAML/);
  t.same(issuesOf(t, 'box: { id: box1 }\nbox: { id: box2 }\ncameras: []\n'), [
    'line 2, column 1: duplicate key: the same mapping already has it (map keys must be unique); expected each key once: remove or merge the repeated one',
  ]);
  const deep = issuesOf(t, MINIMAL + 'x: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n');
  t.equal(deep.length, 1);
  t.match(deep[0], /^line 5, column \d+: nested too deeply for the YAML reader; expected the few levels a config has/);
  t.notMatch(deep[0], /call stack/i, 'no internal error text');
  // a BOM and CRLF line endings are fine
  t.equal(parseConfig('\ufeff' + MINIMAL.replace(/\n/g, '\r\n'), 'inline').cameras[0]!.id, 'cam1');
});

t.test('passwords in wrong places are never echoed', async (t) => {
  // without a well-formed scheme:// the old scrubbing missed them
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "admin:S3cretPW@10.0.0.5/ch1" }')), ['cameras[0].source.url: expected rtsp://host[:port]/path, got "***@10.0.0.5/ch1"']);
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "rtsp:/admin:S3cretPW@10.0.0.5/ch1" }')), ['cameras[0].source.url: expected rtsp://host[:port]/path, got "rtsp:/***@10.0.0.5/ch1"']);
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "rtsp://admin:S3cret PW@10.0.0.5/ch1" }')), ['cameras[0].source.url: expected rtsp://host[:port]/path, got "rtsp://***@10.0.0.5/ch1"']);
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "user:S3cretPW@broker:1883" }\n'), ['mqtt.url: expected mqtt://host:1883 or mqtts://host:8883, got "***@broker:1883"']);
  t.same(issuesOf(t, MINIMAL + 'http: { listen: "admin:S3cretPW@127.0.0.1:8080" }\n'), [
    'http.listen: expected host:port of the status web page, e.g. 127.0.0.1:8080 (absent: no page), got "***@127.0.0.1:8080"',
  ]);
  // a rule's message, not only the schema's
  const bearer = issuesOf(t, MINIMAL + 'uploads: { allowed_hosts: [a.example], bearer_tokens: [{ host: "u:S3cretPW@a.example", token_file: /t } ] }\n');
  t.ok(bearer.some((i) => i.startsWith('uploads.bearer_tokens[0].host: "***@a.example" is not in uploads.allowed_hosts')), bearer.join(' | '));
  // an unencoded / or @ in the password: the URL looks valid, its "port" or host is the password's start, its tail a path
  // (an outside probe: rtsp://admin:Pa@localhost/9Zq@... sent "Pa" to localhost and logged "9Zq" everywhere)
  const misplaced = 'holds an @ or a space past its host, where a password holding @, /, ?, # or a space typed unencoded ends up (its head would go to another host, its tail into logs); expected the password in password_file, or percent-encoded (%40 for @, %2F for /)';
  for (const url of ['rtsp://admin:S3cretPW/x@10.0.0.5/ch1', 'rtsp://admin:Pa@localhost/9Zq@10.0.0.5:554/cam1', 'rtsp://admin:S3cr@t:/%#?pw@10.0.0.5/ch1']) {
    t.same(issuesOf(t, withSource(`{ type: rtsp, url: "${url}" }`)), [`cameras[0].source.url: ${misplaced}`], url);
  }
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtt://u:S3cret/PW@broker:1883" }\n'), [`mqtt.url: ${misplaced}`]);
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "rtsp://10.0.0.5:x5/ch1" }')), [
    'cameras[0].source.url: the port is not a number; expected host:port with a port from 1 to 65535 (a password holding @, / or : belongs in password_file, or percent-encoded)',
  ]);
});

t.test('an ONVIF host is a host: a URL or credentials there would reach every log line', async (t) => {
  const expected = 'expected host or host:port of the ONVIF service (no scheme, no user:password@; an IPv6 address in brackets)';
  t.same(issuesOf(t, withSource('{ type: onvif, host: "admin:S3cretPW@10.0.0.5" }')), [`cameras[0].source.host: ${expected}, got "***@10.0.0.5"`]);
  t.same(issuesOf(t, withSource('{ type: onvif, host: "http://10.0.0.5/onvif/device_service" }')), [`cameras[0].source.host: ${expected}, got "http://10.0.0.5/onvif/device_service"`]);
  t.same(issuesOf(t, withSource('{ type: onvif, host: "" }')), [`cameras[0].source.host: ${expected}, got ""`]);
  for (const host of ['10.0.0.7', '10.0.0.7:8000', 'cam_2.lan', '[fe80::1]:80']) {
    t.equal((parseConfig(withSource(`{ type: onvif, host: "${host}" }`), 'inline').cameras[0]!.source as { host: string }).host, host);
  }
});

t.test('a password in a camera URL\'s path or query is refused, never echoed', async (t) => {
  // no userinfo: nothing knew it was a secret, and it reached check's output, the log and
  // ffmpeg's command line (an outside probe)
  for (const url of ['rtsp://10.0.0.5/cam/realmonitor?channel=1&user=admin&password=QuerySecret9', 'rtsp://10.0.0.5:554/user=admin&password=QuerySecret9&channel=1&stream=0.sdp',
    'rtsp://10.0.0.5/live#pwd=QuerySecret9', 'rtsp://10.0.0.5/live?TOKEN=QuerySecret9']) {
    const issues = issuesOf(t, withSource(`{ type: rtsp, url: "${url}" }`));
    t.equal(issues.length, 1, url);
    t.match(issues[0], /^cameras\[0\]\.source\.url: holds a password in its path or query \("(password|pwd|TOKEN)="\): .* give it as source\.username and source\.password_file/, url);
    t.notMatch(issues.join('\n'), 'QuerySecret9', 'the password is not echoed');
  }
  // a parameter with an empty value holds no secret (XMeye's default "password="), and other parameters are no password
  for (const url of ['rtsp://10.0.0.5/user=admin&password=&channel=1&stream=0.sdp', 'rtsp://10.0.0.5/cam/realmonitor?channel=1&subtype=0']) {
    t.ok(parseConfig(withSource(`{ type: rtsp, url: "${url}" }`), 'inline'), `${url} is accepted`);
  }
});

t.test('ports that do not exist are refused at the setting', async (t) => {
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "rtsp://admin:S3cretPW@10.0.0.5:99999/ch1" }')), ['cameras[0].source.url: port 99999 does not exist; expected a port from 1 to 65535']);
  t.same(issuesOf(t, withSource('{ type: rtsp, url: "rtsp://10.0.0.5:0/ch1" }')), ['cameras[0].source.url: port 0 does not exist; expected a port from 1 to 65535']);
  t.same(issuesOf(t, withSource('{ type: onvif, host: "10.0.0.5:70000" }')), ['cameras[0].source.host: port 70000 does not exist; expected a port from 1 to 65535']);
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtts://broker:88830" }\n'), ['mqtt.url: port 88830 does not exist; expected a port from 1 to 65535']);
  // a URL the connection cannot parse: `run` crashed with a stack trace, a reload to it left MQTT down (an outside probe)
  for (const url of ['mqtt://[::1', 'mqtt://', 'mqtt://u:S3cretPW@']) {
    const issues = issuesOf(t, MINIMAL + `mqtt: { url: "${url}" }\n`);
    t.same(issues, ['mqtt.url: names no host a connection can be made to (nothing after "//", or an IPv6 address without its closing "]"); expected scheme://host[:port], e.g. mqtt://192.168.1.10:1883 or rtsp://[fd00::5]:554/stream'], url);
  }
  t.same(issuesOf(t, MINIMAL + 'uploads: { allowed_hosts: ["store.example:65536"] }\n'), ['uploads.allowed_hosts[0]: port 65536 does not exist; expected a port from 1 to 65535']);
  for (const url of ['rtsp://10.0.0.5:554/ch1', 'rtsps://[fe80::1]:322/x', 'rtsp://u:p@10.0.0.5/ch1']) {
    t.ok(parseConfig(withSource(`{ type: rtsp, url: "${url}" }`), 'inline'), url);
  }
});

t.test('MQTT prefixes: no wildcard, not the broker\'s $ topics', async (t) => {
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtt://b", topic_prefix: "site/+/nvr" }\n'), [
    'mqtt.topic_prefix: expected topic levels, e.g. site/edge-nvr/box1: no + or #, no empty level, not starting with $, got "site/+/nvr"',
  ]);
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtt://b", home_assistant: { discovery_prefix: "$SYS" } }\n'), [
    'mqtt.home_assistant.discovery_prefix: expected topic levels, e.g. homeassistant: no + or #, no empty level, not starting with $, got "$SYS"',
  ]);
  for (const prefix of ['a//b', 'site/nvr/', '/site']) {
    t.same(issuesOf(t, MINIMAL + `mqtt: { url: "mqtt://b", topic_prefix: "${prefix}" }\n`), [
      `mqtt.topic_prefix: expected topic levels, e.g. site/edge-nvr/box1: no + or #, no empty level, not starting with $, got "${prefix}"`,
    ], `an empty level: ${prefix}`);
  }
  t.equal(parseConfig(MINIMAL + 'mqtt: { url: "mqtt://b", topic_prefix: "shop-12/edge-nvr" }\n', 'inline').mqtt!.topic_prefix, 'shop-12/edge-nvr');
});

t.test('a second bearer token for the same host is refused, not silently unused', async (t) => {
  t.same(issuesOf(t, MINIMAL + 'uploads:\n  allowed_hosts: [a.example]\n  bearer_tokens: [{ host: a.example, token_file: /t1 }, { host: A.example, token_file: /t2 }]\n'), [
    'uploads.bearer_tokens[1].host: "A.example" already has a token (uploads.bearer_tokens[0]); expected one token_file per host',
  ]);
});

t.test('a detector name in the wrong form says which form', async (t) => {
  const issues = issuesOf(t, MINIMAL + 'redaction:\n  detectors:\n    - { name: Plates, model: /m.onnx, input: { width: 64, height: 64 }, output: { format: heatmap } }\n');
  t.same(issues, ['redaction.detectors[0].name: expected lower-case letters, digits, "-" and "_", starting with a letter or digit (recorded in every manifest; not blazeface or ppocr-det), got "Plates"']);
});

t.test('free text is bounded: a site name of megabytes is refused, naming the limit', async (t) => {
  const long = 'x'.repeat(3 * 1024 * 1024);
  t.same(issuesOf(t, MINIMAL.replace('box: { id: box1 }', `box: { id: box1, site: "${long}" }`)), [`box.site: expected a string of at most 200 characters, got "${'x'.repeat(57)}..."`]);
  t.match(issuesOf(t, MINIMAL + `    name: "${'n'.repeat(201)}"\n`)[0], /^cameras\[0\]\.name: expected a string of at most 200 characters/);
  t.match(issuesOf(t, MINIMAL + `redaction: { faces: false, faces_off_reason: "${'r'.repeat(501)}" }\n`)[0], /^redaction\.faces_off_reason: expected a non-empty string of at most 500 characters/);
  t.equal(parseConfig(MINIMAL.replace('box: { id: box1 }', `box: { id: box1, site: "${'s'.repeat(200)}" }`), 'inline').box.site!.length, 200, '200 characters are fine');
});

t.test('a config that is not UTF-8 is refused with its line, not read with a replacement character', async (t) => {
  const dir = t.testdir({});
  const refused = (bytes: Buffer) => {
    const p = join(dir, 'c.yaml');
    writeFileSync(p, bytes);
    try {
      loadConfig(p);
    } catch (e) {
      return (e as ConfigError).issues;
    }
    return [];
  };
  // a Latin-1 "é" in box.site: read as U+FFFD, the site silently changed
  t.same(refused(Buffer.concat([Buffer.from(MINIMAL + 'box: { id: box1, site: "caf'), Buffer.from([0xe9]), Buffer.from('" }\n')])),
    [`line ${MINIMAL.split('\n').length}: the config file is not UTF-8 text (a byte no UTF-8 character begins with, such as a Latin-1 "é"); expected UTF-8 (save it as UTF-8)`]);
  t.same(refused(Buffer.from('\ufeff' + MINIMAL, 'utf16le')), ['the config file is UTF-16 text; expected UTF-8 (save it as UTF-8)'], 'UTF-16: said so, not "a NUL character"');
  t.same(refused(Buffer.from('\ufeff' + MINIMAL.replace('cam1', 'caméra-1'.replace('é', 'e')), 'utf8')), [], 'UTF-8 with a BOM reads');
});

t.test('a file that is no config is refused before it fills the memory', async (t) => {
  const dir = t.testdir({});
  const big = join(dir, 'big.yaml');
  writeFileSync(big, MINIMAL + '# ' + 'x'.repeat(5 * 1024 * 1024) + '\n');
  let err: unknown;
  try {
    loadConfig(big);
  } catch (e) {
    err = e;
  }
  t.type(err, ConfigError);
  t.same((err as ConfigError).issues, ['the config file is larger than 4 MiB; expected a YAML config of a few kilobytes (is this the right file?)']);

  // /dev/zero never ends: it used to be read until the memory ran out
  if (existsSync('/dev/zero')) {
    const r = await runCli(['check', '--config', '/dev/zero'], { timeoutMs: 20000 });
    t.equal(r.code, 2, 'bad config');
    t.equal(r.stderr, '/dev/zero: the config file is larger than 4 MiB; expected a YAML config of a few kilobytes (is this the right file?)\n');
  }
});

t.test('edge-nvr check on a planted config: exit 2, one line each, no password', async (t) => {
  const dir = t.testdir({
    'planted.yaml': `box: { id: box1 }
cameras:
  - id: cam1
    source: { type: onvif, host: "admin:hunter2@10.0.0.5:8000" }
  - id: cam2
    source: { type: rtsp, url: "rtsp://admin:hunter2@10.0.0.6:65536/ch1" }
    name: !!js/function "function () {}"
`,
  });
  const file = join(dir, 'planted.yaml');
  const r = await runCli(['check', '--config', file]);
  t.equal(r.code, 2);
  t.equal(r.stdout, '');
  t.notMatch(r.stderr, /hunter2/);
  t.equal(r.stderr, `${file}: line 7, column 11: a YAML tag (a value starting with "!") cannot be read here; expected a plain value: quote a value that starts with "!" (a password, say: '!...'), or give the setting without the tag or alias\n`);
  writeFileSync(file, (await import('node:fs')).readFileSync(file, 'utf8').replace(/ {4}name: .*\n/, ''));
  const again = await runCli(['check', '--config', file]);
  t.equal(again.code, 2);
  t.notMatch(again.stderr, /hunter2/);
  t.same(again.stderr.trimEnd().split('\n'), [
    `${file}: cameras[0].source.host: expected host or host:port of the ONVIF service (no scheme, no user:password@; an IPv6 address in brackets), got "***@10.0.0.5:8000"`,
    `${file}: cameras[1].source.url: port 65536 does not exist; expected a port from 1 to 65535`,
  ]);
});

t.test('settings that pass their own check but cannot work together are refused (an outside probe)', async (t) => {
  // health is checked every health_interval_s: a refresh of 10 s under a 60 s interval never came
  t.same(issuesOf(t, MINIMAL + 'mqtt: { url: "mqtt://b", health_interval_s: 60, health_refresh_s: 10 }\n'), [
    'mqtt.health_refresh_s: 10 s is less than health_interval_s (60 s), how often health is checked; expected health_refresh_s >= health_interval_s',
  ]);
  // the box's retained status on Home Assistant's own birth topic
  for (const prefix of ['homeassistant', 'homeassistant/edge-nvr']) {
    t.same(issuesOf(t, MINIMAL + `mqtt: { url: "mqtt://b", topic_prefix: "${prefix}", home_assistant: {} }\n`), [
      `mqtt.topic_prefix: "${prefix}" overlaps home_assistant.discovery_prefix "homeassistant": the box's status, health and events would land among Home Assistant's own topics; expected topic levels of their own, e.g. edge-nvr/<box id>`,
    ], prefix);
  }
  t.ok(parseConfig(MINIMAL + 'mqtt: { url: "mqtt://b", topic_prefix: "site/nvr", home_assistant: {} }\n', 'inline'), 'a prefix of its own is fine');
  // the simulated camera encodes 4:2:0: an odd size passed check and never recorded
  const odd = issuesOf(t, withSource('{ type: test, width: 321, height: 240 }'));
  t.equal(odd.length, 1, odd.join(' | '));
  t.equal(odd[0], 'cameras[0].source.width: expected an even integer from 16 to 3840, got 321');
});
