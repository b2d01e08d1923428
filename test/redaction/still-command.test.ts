import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { tmp } from './media.js';

// `still` takes raw RGB24 from stdin, alone or as `--batch` (header line, pixels, repeated: what
// the daemon writes its tamper stills with). Its input is untyped bytes: every bad request is
// answered, none is taken as pixels of the next, and nothing is held without bound.
const dir = tmp();
const data = join(dir, 'data');
const pixels = (w: number, h: number) => Buffer.alloc(w * h * 3, 90);
const header = (fields: Record<string, unknown>) => Buffer.from(JSON.stringify({ camera: 'cam1', at_ms: 1_800_000_000_000, requester: 'test', reason: 'still test', ...fields }) + '\n');

t.test('one still: the size is checked before stdin is read, and stdin must hold exactly its pixels', async (t) => {
  const ok = await runCli(['still', '--data', data, '--camera', 'cam1', '--size', '4x3', '--out', join(dir, 'one.jpg')], { input: pixels(4, 3) });
  t.equal(ok.code, 0, ok.stderr);
  t.ok(existsSync(join(dir, 'one.jpg')), 'written');
  for (const [size, why] of [['0x5', /--size: expected a width and height of 1 to 8192 pixels, got 0 x 5/], ['9000x2', /got 9000 x 2/]] as const) {
    const r = await runCli(['still', '--data', data, '--camera', 'cam1', '--size', size, '--out', join(dir, `bad-${size}.jpg`)], { input: pixels(2, 2) });
    t.equal(r.code, 2, `${size}: a usage error`);
    t.match(r.stderr, why);
    t.notOk(existsSync(join(dir, `bad-${size}.jpg`)));
  }
  const more = await runCli(['still', '--data', data, '--camera', 'cam1', '--size', '2x2', '--out', join(dir, 'more.jpg')], { input: pixels(8, 8) });
  t.equal(more.code, 2);
  t.match(more.stderr, /expected 12 bytes of RGB24 for 2x2, got more/);
  t.notOk(existsSync(join(dir, 'more.jpg')));
});

t.test('--batch: each bad header is answered, and the stills after it are still made', async (t) => {
  const out = (n: string) => join(dir, `b-${n}.jpg`);
  const input = Buffer.concat([
    header({ width: 'x', height: 2, out: out('size-text') }), // its pixels cannot be framed: none follow
    header({ width: 2, height: 2, out: out('first') }), pixels(2, 2),
    header({ width: -2, height: 2, out: out('negative') }),
    header({ width: 2, height: 2, out: out('bad-time'), at_ms: 'soon' }), pixels(2, 2),
    header({ width: 2, height: 2, out: 7, camera: 5 }), pixels(2, 2),
    Buffer.from('null\n'),
    header({ width: 3, height: 2, out: out('second') }), pixels(3, 2),
    header({ width: 2, height: 2, out: out('cut') }), pixels(1, 1),
  ]);
  const r = await runCli(['still', '--batch', '--data', data], { input });
  t.equal(r.code, 0, r.stderr);
  const answers = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; out?: unknown; error?: string });
  t.match(answers, [
    { ok: false, out: out('size-text'), error: /size: expected a width and height/ },
    { ok: true, out: out('first') },
    { ok: false, out: out('negative'), error: /got -2 x 2/ },
    { ok: false, out: out('bad-time'), error: /at: expected epoch milliseconds/ },
    { ok: false, out: 7, error: /camera: expected a camera id/ },
    { ok: false, error: 'not a JSON header line' },
    { ok: true, out: out('second') },
    { ok: false, out: out('cut'), error: /stdin ended after 3 of the 12 bytes/ },
  ]);
  t.equal(answers.length, 8, 'one answer for each request');
  t.ok(existsSync(out('first')) && existsSync(out('second')), 'the good ones are written');
  t.notOk(existsSync(out('cut')) || existsSync(out('bad-time')), 'the bad ones are not');
});

t.test('--batch: bytes with no header line in the first 64 KiB are answered and not held', async (t) => {
  const r = await runCli(['still', '--batch', '--data', data], { input: Buffer.alloc(200_000, 1) });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /a header line longer than 65536 bytes; the rest of stdin is not read/);
});

t.test('the daemon\'s still writer: a still asked for just as the last writer lets go is written, not reported failed', async (t) => {
  // the built module: its writer runs the built CLI next to it (dist/daemon/cli.js)
  const { TamperStills } = await import(new URL('../../dist/daemon/egress-handlers.js', import.meta.url).href) as typeof import('../../daemon/egress-handlers.js');
  const errors: string[] = [];
  const log = { info: () => undefined, error: (o: unknown, msg: string) => { errors.push(`${msg} ${JSON.stringify(o)}`); } };
  const stills = new TamperStills({ dataDir: data, configPath: undefined } as never, log as never);
  t.teardown(() => stills.stop());
  const frame = (n: number) => ({ camera: 'cam1', atMs: 1_800_000_000_000 + n * 1000, width: 4, height: 3, data: pixels(4, 3) });
  // the first writer answers, has nothing left and is let go; the second still starts another
  // writer while the first is still closing (two tamper alarms a second apart)
  const first = stills.write(frame(1) as never, 'moved');
  await first.done;
  const second = stills.write(frame(2) as never, 'frozen');
  await t.resolves(second.done, 'the second still is reported written');
  t.ok(existsSync(join(data, second.path)), 'and it is');
  await new Promise((r) => setTimeout(r, 1000));
  t.same(errors, [], 'no writer reported ending early');
});
