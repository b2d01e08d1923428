import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from '../support/cli.js';

const LOCK = fileURLToPath(new URL('../../dist/common/file-lock.js', import.meta.url)).replace('/dist/dist/', '/dist/');

/** One process: `rounds` read-add-write rounds of the counter, each under the lock; prints how many gave up. */
const WORKER = `
import { readFileSync, writeFileSync } from 'node:fs';
const { withFileLock, FileLockBusy } = await import(process.argv[1]);
const [counter, rounds, waitMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
let busy = 0;
for (let i = 0; i < rounds; i++) {
  try {
    withFileLock(counter + '.lock', waitMs, () => writeFileSync(counter, String(Number(readFileSync(counter, 'utf8')) + 1)));
  } catch (err) {
    if (!(err instanceof FileLockBusy)) throw err;
    busy++;
  }
}
console.log(busy);
`;

/**
 * Processes that change one file at once, each change taking microseconds: every change holds,
 * and nobody waits for a lock no one is using. With SQLite's exclusive locking mode a waiter kept
 * the read lock it had taken, the holder waited for it to go, and both waited until one gave up
 * (six `user add` at once on a loaded machine: one "held for more than 30 s").
 */
t.test('six processes changing one file under the lock: every change kept, none gives up', async (t) => {
  const dir = t.testdir();
  const counter = join(dir, 'counter');
  writeFileSync(counter, '0');
  const [processes, rounds, waitMs] = [6, 200, 5000];
  const results = await Promise.all(Array.from({ length: processes }, () => runNode(['--input-type=module', '-e', WORKER, LOCK, counter, String(rounds), String(waitMs)])));
  for (const r of results) t.equal(r.code, 0, r.stderr);
  t.same(results.map((r) => Number(r.stdout.trim())), Array(processes).fill(0), `no process gave up after ${waitMs / 1000} s`);
  t.equal(Number(readFileSync(counter, 'utf8')), processes * rounds, 'every change kept: the lock excluded');
});
