import t from 'tap';
import { tamperPictures } from '../support/tamper-pictures.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import type { SampledFrame } from '../../recorder/frame-sampler.js';
import { TamperMonitor } from '../../watchdog/tamper-monitor.js';

/*
 * The monitor's timing on its own, against a real catalog: a change is raised after
 * persistence_s, and while it is being confirmed (or its end is) the monitor says so, which the
 * view watch turns into quick sampling (FrameSampler.hurry) so that a camera sampled every 10 s
 * still raises within persistence plus a second or two.
 */
const W = 320, H = 240;

t.test('a change is raised after persistence_s, and the monitor is unsettled exactly while it confirms a start or an end', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const raised: Array<{ type: string; kind: unknown; atMs: number }> = [];
  let now = 0;
  const monitor = new TamperMonitor('cam', {
    catalog, raise: (type, _camera, data) => raised.push({ type, kind: data.kind, atMs: now }),
    settings: { enabled: true, sensitivity: 'medium', persistence_s: 10, learn_s: 5 },
  }).start();
  const { normal, covered } = tamperPictures(W, H);
  const t0 = Date.now();
  let i = 0;
  const feed = (s: number, data: Buffer) => {
    now = s;
    const frame: SampledFrame = { camera: 'cam', atMs: t0 + s * 1000, width: W, height: H, data };
    void monitor.onFrame(frame); // no analyzer: analysed in line, decided before this returns
  };
  for (let s = 0; s <= 6; s++) feed(s, normal[i++ % normal.length]!);
  t.equal(monitor.view.state, 'ok', 'the reference is learned');
  t.equal(monitor.unsettled, false, 'a normal view is settled: the sampler keeps its slow, cheap interval');

  feed(8, covered);
  t.equal(monitor.unsettled, true, 'the first covered sample: unsettled (sample quickly to confirm)');
  t.same(raised, [], 'one sample raises nothing');
  feed(9, covered);
  feed(17, covered);
  t.same(raised, [], 'not yet: 9 s of the 10');
  feed(18, covered);
  t.same(raised.map((r) => [r.type, r.kind, r.atMs]), [['tamper_suspected', 'covered', 18]], 'raised once it held 10 s');
  t.equal(monitor.unsettled, false, 'raised: settled again');

  feed(19, normal[i++ % normal.length]!);
  t.equal(monitor.unsettled, true, 'the view looks back: unsettled while the end is confirmed');
  feed(29, normal[i++ % normal.length]!);
  t.same(raised.map((r) => [r.type, r.kind, r.atMs]).at(-1), ['tamper_cleared', 'covered', 29], 'cleared once it was back 10 s');
  t.equal(monitor.unsettled, false, 'and settled');
  await monitor.stop();
});
