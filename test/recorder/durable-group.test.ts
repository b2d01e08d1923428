import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendAudit, verifyAudit } from '../../recorder/catalog/audit-log.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { IdentityWatch } from '../../watchdog/camera-identity.js';

/*
 * Catalog.durableGroup (recorder/catalog/durable-group.ts): the durable writes of one turn of the
 * event loop in one transaction, one fsync, every caller told after it. Real SQLite; the fsyncs
 * counted by strace on a child process running the built catalog.
 */
const FULL = 2;
const catalogJs = fileURLToPath(new URL('../../dist/recorder/catalog/catalog.js', import.meta.url));
const auditJs = fileURLToPath(new URL('../../dist/recorder/catalog/audit-log.js', import.meta.url));

t.test('writes of one turn: one WAL fsync for all of them, and every caller hears back after it', async (t) => {
  const dir = t.testdir();
  const trace = join(dir, 'strace');
  const marks = join(dir, 'marks');
  // 8 audit entries one by one (Catalog.durably: one fsync each), then 8 in one group; each
  // caller of the group writes a line to `marks` when it hears back (a write the trace shows)
  const script = `
    import { Catalog } from ${JSON.stringify(catalogJs)};
    import { appendAudit } from ${JSON.stringify(auditJs)};
    import { appendFileSync, writeFileSync } from 'node:fs';
    const catalog = Catalog.open(${JSON.stringify(join(dir, 'data'))});
    writeFileSync(${JSON.stringify(marks)}, 'one by one\\n');
    for (let i = 0; i < 8; i++) appendAudit(catalog, { actor: 'test', action: 'alone', details: { i } });
    writeFileSync(${JSON.stringify(marks)}, 'group\\n', { flag: 'a' });
    await Promise.all(Array.from({ length: 8 }, (_, i) => catalog.durableGroup.add(() => appendAudit(catalog, { actor: 'test', action: 'grouped', details: { i } }))
      .then((row) => appendFileSync(${JSON.stringify(marks)}, 'heard ' + row.id + '\\n'))));
    catalog.close();
  `;
  execFileSync('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,write,pwrite64', '-o', trace, process.execPath, '--input-type=module', '-e', script]);
  let phase = '';
  const walSyncs: Record<string, number> = { 'one by one': 0, group: 0 };
  let syncedBeforeHeard = 0;
  const heard: string[] = [];
  for (const raw of readFileSync(trace, 'utf8').split('\n')) {
    const line = raw.replace(/^\d+\s+/, '');
    const mark = /^write\(\d+<[^>]*\/marks>, "([^"\\]+)\\n"/.exec(line);
    if (mark) {
      if (mark[1]!.startsWith('heard')) { heard.push(mark[1]!); if (heard.length === 1) syncedBeforeHeard = walSyncs.group!; } else phase = mark[1]!;
      continue;
    }
    if (/^f(?:data)?sync\(\d+<[^>]*catalog\.db-wal>/.test(line) && phase in walSyncs && heard.length === 0) walSyncs[phase]!++;
  }
  t.equal(walSyncs['one by one'], 8, 'one by one: a WAL fsync each');
  t.equal(walSyncs.group, 1, 'the group: one WAL fsync for the eight');
  t.equal(syncedBeforeHeard, 1, 'the first caller heard back after that fsync');
  t.equal(heard.length, 8, 'every caller heard back');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare("SELECT action, count(*) AS n FROM audit_log GROUP BY action ORDER BY action").all(), [{ action: 'alone', n: 8 }, { action: 'grouped', n: 8 }]);
});

t.test('a write that throws is rolled back alone; the others are committed, under FULL, before their callers hear back', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const other = new Database(join(dir, 'catalog.db'), { readonly: true });
  t.teardown(() => other.close());
  const count = () => (other.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;
  const levels: number[] = [];
  const write = (i: number) => () => {
    levels.push(catalog.db.pragma('synchronous', { simple: true }) as number);
    return appendAudit(catalog, { actor: 'test', action: 'entry', details: { i } }).id;
  };
  const first = catalog.durableGroup.add(write(1));
  const failing = catalog.durableGroup.add(() => { appendAudit(catalog, { actor: 'test', action: 'doomed' }); throw new Error('refused'); });
  const last = catalog.durableGroup.add(write(2));
  t.equal(count(), 0, 'nothing committed while the turn goes on');
  const seenAtFirst = await first.then(() => count());
  t.equal(seenAtFirst, 2, 'when the first caller hears back, another connection reads both entries: committed');
  await t.rejects(failing, /refused/, 'the failing caller hears why');
  t.equal(await last, 2, 'the entry after it took the next id: the failed one was rolled back alone');
  t.same(levels, [FULL, FULL], 'written under synchronous=FULL');
  t.equal(catalog.db.pragma('synchronous', { simple: true }), 1, 'NORMAL again after');
  t.equal(catalog.db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'doomed'").pluck().get(), 0, 'nothing of the failed write');
  t.ok(verifyAudit(catalog).ok, 'the audit chain is whole');
});

t.test('pins of cameras whose first stream came in the same turn: each with its audit entry, in one group, logged once durable', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const logged: string[] = [];
  const log = { info: (o: { camera: string }, msg: string) => logged.push(`${o.camera} ${msg}`), error: () => undefined } as never;
  const watches = ['a', 'b', 'c'].map((camera) => new IdentityWatch(camera, { catalog, log, report: () => undefined }));
  for (const w of watches) w.onStream({ codec: 'h264', width: 640, height: 360 });
  t.same(logged, [], 'no caller told before the commit');
  t.equal(catalog.cameraIdentity('a'), undefined, 'nor is the pin readable before it');
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.same(logged, ['a camera identity pinned (stream)', 'b camera identity pinned (stream)', 'c camera identity pinned (stream)']);
  for (const camera of ['a', 'b', 'c']) t.match(catalog.cameraIdentity(camera), { codec: 'h264', width: 640, height: 360 }, `${camera} pinned`);
  const entries = catalog.db.prepare("SELECT camera FROM audit_log WHERE action = 'camera.identity_pinned' ORDER BY id").pluck().all();
  t.same(entries, ['a', 'b', 'c'], 'one audit entry each');
});
