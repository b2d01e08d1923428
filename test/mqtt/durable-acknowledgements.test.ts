import t from 'tap';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { DaemonProcess, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { Platform } from './platform.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';

interface Call { line: number; call: string; path: string; text: string }

/**
 * strace output of the daemon's main thread (where SQLite, the MQTT socket and retention's
 * unlinks all run): one entry per system call, with the path or socket of its descriptor (-y).
 */
function readTrace(path: string): Call[] {
  return readFileSync(path, 'utf8').split('\n').flatMap((l, line) => {
    const m = /^\d+\.\d+ (\w+)\((?:\d+<([^>]*)>)?(.*)$/.exec(l);
    // strace writes a string's quotes as \"
    return m ? [{ line, call: m[1]!, path: m[2] ?? '', text: m[3]!.replaceAll('\\"', '"') }] : [];
  });
}

const isWalSync = (c: Call) => (c.call === 'fdatasync' || c.call === 'fsync') && c.path.endsWith('/catalog.db-wal');

t.test('what the box acknowledges is on the disk before it says so: holds, audit entries, nonces, deletions', async (t) => {
  // age deletion runs on a clock this machine cannot show synchronised (it pauses otherwise)
  const { dir, data: dataDir, broker, secret: SECRET, config } = await mqttBox(t, { yaml: ['integrity:', '  age_deletion_needs_clock_sync: false'] });
  // segments older than about 9 s are deleted by retention, so deletions happen during the test
  // (the deletions' syncs are checked, not their age: 17 s here only made the wait 8 s longer)
  writeFileSync(config, readFileSync(config, 'utf8').replace('  free_space_floor_mb: 0\n',
    '  free_space_floor_mb: 0\n  retention: { min_days: 0.00005, max_days: 0.0001, below_legal_minimum_reason: durability test }\n'));
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const platform = new Platform(sub, PREFIX, 'test-box', SECRET);
  const online = (since: number) => sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online' && m.at >= since, 30000, 'online');
  const hold = () => {
    const now = Date.now();
    return platform.request('hold', { camera: 'cam1', from_ms: now - 60_000, to_ms: now, reason: 'incident 9' });
  };

  // 1. kill -9 of the daemon's whole process group right after each reply
  const first = new DaemonProcess(config, ['run'], {}, { detached: true }).start();
  t.teardown(() => { try { process.kill(-first.pid, 'SIGKILL'); } catch { /* gone */ } });
  await online(0);
  const sent = [hold(), hold()];
  const replies = [];
  for (const req of sent) replies.push(await platform.one('hold', req));
  process.kill(-first.pid, 'SIGKILL');
  t.same(replies.map((r) => r.ok), [true, true], 'both holds acknowledged, then the process group was killed');
  await new Promise((r) => first.proc!.once('close', r));
  {
    const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
    t.equal((db.prepare('SELECT count(*) AS n FROM holds').get() as { n: number }).n, 2, 'both holds survive');
    t.equal((db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'cmd.hold'").get() as { n: number }).n, 2, 'with their audit entries');
    t.equal((db.prepare('SELECT count(*) AS n FROM command_nonces WHERE nonce IN (?, ?)').get(sent[0]!.nonce, sent[1]!.nonce) as { n: number }).n, 2, 'and their nonces');
    db.close();
  }
  t.equal((await runCli(['audit', '--verify', '--config', config])).code, 0, 'the audit chain verifies');

  // 2. under strace: every acknowledgement follows a sync of the catalog's WAL
  const trace = join(dir, 'daemon.strace');
  const traced = new DaemonProcess(config, ['run'], {}, {
    wrap: ['strace', '-qq', '-ttt', '-y', '-s', '400', '-e', 'trace=read,write,writev,pwrite64,fdatasync,fsync,unlink,unlinkat', '-o', trace],
  }).start();
  t.teardown(() => { traced.proc?.kill('SIGKILL'); });
  const startedAt = Date.now();
  await online(startedAt);
  const replay = (await platform.send('hold', { ...sent[1]! }, { replies: 2 })).at(-1);
  t.equal(replay?.error?.code, 'replay', `the nonce survived the kill: ${JSON.stringify(replay?.error)}`);
  const more = [hold(), hold(), hold()];
  for (const req of more) t.equal((await platform.one('hold', req)).ok, true, 'a hold under strace');
  await until(() => /retention deleted segments/.test(traced.output), 60000, 'retention deleting expired segments');
  const pid = Number(readFileSync(join(dataDir, 'edge-nvr.pid'), 'utf8'));
  process.kill(pid, 'SIGTERM');
  t.equal((await traced.exit()).code, 0, 'stopped cleanly');

  const calls = readTrace(trace);
  t.ok(calls.length > 100, `${calls.length} system calls traced`);
  for (const req of more) {
    const id = String(req.id);
    const got = calls.findIndex((c) => c.call === 'read' && c.text.includes(`"id":"${id}"`));
    const answered = calls.findIndex((c, i) => i > got && (c.call === 'write' || c.call === 'writev') && c.text.includes('cmd/hold/reply') && c.text.includes(`"id":"${id}"`));
    t.ok(got >= 0 && answered > got, `${id}: request read at line ${calls[got]?.line}, reply written at line ${calls[answered]?.line}`);
    t.ok(calls.slice(got, answered).some(isWalSync), `${id}: the WAL is synced between the request and the reply`);
  }
  const unlinks = calls.filter((c) => /^unlink/.test(c.call) && c.text.includes('/recordings/cam1/') && !c.text.includes('.staging'));
  t.ok(unlinks.length >= 1, `retention unlinked ${unlinks.length} segment files`);
  for (const u of unlinks) {
    const at = calls.indexOf(u);
    let lastWrite = at - 1;
    while (lastWrite >= 0 && !(calls[lastWrite]!.call === 'pwrite64' && calls[lastWrite]!.path.endsWith('/catalog.db-wal'))) lastWrite--;
    t.ok(lastWrite >= 0 && calls.slice(lastWrite, at).some(isWalSync), `the deletion is synced before ${u.text.split('"')[1]} goes`);
  }
});
