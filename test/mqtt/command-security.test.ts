import t from 'tap';
import Database from 'better-sqlite3';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { commandHmac } from '../../daemon/mqtt/commands.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, sleep, writeConfig } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { Platform, type Reply } from './platform.js';
import { Subscriber } from './subscriber.js';

/** Two boxes sharing one secret and one topic prefix: only the box id in the signature tells them apart. */
const PREFIX = 'site/commands';
const SECRET = randomBytes(32).toString('hex');
const WINDOW_S = 10;
// The subtests are independent (the second its own broker, daemons and data dir; the third only
// runs and checks a config of its own), and the second mostly waits (the replay window, health
// reports): side by side, the file takes about the second's time, not the sum (bench/README.md,
// "The test suite's time (T3)").
t.jobs = 3;

function boxConfig(dir: string, box: string, brokerUrl: string, secretFile: string): string {
  const path = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', enabled: false }], {
    extraYaml: [
      'mqtt:', `  url: ${brokerUrl}`, `  topic_prefix: ${PREFIX}`, '  health_interval_s: 5', `  client_id: edge-nvr-${box}`,
      '  commands:', `    hmac_secret_file: ${secretFile}`, '    allowed_clients: [platform]', `    replay_window_s: ${WINDOW_S}`,
    ].join('\n'),
  });
  // writeConfig names every box test-box; these tests need two
  writeFileSync(path, readFileSync(path, 'utf8').replace('id: test-box', `id: ${box}`));
  return path;
}

const byBox = (replies: Reply[], box: string) => replies.find((r) => r.box === box);

t.test('the worked signing example in docs/mqtt.md is what the box computes', async (t) => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/mqtt.md', import.meta.url)), 'utf8');
  const request = JSON.parse(/^\{ "id": "req-17".*?\n.*?\n.*?\}\s*$/ms.exec(doc)![0].replace('"<64 hex>"', 'null')) as Record<string, unknown>;
  delete request.hmac;
  const secret = /the secret `([0-9a-f]{64})`/.exec(doc)![1]!;
  const documented = /gives `"hmac": "([0-9a-f]{64})"`/.exec(doc)![1]!;
  t.equal(commandHmac(secret, 'site-7', 'edge-nvr/site-7/cmd/hold', request), documented);
  const openssl = /```sh\n(printf 'edge-nvr-cmd[^\n]*\\\n[^\n]*)\n# SHA2-256\(stdin\)= ([0-9a-f]{64})/.exec(doc)!;
  t.equal(openssl[2], documented, 'the openssl line shows the same digest');
  t.match(execFileSync('bash', ['-c', openssl[1]!], { encoding: 'utf8' }), documented, 'and openssl really prints it');
});

t.test('commands cannot be redirected, replayed or used to probe client names; refusals are rate-limited and counted', async (t) => {
  const dir = t.testdir();
  const broker = await new Mosquitto(join(dir, 'broker')).start();
  t.teardown(() => broker.stop());
  const secretFile = join(dir, 'cmd.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const configA = boxConfig(join(dir, 'a'), 'box-a', broker.url, secretFile);
  const configB = boxConfig(join(dir, 'b'), 'box-b', broker.url, secretFile);
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  let a = new DaemonProcess(configA).start();
  const b = new DaemonProcess(configB).start();
  t.teardown(() => { a.proc?.kill('SIGKILL'); b.proc?.kill('SIGKILL'); });
  for (const box of ['box-a', 'box-b']) {
    await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { box: string; state: string }).box === box && (m.json as { state: string }).state === 'online', 30000, `${box} online`);
  }
  const platform = new Platform(sub, PREFIX, 'box-a', SECRET);
  const now = Date.now();
  const hold = { camera: null, from_ms: now - 3_600_000, to_ms: now, reason: 'incident 7' };

  // 1. for box-a: box-a runs it, box-b (same secret, same topic) refuses it
  const forA = platform.request('hold', hold);
  const both = await platform.send('hold', forA, { replies: 2 });
  t.equal(byBox(both, 'box-a')?.ok, true, `box-a accepts the hold signed for it: ${JSON.stringify(byBox(both, 'box-a'))}`);
  t.equal(byBox(both, 'box-b')?.error?.code, 'unauthorized', 'box-b refuses a command signed for box-a');

  // 2. a signed hold re-sent on the export topic (the arguments fit both)
  const moved = platform.request('hold', { ...hold, camera: 'cam1' });
  const onExport = await platform.send('export', moved, { replies: 2 });
  t.equal(byBox(onExport, 'box-a')?.error?.code, 'unauthorized', `a hold re-sent as an export is refused: ${JSON.stringify(byBox(onExport, 'box-a')?.error)}`);

  // 3. a refusal does not say which client names exist
  const unknownClient = byBox(await platform.send('hold', platform.request('hold', hold, { client: 'mallory' }), { replies: 2 }), 'box-a')!;
  const wrongSecret = byBox(await platform.send('hold', platform.request('hold', hold, {}, { secret: randomBytes(32).toString('hex') }), { replies: 2 }), 'box-a')!;
  t.equal(unknownClient.error?.code, 'unauthorized');
  t.same(unknownClient.error, wrongSecret.error, 'a client not allowed and a wrong signature get the same answer');
  t.notMatch(unknownClient.error?.message ?? '', /mallory|platform/, 'naming no client');

  // 4. a timestamp in the future keeps its nonce until that timestamp is too old
  const future = platform.request('hold', hold, { ts: Date.now() + (WINDOW_S - 2) * 1000 });
  t.equal(byBox(await platform.send('hold', future, { replies: 2 }), 'box-a')?.ok, true, 'a timestamp 8 s ahead (window 10 s) is accepted');
  const sentAt = Date.now();
  await sleep(WINDOW_S * 1000 + 1500);
  t.ok(Date.now() - sentAt > WINDOW_S * 1000, 'more than the window after it arrived');
  const late = (await platform.send('hold', future, { replies: 4 })).filter((r) => r.box === 'box-a').at(-1)!;
  t.equal(late.error?.code, 'replay', `the same request is still a replay: ${late.error?.message}`);

  // 5. refusals: counted, answered and logged only up to a rate, never audited
  const junk = 120;
  for (let i = 0; i < junk; i++) await platform.publish('hold', `{"not json ${i}`);
  const health = await sub.waitFor((m) => {
    const h = m.json as { box?: string; commands?: { refused: number } };
    return m.topic === `${PREFIX}/health` && h.box === 'box-a' && (h.commands?.refused ?? 0) >= junk;
  }, 20000, 'a health message counting the refusals');
  const counts = (health.json as { commands: { refused: number; unanswered: number; refused_by_code: Record<string, number> } }).commands;
  t.ok(counts.refused_by_code.bad_json! >= junk, `health counts them: ${JSON.stringify(counts)}`);
  t.ok(counts.unanswered >= junk - 30, `most went unanswered past the rate limit (${counts.unanswered} of ${junk})`);
  const answered = sub.on(`${PREFIX}/cmd/hold/reply`).filter((m) => (m.json as Reply).box === 'box-a' && (m.json as Reply).error?.code === 'bad_json').length;
  t.ok(answered <= 30, `${answered} of ${junk} junk messages answered`);
  t.ok(a.countLog(/command refused/) <= 40, `${a.countLog(/command refused/)} refusal log lines for ${junk + 4} refusals`);

  // 6. the nonce store survives kill -9: the first hold again is a replay after a restart
  a.proc!.kill('SIGKILL');
  await new Promise((r) => a.proc!.once('close', r));
  a = new DaemonProcess(configA).start();
  const restartedAt = Date.now();
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { box: string; state: string; ts: number }).box === 'box-a' && (m.json as { state: string }).state === 'online' && m.at >= restartedAt, 30000, 'box-a online again');
  const again = (await platform.send('hold', { ...forA }, { replies: 4 })).filter((r) => r.box === 'box-a').at(-1)!;
  t.equal(again.error?.code, 'replay', 'after kill -9 and a restart the nonce is still known');

  const db = new Database(join(dir, 'a', 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const audit = db.prepare("SELECT action, details FROM audit_log WHERE action LIKE 'cmd.%' ORDER BY id").all() as Array<{ action: string; details: string }>;
  t.same(audit.map((r) => [r.action, (JSON.parse(r.details) as { ok: boolean }).ok]), [['cmd.hold', true], ['cmd.hold', true]],
    'only the two commands box-a ran are in its audit log');
  t.equal((db.prepare('SELECT count(*) AS n FROM holds').get() as { n: number }).n, 2, 'and only they changed anything');
  const unsigned = db.prepare("SELECT count(*) AS n FROM audit_log WHERE details LIKE '%mallory%'").get() as { n: number };
  t.equal(unsigned.n, 0, 'a refused sender leaves no trace in the chained log');
  t.notOk(a.output.includes(SECRET) || b.output.includes(SECRET), 'the secret never reaches a log');
});

t.test('secrets: a short command secret and loose permissions are refused at start; check fails or warns', async (t) => {
  const dir = t.testdir();
  const secretFile = join(dir, 'cmd.secret');
  const config = boxConfig(dir, 'box-a', 'mqtt://127.0.0.1:9', secretFile);
  const secretsCheck = async () => {
    const r = await runCli(['check', '--config', config, '--json'], { timeoutMs: 120000 });
    return (JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; warn?: boolean; detail: string }>).find((c) => c.name === 'secrets')!;
  };

  writeFileSync(secretFile, 'too-short-secret\n', { mode: 0o600 });
  const short = await runCli(['run', '--config', config, '--duration', '5']);
  t.equal(short.code, 2, 'a 16-character secret: run refuses to start (bad config)');
  t.match(short.stderr, /mqtt\.commands\.hmac_secret_file: .* is a secret of 16 characters; expected at least 32/, short.stderr);
  // long enough, guessed at the first try (an outside probe's 40 spaces were taken)
  for (const weak of [' '.repeat(40), 'ab'.repeat(20)]) {
    writeFileSync(secretFile, `${weak}\n`, { mode: 0o600 });
    const r = await runCli(['run', '--config', config, '--duration', '5']);
    t.equal(r.code, 2, `a secret of ${JSON.stringify(weak.slice(0, 4))}...: run refuses to start`);
    t.match(r.stderr, /mqtt\.commands\.hmac_secret_file: .* is a secret of only [0-2] different characters besides spaces; expected a random one/, r.stderr);
  }

  writeFileSync(secretFile, `${SECRET}\n`);
  chmodSync(secretFile, 0o644);
  const open = await runCli(['run', '--config', config, '--duration', '5']);
  t.equal(open.code, 2, 'a world-readable secret: run refuses to start');
  t.match(open.stderr, /mqtt\.commands\.hmac_secret_file: .* is readable by every local user \(mode 0644\); expected chmod 0600/, open.stderr);
  t.match((await secretsCheck()), { ok: false, detail: /readable by every local user/ }, 'check fails it');

  chmodSync(secretFile, 0o640);
  chownSync(secretFile, 0, 65534); // group nogroup: not the service's own
  const text = await runCli(['check', '--config', config], { timeoutMs: 120000 });
  t.match(text.stdout, /^WARN secrets +mqtt\.commands\.hmac_secret_file: .* is readable by group 65534, not the service's own/m, 'group-readable by another group: check warns');

  chownSync(secretFile, 0, process.getgid!());
  // and redaction switched off: allowed with a reason, and check says so
  const plain = readFileSync(config, 'utf8');
  writeFileSync(config, `${plain}redaction:\n  faces: false\n`);
  const noReason = await runCli(['check', '--config', config]);
  t.equal(noReason.code, 2, 'faces: false without a reason is a config error');
  t.match(noReason.stderr, /redaction\.faces: false lets faces leave the box in the clear; expected true, or set redaction\.faces_off_reason/);
  writeFileSync(config, `${plain}redaction:\n  faces: false\n  faces_off_reason: bench test of plates only\n`);
  const checks = JSON.parse((await runCli(['check', '--config', config, '--json'], { timeoutMs: 120000 })).stdout) as Array<{ name: string; ok: boolean; warn?: boolean; detail: string }>;
  t.match(checks.find((c) => c.name === 'secrets'), { ok: true, detail: 'the files the config names can be used, secrets readable by the service only' }, '0640 with the service\'s group passes');
  t.notOk(checks.find((c) => c.name === 'secrets')?.warn, 'without a warning');
  t.match(checks.find((c) => c.name === 'redaction'), { ok: true, warn: true, detail: /FACES ARE NOT HIDDEN in exports \(redaction\.faces: false, reason: bench test of plates only\)/ }, 'check warns that faces are switched off, with the reason');
  writeFileSync(config, plain);

  const key = join(dir, 'data', 'keys', 'box-ed25519.pem');
  mkdirSync(join(dir, 'data', 'keys'), { recursive: true });
  writeFileSync(key, 'not really a key\n', { mode: 0o644 });
  chmodSync(key, 0o644);
  const keyOpen = await runCli(['run', '--config', config, '--duration', '5']);
  t.equal(keyOpen.code, 2, 'a world-readable box signing key: run refuses to start');
  t.match(keyOpen.stderr, /the box signing key: .*box-ed25519\.pem is readable by every local user/, keyOpen.stderr);
});
