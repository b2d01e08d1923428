import t from 'tap';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { probe } from '../support/media.js';

t.test('`edge-nvr demo` records its two synthetic cameras, one per backend, and verifies', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'demo-data');
  const demo = await runCli(['demo', '--data', data, '--duration', '14'], { timeoutMs: 90000 });
  t.equal(demo.code, 0, `demo exits 0 after --duration:\n${demo.stderr}${demo.stdout.slice(-2000)}`);
  for (const camera of ['demo-1', 'demo-2']) {
    const listed = await runCli(['recordings', '--data', data, '--camera', camera, '--json']);
    t.equal(listed.code, 0);
    const segments = JSON.parse(listed.stdout).segments as Array<{ path: string }>;
    t.ok(segments.length >= 1, `${camera}: ${segments.length} segment(s) recorded`);
    for (const s of segments) t.ok(probe(join(data, s.path)).frames > 0, `${s.path} plays`);
  }
  const verified = await runCli(['verify', '--data', data]);
  t.equal(verified.code, 0, verified.stdout);
});

t.test('read-only commands on an empty data dir explain themselves', async (t) => {
  const r = await runCli(['verify', '--data', t.testdir()]);
  t.equal(r.code, 2);
  t.match(r.stderr, /no catalog in .*nothing has been recorded there/);
});

t.test('unknown commands and options are usage errors', async (t) => {
  t.equal((await runCli(['record'])).code, 2);
  const bad = await runCli(['recordings', '--camera']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /usage: edge-nvr recordings/);
  const help = await runCli(['verify', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--camera/);
});
