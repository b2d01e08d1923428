/**
 * Time inside gaps counts each moment once: a clock step is a `clock_jump` gap on every camera,
 * over a camera's own gap at times, and `status`, the health message and the page had added both.
 */
import t from 'tap';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { gapTimeWithin } from '../../watchdog/continuity.js';
import { backdate, makeClip } from '../support/backdate.js';
import { runCli } from '../support/cli.js';

t.test('overlapping, nested, open and clipped gaps', async (t) => {
  const g = (start_ms: number, end_ms: number | null) => ({ start_ms, end_ms });
  t.equal(gapTimeWithin([g(10, 20), g(15, 30)], 0, 100), 20, 'overlapping: 10..30');
  t.equal(gapTimeWithin([g(10, 50), g(20, 30)], 0, 100), 40, 'nested');
  t.equal(gapTimeWithin([g(40, 60), g(10, 20)], 0, 100), 30, 'in any order');
  t.equal(gapTimeWithin([g(90, null), g(95, 99)], 0, 100), 10, 'an open gap up to the end');
  t.equal(gapTimeWithin([g(-50, 10), g(95, 200)], 0, 100), 15, 'clipped to the window');
  t.equal(gapTimeWithin([g(120, 130)], 0, 100), 0, 'outside it');
});

t.test('status counts a clock_jump over a camera gap once', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const catalog = Catalog.open(data);
  const now = Date.now();
  await backdate(data, catalog, makeClip(join(dir, 'clip.mp4')), 'cam1', [now - 700_000]);
  catalog.addGap('cam1', now - 600_000, now - 300_000, 'camera_unreachable', 'down');
  catalog.addGap('cam1', now - 500_000, now - 400_000, 'clock_jump', 'the clock stepped forward by 100000 ms');
  catalog.close();
  const r = await runCli(['status', '--data', data, '--json']);
  t.equal(r.stderr, '');
  const s = JSON.parse(r.stdout) as { cameras: Array<{ camera: string; gap_ms_24h: number; gaps_24h: number }> };
  t.match(s.cameras.find((c) => c.camera === 'cam1'), { gap_ms_24h: 300_000, gaps_24h: 2 });
});
