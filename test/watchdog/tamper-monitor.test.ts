import t from 'tap';
import { execFileSync } from 'node:child_process';
import { Catalog } from '../../recorder/catalog/catalog.js';
import type { SampledFrame } from '../../recorder/frame-sampler.js';
import { TamperMonitor } from '../../watchdog/tamper-monitor.js';

/*
 * The monitor's timing on its own, against a real catalog: a change is raised after
 * persistence_s, and while it is being confirmed (or its end is) the monitor says so, which the
 * view watch turns into quick sampling (FrameSampler.hurry) so that a camera sampled every 10 s
 * still raises within persistence plus a second or two.
 */
const SCENE = '/usr/share/doc/opencv-doc/examples/data/building.jpg';
const W = 320, H = 240;

/**
 * The photograph with fresh sensor noise and a small bright patch in a new place per frame (what
 * keeps a picture from reading static: a ticking clock, someone far off), and the same with a dark
 * hand over the lens.
 */
function pictures(): { normal: Buffer[]; covered: Buffer } {
  const n = 8;
  const graph = `[0:v]scale=${W}:${H}:force_original_aspect_ratio=increase,crop=${W}:${H},split=${n + 1}${Array.from({ length: n + 1 }, (_, i) => `[s${i}]`).join('')};`
    + Array.from({ length: n }, (_, i) => `[s${i}]drawbox=x=${20 + i * 34}:y=12:w=24:h=16:color=white@1:t=fill,noise=alls=5:allf=t+u:all_seed=${i + 1}[o${i}]`).join(';')
    + `;[s${n}]drawbox=x=0:y=0:w=iw:h=ih:color=0x3a2a22@1:t=fill,noise=alls=3:allf=t[o${n}];`
    + `${Array.from({ length: n + 1 }, (_, i) => `[o${i}]`).join('')}vstack=inputs=${n + 1}`;
  const data = execFileSync('ffmpeg', ['-v', 'error', '-i', SCENE, '-filter_complex', graph, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  const size = W * H * 3;
  const all = Array.from({ length: n + 1 }, (_, i) => data.subarray(i * size, (i + 1) * size));
  return { normal: all.slice(0, n), covered: all[n]! };
}

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
  const { normal, covered } = pictures();
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
