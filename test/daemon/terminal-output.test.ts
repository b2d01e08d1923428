/**
 * What the box holds from outside (a camera's words in an event, a broker client's or an
 * operator's reason in a hold and the audit log) reaches the terminal of whoever reads it later
 * with its control characters escaped: an escape sequence, a one-byte CSI (C1) or a carriage
 * return in it must not clear, recolour or retitle the screen or overwrite a line. JSON keeps
 * the exact text for a program. Both pass through one place (daemon/args.ts print, common/human.ts).
 */
import t from 'tap';
import { join } from 'node:path';
import { isControl } from '../../common/human.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { catalogEvents, placeHold } from '../../recorder/catalog/holds.js';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { runCli } from '../support/cli.js';

/** clears the screen, paints red, a one-byte CSI, sets the title, and a carriage return to overwrite the line */
const EVIL = 'case \x1b[2J\x1b[31mEVIL\u009b2J\x1b]0;title\x07\rFORGED\u202eDESREVER';
/** control characters, and the bidi overrides, marks and zero-width ones that reorder or hide text */
const controls = (text: string) => [...text].filter((c) => (c !== '\n' && isControl(c)) || /[\u200b-\u200f\u202a-\u202e\u2066-\u2069]/.test(c));

t.test('a reason and a camera\'s event text with control characters: every listing escapes them, JSON parses back exactly', async (t) => {
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  catalog.addEvent('camera_reported', 'gate', { signals: ['tamper'], topic: EVIL });
  catalog.addGap('gate', 0, 1000, 'camera_unreachable'); // a camera the box knows, so it can be held
  // the CLI refuses such a reason now; a broker client's hold (MQTT) or an older box's still carries one
  placeHold(catalog, { camera: 'gate', from_ms: Date.parse('2026-01-01T00:00:00Z'), to_ms: Date.parse('2026-01-02T00:00:00Z'), reason: EVIL }, 'mqtt:platform', catalogEvents(catalog), 'mqtt');
  catalog.close();
  const refused = await runCli(['hold', 'add', '--camera', 'gate', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--reason', EVIL, '--data', data]);
  t.equal(refused.code, 2, 'hold add refuses a reason with control characters');
  t.same(controls(refused.stderr), [], 'and says so without echoing them');
  for (const argv of [['hold', 'list'], ['audit'], ['status']]) {
    const r = await runCli([...argv, '--data', data]);
    t.same(controls(r.stdout + r.stderr), [], `${argv.join(' ')}: no control character reaches the terminal`);
    if (argv[0] !== 'status') t.match(r.stdout, 'EVIL', `${argv.join(' ')}: the reason is shown, escaped`);
  }
  const list = await runCli(['hold', 'list', '--json', '--data', data]);
  t.same(controls(list.stdout), [], 'hold list --json: no raw control character');
  t.equal((JSON.parse(list.stdout) as { holds: Array<{ reason: string }> }).holds[0]?.reason, EVIL, 'the reason parses back exactly');
  const status = await runCli(['status', '--json', '--data', data]);
  t.same(controls(status.stdout), [], 'status --json: no raw control character');
  const events = (JSON.parse(status.stdout) as { events: Array<{ type: string; data: { topic?: string } }> }).events;
  t.equal(events.find((e) => e.type === 'camera_reported')?.data.topic, EVIL, 'the camera\'s text parses back exactly');
  const audit = await runCli(['audit', '--json', '--data', data]);
  t.same(controls(audit.stdout), [], 'audit --json: no raw control character');
  t.equal((JSON.parse(audit.stdout) as { entries: Array<{ reason: string }> }).entries[0]?.reason, EVIL, 'the audited reason parses back exactly');
});

t.test('a failure quoting outside text is escaped on stderr too', async (t) => {
  const r = await runCli(['recordings', '--camera', 'gate', '--data', join(t.testdir(), `no\u009b2Jsuch\rdir`)]);
  t.not(r.code, 0, r.stderr);
  t.same(controls(r.stdout + r.stderr), [], 'the path is escaped in the message');
  t.match(r.stderr, '\\x9b2Jsuch\\x0ddir', 'and shown');
});

t.test('an output path with a newline cannot add a line of its own to the audit listing', async (t) => {
  // a local user chooses the output path of a `redact`: a newline in it read as a second,
  // forged entry under the real one (an outside probe)
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  const forged = '#99  2026-12-05T21:00:00.000Z  export         who=unix:chief';
  appendAudit(catalog, { actor: 'unix:mallory', action: 'redact', reason: 'test', destination: `/tmp/a\n${forged}\n.mp4` });
  catalog.close();
  const r = await runCli(['audit', '--data', data]);
  t.equal(r.code, 0, r.stderr);
  t.notOk(r.stdout.split('\n').some((line) => line.startsWith('#99')), 'no line starts like an entry of its own');
  t.match(r.stdout, `to=/tmp/a\\x0a${forged}`, 'the path is shown, its newline escaped');
});
