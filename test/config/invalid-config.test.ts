/**
 * What an installer sees: `edge-nvr check` on a broken config exits 2 and prints exactly one
 * line per problem, naming the file, the path and what is expected.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);

/** A valid two-camera config; `edit` changes one part of it. */
function config(dataDir: string, edit: { box?: string; retention?: string; camera2?: string } = {}): string {
  return `box:
  id: site1
${edit.box ?? ''}
storage:
  path: ${dataDir}
  retention:
${edit.retention ?? '    min_days: 30'}
cameras:
  - id: cam1
    source: { type: test }
${edit.camera2 ?? `  - id: cam2
    source: { type: test }
    record: { segment_seconds: 10 }`}
`;
}

const CASES: Record<string, { edit: Parameters<typeof config>[1]; path: string; expect: RegExp }> = {
  'wrong type': {
    edit: { camera2: '  - id: cam2\n    source: { type: test }\n    record: { segment_seconds: "ten" }' },
    path: 'cameras[1].record.segment_seconds',
    expect: /^cameras\[1\]\.record\.segment_seconds: expected an integer from 1 to 600, got "ten"$/,
  },
  'unknown camera field': {
    edit: { camera2: '  - id: cam2\n    colour: red\n    source: { type: test }' },
    path: 'cameras[1].colour',
    expect: /^cameras\[1\]\.colour: unknown field; allowed: id, name, enabled, source, record, retention, privacy_masks, capture_masks, capture_masks_on, tamper$/,
  },
  'tamper detection off without a reason': {
    edit: { camera2: '  - id: cam2\n    source: { type: test }\n    tamper: { enabled: false }' },
    path: 'cameras[1].tamper.reason',
    expect: /^cameras\[1\]\.tamper\.reason: missing while tamper\.enabled is false; expected why this camera's view is not watched, e\.g\. "PTZ patrol tour"$/,
  },
  'tamper sensitivity misspelt': {
    edit: { camera2: '  - id: cam2\n    source: { type: test }\n    tamper: { sensitivity: hihg }' },
    path: 'cameras[1].tamper.sensitivity',
    expect: /^cameras\[1\]\.tamper\.sensitivity: expected one of low, medium, high, got "hihg"$/,
  },
  'duplicate camera id': {
    edit: { camera2: '  - id: cam1\n    source: { type: test }' },
    path: 'cameras[1].id',
    expect: /^cameras\[1\]\.id: duplicate camera id "cam1" \(also cameras\[0\]\.id\)/,
  },
  'missing source': {
    edit: { camera2: '  - id: cam2\n    record: { segment_seconds: 10 }' },
    path: 'cameras[1].source',
    expect: /^cameras\[1\]\.source: missing; expected an object with type rtsp, onvif or test$/,
  },
  'a rectangle mask beyond the frame': {
    edit: { camera2: '  - id: cam2\n    source: { type: test }\n    capture_masks: [{ x: 0.2, y: 0.2, w: 1.5, h: 0.1 }]' },
    path: 'cameras[1].capture_masks[0].w',
    expect: /^cameras\[1\]\.capture_masks\[0\]\.w: expected a number above 0 and at most 1, got 1\.5$/,
  },
  'masks on the camera need an ONVIF camera': {
    edit: { camera2: '  - id: cam2\n    source: { type: test }\n    capture_masks: [{ x: 0.2, y: 0.2, w: 0.5, h: 0.1 }]\n    capture_masks_on: camera' },
    path: 'cameras[1].capture_masks_on',
    expect: /^cameras\[1\]\.capture_masks_on: "camera" needs an onvif source \(this one is "test"\); expected "box" or "auto", or source\.type onvif$/,
  },
  'a polygon mask of two points': {
    edit: { camera2: '  - id: cam2\n    source: { type: test }\n    privacy_masks: [{ points: [[0, 0], [1, 1]] }]' },
    path: 'cameras[1].privacy_masks[0].points',
    expect: /^cameras\[1\]\.privacy_masks\[0\]\.points: expected a list of at least 3 entries \(the corners, in order\), got a list of 2$/,
  },
  'retention below the legal minimum': {
    edit: { retention: '    min_days: 7' },
    path: 'storage.retention.min_days',
    expect: /^storage\.retention\.min_days: 7 days is below the legal minimum of 30 days; expected at least 30, or set storage\.retention\.below_legal_minimum_reason/,
  },
  'designated site keeps 90 days': {
    edit: { box: '  designated_site: true', retention: '    min_days: 30' },
    path: 'storage.retention.min_days',
    expect: /^storage\.retention\.min_days: 30 days is below the legal minimum of 90 days \(box\.designated_site is true\); expected at least 90/,
  },
};

for (const [name, c] of Object.entries(CASES)) {
  t.test(name, async (t) => {
    const dir = t.testdir({ 'config.yaml': config('/nonexistent-edge-nvr-test', c.edit) });
    const file = join(dir, 'config.yaml');
    const r = await runCli(['check', '--config', file]);
    t.equal(r.code, 2, 'exit code 2: bad config');
    t.equal(r.stdout, '', 'nothing on stdout');
    t.match(r.stderr, /\n$/);
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `exactly one line: ${r.stderr}`);
    const prefix = `${file}: `;
    t.ok(lines[0]!.startsWith(prefix), 'names the file');
    const issue = lines[0]!.slice(prefix.length);
    t.ok(issue.startsWith(`${c.path}: `), `names ${c.path}`);
    t.match(issue, c.expect);
  });
}

t.test('the override makes a short retention valid', async (t) => {
  const dir = t.testdir({ data: {} });
  const body = config(join(dir, 'data'), { retention: '    min_days: 7\n    below_legal_minimum_reason: staff room camera, works council agreement 2024-03' });
  const file = join(dir, 'config.yaml');
  (await import('node:fs')).writeFileSync(file, body);
  const r = await runCli(['check', '--config', file]);
  t.not(r.code, 2, r.stderr);
  t.equal(r.stderr, '');
  t.match(r.stdout, new RegExp(`^PASS config +${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 2 cameras$`, 'm'));
  t.match(r.stdout, /^PASS storage +.*writable/m);
});

t.test('--json prints the checks, also for a bad config', async (t) => {
  const dir = t.testdir({
    'good.yaml': config('/nonexistent-edge-nvr-test'),
    'bad.yaml': config('/nonexistent-edge-nvr-test', { retention: '    min_days: 7' }),
  });
  const good = await runCli(['check', '--json', '--config', join(dir, 'good.yaml')]);
  const checks = JSON.parse(good.stdout) as { name: string; ok: boolean; detail: string }[];
  t.same(checks.map((c) => c.name), ['config', 'ffmpeg', 'gstreamer', 'capture masks', 'storage', 'cameras', 'disk size', 'clock', 'broker', 'secrets', 'redaction', 'http', 'tamper']);
  t.match(checks.at(-1)!.detail, /^keyframe decoder ready \(PyAV [\d.]+\); 2 of 2 cameras watched$/, 'the view analysis decoder runs');
  t.equal(checks[0]!.ok, true);
  t.equal(good.code, checks.every((c) => c.ok) ? 0 : 1);

  const bad = await runCli(['check', '--json', '--config', join(dir, 'bad.yaml')]);
  t.equal(bad.code, 2);
  const [failed] = JSON.parse(bad.stdout) as { name: string; ok: boolean; issues: string[] }[];
  t.equal(failed!.name, 'config');
  t.equal(failed!.ok, false);
  t.match(failed!.issues, [/^storage\.retention\.min_days: /]);
});

t.test('a missing config file is a bad config, named with the reason', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'absent.yaml');
  const r = await runCli(['check', '--config', file]);
  t.equal(r.code, 2);
  t.equal(r.stderr, `${file}: cannot read the config file (ENOENT: no such file); expected a readable YAML file\n`);
});
