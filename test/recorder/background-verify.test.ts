import t from 'tap';
import { join } from 'node:path';
import pino from 'pino';
import { BackgroundVerifier, readProgress } from '../../recorder/background-verify.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { backdate, makeClip } from '../support/backdate.js';
import { until } from '../support/daemon.js';

t.test('a stopped pass resumes where it was; passes start no sooner than the least interval', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const clip = makeClip(join(dir, 'clip.mp4'), 2, 400); // about 100 kB
  const rows = await backdate(data, catalog, clip, 'gate', Array.from({ length: 8 }, (_, i) => Date.now() - (10 - i) * 60_000));
  const log = pino({ level: 'silent' });
  const violations: unknown[] = [];
  const make = () => new BackgroundVerifier(data, catalog, { readMbPerS: 0.1, log, onViolation: (v) => violations.push(v), minPassMs: 3000 });

  const first = make().start();
  await until(() => first.status().cursor >= 2, 30000, 'two segments read');
  await first.stop();
  const saved = readProgress(catalog)!;
  t.ok(saved.cursor >= 2 && saved.cursor < rows.length, `stopped mid-pass at segment #${saved.cursor}`);

  const second = make().start();
  await until(() => second.status().last_full_pass_ms !== null, 60000, 'the pass finished');
  const done = second.status();
  t.equal(done.last_full_pass_segments, rows.length, 'the resumed pass counts every segment once');
  const firstPassEnd = done.last_full_pass_ms!;
  await until(() => second.status().pass_started_ms !== null, 10000, 'the next pass');
  const next = second.status().pass_started_ms!;
  t.ok(next - (firstPassEnd - done.last_full_pass_s! * 1000) >= 3000 - 1000, 'the next pass starts no sooner than the least interval after the last one started');
  await second.stop();
  t.same(violations, [], 'untouched files raise nothing');
});
