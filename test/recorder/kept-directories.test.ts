import t from 'tap';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { readLines } from '../../recorder/backends/process-group.js';
import { SegmentStore, stagingDir } from '../../recorder/segment-store.js';
import { sha256File } from '../../common/file-hash.js';
import { makeClip } from '../support/backdate.js';

/*
 * The segment store keeps a camera's staging dir and its current hour dir open for their fsyncs,
 * and makes the hour dir once per hour. A directory that went away under it (removed by hand, or
 * by retention emptying an hour) is made again, and the segment lands in it: real files, a real
 * catalog.
 */
t.test('an hour directory removed between two commits is made again, and the next segment lands in it', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const store = new SegmentStore(dir, catalog, pino({ level: 'silent' }));
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  const staging = stagingDir(dir, 'cam');
  mkdirSync(staging, { recursive: true });
  const start = Date.parse('2026-12-02T10:00:00Z');
  const commit = (i: number) => {
    const staged = join(staging, `${start}-${String(i).padStart(6, '0')}.mp4`);
    copyFileSync(clip, staged);
    return store.commit({ camera: 'cam', stagedPath: staged, startMs: start + i * 1000, endMs: start + (i + 1) * 1000 });
  };
  const first = await commit(0);
  const hourDir = dirname(join(dir, first.path));
  t.ok(statSync(hourDir).isDirectory(), `placed in ${first.path}`);

  rmSync(dirname(hourDir), { recursive: true }); // the camera's whole day, gone
  const second = await commit(1);
  t.ok(existsSync(join(dir, second.path)), `the next segment is at its path (${second.path}): its directories were made again`);
  t.equal(second.sha256, await sha256File(join(dir, second.path)), 'its hash is the file\'s');
  t.equal(second.prev_hash, first.chain_hash, 'and it extends the chain');

  rmSync(staging, { recursive: true });
  mkdirSync(staging, { recursive: true }); // a new recorder run makes its staging dir again
  const staged = join(staging, `${start + 5000}-000000.mp4`);
  copyFileSync(clip, staged);
  const third = await store.commit({ camera: 'cam', stagedPath: staged, startMs: start + 5000, endMs: start + 6000 });
  t.ok(existsSync(join(dir, third.path)) && !existsSync(staged), 'a segment of the new run, out of the new staging dir, is placed');
  await store.close();
  t.equal((catalog.db.prepare('SELECT COUNT(*) AS n FROM segments').get() as { n: number }).n, 3, 'three rows');
});

t.test('an hour dir readied before a camera\'s first segment: the segment lands there; readied for another hour, or removed since, it still lands', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const store = new SegmentStore(dir, catalog, pino({ level: 'silent' }));
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  const start = Date.parse('2026-12-02T10:59:58Z');
  const commit = (camera: string, i: number) => {
    const staging = stagingDir(dir, camera);
    mkdirSync(staging, { recursive: true });
    const staged = join(staging, `${start}-${String(i).padStart(6, '0')}.mp4`);
    copyFileSync(clip, staged);
    return store.commit({ camera, stagedPath: staged, startMs: start + i * 1000, endMs: start + (i + 1) * 1000 });
  };
  await store.prepare('a', start);
  t.ok(statSync(join(dir, 'recordings/a/2026-12-02/10')).isDirectory(), 'readied: the hour dir is made before any segment');
  const a = await commit('a', 0);
  t.equal(a.path, `recordings/a/2026-12-02/10/${start}.mp4`, 'the first segment lands in it');

  await store.prepare('b', start);
  const b = await commit('b', 3); // starts at 11:00:01: the next hour
  t.equal(b.path, `recordings/b/2026-12-02/11/${start + 3000}.mp4`, 'readied for an hour that has passed: the segment makes its own');

  await store.prepare('c', start);
  rmSync(join(dir, 'recordings/c/2026-12-02'), { recursive: true });
  const c = await commit('c', 0);
  t.ok(existsSync(join(dir, c.path)), `readied, then removed: made again (${c.path})`);

  writeFileSync(join(dir, 'recordings', 'd'), 'a file where the camera\'s dir would be');
  await t.resolves(store.prepare('d', start), 'a dir that cannot be made: readying does not throw (the segment meets the error itself)');
  const staged = join(dir, `${start}-000000.mp4`);
  copyFileSync(clip, staged);
  await t.rejects(store.commit({ camera: 'd', stagedPath: staged, startMs: start, endMs: start + 1000 }), 'and the segment does');
  await store.close();
  t.equal((catalog.db.prepare('SELECT COUNT(*) AS n FROM segments').get() as { n: number }).n, 3, 'three rows');
});

t.test('hashing stops at the first short read and still hashes every byte', async (t) => {
  const dir = t.testdir();
  for (const size of [0, 1, 65_536, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20)]) {
    const path = join(dir, `f${size}`);
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
    writeFileSync(path, data);
    t.equal(await sha256File(path), createHash('sha256').update(readFileSync(path)).digest('hex'), `${size} bytes`);
  }
});

t.test('a child\'s lines are read whatever the chunks, the last one without a newline too', async (t) => {
  const stream = new PassThrough();
  const lines: string[] = [];
  let ends = 0;
  readLines(stream, (l) => lines.push(l), () => ends++);
  for (const chunk of ['out_time_us=1', '000\nprogress=cont', 'inue\r\n\nframe=', '3\nlast']) stream.write(chunk);
  stream.end();
  await new Promise((r) => stream.on('close', r));
  await new Promise((r) => setImmediate(r));
  t.same(lines, ['out_time_us=1000', 'progress=continue', '', 'frame=3', 'last']);
  t.equal(ends, 1, 'the end is reported once');
});
