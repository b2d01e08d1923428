/**
 * The object an upload sends: a tar archive streamed from the files, its length known first.
 * GNU tar (what a platform or a clerk has) unpacks it to the same bytes: an export with its
 * signed side manifest, and a bundle directory with names past ustar's 100 bytes.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportEntries, tarLength, tarStream } from '../../uploads/tar-stream.js';

async function archive(source: string, out: string): Promise<number> {
  const entries = exportEntries(source);
  const chunks: Buffer[] = [];
  for await (const c of tarStream(entries)) chunks.push(c);
  writeFileSync(out, Buffer.concat(chunks));
  return tarLength(entries);
}

t.test('an export goes with its side manifest; the length is announced exactly', async (t) => {
  const dir = t.testdir({ box: {}, got: {} });
  const file = join(dir, 'box', '2026-12-01T10-00-00-000Z-export-req-1.mp4');
  writeFileSync(file, randomBytes(70_001));
  writeFileSync(`${file}.manifest.json`, '{"sha256":"..."}\n');
  writeFileSync(join(dir, 'box', 'unrelated.mp4'), 'not part of it');
  const length = await archive(file, join(dir, 'export.tar'));
  t.equal(readFileSync(join(dir, 'export.tar')).length, length, 'Content-Length is the archive\'s length');
  t.same(execFileSync('tar', ['-tf', join(dir, 'export.tar')], { encoding: 'utf8' }).trim().split('\n'),
    ['2026-12-01T10-00-00-000Z-export-req-1.mp4', '2026-12-01T10-00-00-000Z-export-req-1.mp4.manifest.json']);
  execFileSync('tar', ['-xf', join(dir, 'export.tar'), '-C', join(dir, 'got')]);
  t.same(readFileSync(join(dir, 'got', '2026-12-01T10-00-00-000Z-export-req-1.mp4')), readFileSync(file), 'the file, byte for byte');
  await archive(file, join(dir, 'again.tar'));
  t.same(readFileSync(join(dir, 'again.tar')), readFileSync(join(dir, 'export.tar')), 'the same files give the same object (a retry sends it again)');
});

t.test('a bundle directory, whole, with long names', async (t) => {
  const dir = t.testdir({ got: {} });
  const bundle = join(dir, '2026-12-01T10-00-00-000Z-evidence-a-rather-long-request-id-from-the-platform.evidence');
  const deep = join(bundle, 'segments');
  mkdirSync(deep, { recursive: true });
  const long = `${'1795880363727-'.repeat(5)}segment.mp4`;
  writeFileSync(join(deep, long), randomBytes(1000));
  writeFileSync(join(bundle, 'manifest.json'), '{}');
  await archive(bundle, join(dir, 'bundle.tar'));
  execFileSync('tar', ['-xf', join(dir, 'bundle.tar'), '-C', join(dir, 'got')]);
  const name = bundle.split('/').at(-1)!;
  t.ok(`${name}/segments/${long}`.length > 100, 'a name past 100 bytes');
  t.same(readFileSync(join(dir, 'got', name, 'segments', long)), readFileSync(join(deep, long)));
  t.equal(readFileSync(join(dir, 'got', name, 'manifest.json'), 'utf8'), '{}');
});

t.test('streamed: a large file goes out in small chunks, never read whole', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'export.mp4');
  writeFileSync(file, randomBytes(8 * 1024 * 1024));
  let chunks = 0;
  let largest = 0;
  for await (const c of tarStream(exportEntries(file))) {
    chunks++;
    largest = Math.max(largest, c.length);
  }
  t.ok(largest <= 256 * 1024, `the largest chunk is ${largest} bytes`);
  t.ok(chunks >= 32, `${chunks} chunks for 8 MiB`);
});

t.test('a file that changes while it is sent fails the attempt', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'snap.jpg');
  writeFileSync(file, randomBytes(1000));
  const entries = exportEntries(file);
  appendFileSync(file, 'more');
  await t.rejects(async () => { for await (const c of tarStream(entries)) void c; }, /changed while it was being sent/);
});
