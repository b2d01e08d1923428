/**
 * `edge-nvr uploads` shows every upload not finished, however many newer ones there are (a
 * pending upload under a thousand newer done ones was not shown, and nothing said so: an
 * outside probe), and says how many finished ones it left out.
 */
import t from 'tap';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { UploadQueue } from '../../recorder/catalog/uploads.js';
import { runCli } from '../support/cli.js';

t.test('a pending upload under a thousand newer finished ones is listed, and what is left out is said', async (t) => {
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  const queue = new UploadQueue(catalog);
  const upload = (i: number) => queue.add({
    requested_by: 'mqtt:platform', request_id: `r${i}`, kind: 'snapshot', camera: 'cam1', source: `exports/snap-${i}.jpg`,
    url: `https://platform.example/b/${i}?X-Sig=s`, destination: `https://platform.example/b/${i}`,
  });
  const first = upload(0);
  catalog.db.transaction(() => {
    for (let i = 1; i <= 1002; i++) queue.done(upload(i).id, { bytes: 10, sha256: 'ab'.repeat(32) });
  })();
  catalog.close();

  const text = await runCli(['uploads', '--data', data]);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, new RegExp(`^#${first.id} pending `, 'm'), 'the oldest, still pending, is listed');
  t.match(text.stdout, /^2 older finished upload\(s\) not shown: --all lists every one$/m);
  const json = JSON.parse((await runCli(['uploads', '--data', data, '--json'])).stdout) as { uploads: Array<{ id: number }>; left_out: number };
  t.equal(json.uploads.length, 1001, "the newest 1000 and the pending one");
  t.equal(json.left_out, 2);
  const all = JSON.parse((await runCli(['uploads', '--data', data, '--json', '--all'])).stdout) as { uploads: Array<{ id: number }>; left_out: number };
  t.equal(all.uploads.length, 1003);
  t.equal(all.left_out, 0);
});
