import t from 'tap';
import { tamperPictures } from '../support/tamper-pictures.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { FrameDecoder } from '../../recorder/frame-decoder.js';
import type { SampledFrame } from '../../recorder/frame-sampler.js';
import { describeFrame, learnReference } from '../../watchdog/tamper-analysis.js';
import { TamperMonitor } from '../../watchdog/tamper-monitor.js';
import { ViewAnalysis, type ViewJob } from '../../watchdog/view-analysis.js';
import { ViewAnalyzer } from '../../watchdog/view-analyzer.js';
import { ViewWatch } from '../../watchdog/view-watch.js';
import { until } from '../support/daemon.js';

/*
 * View analysis in its own thread (watchdog/view-analyzer.ts), or in line while few cameras are
 * watched: the same answers as in line, a covered camera still raised, stale pictures dropped
 * rather than queued, a stuck thread replaced, and a thread that keeps failing shown as the
 * camera's view `unavailable`, never silence.
 */
const W = 320, H = 240;
const log = pino({ level: 'silent' });


const { normal, covered } = tamperPictures(W, H);

t.test('the thread answers what the analysis in line answers, and a covered camera is raised through it', async (t) => {
  const analyzer = new ViewAnalyzer({ log });
  t.teardown(() => analyzer.stop());
  const inline = new ViewAnalysis();
  const job = (data: Buffer): ViewJob => ({ kind: 'view', camera: 'cam', width: W, height: H, data, reference: null });
  for (const pic of [normal[0]!, normal[1]!, covered]) {
    const there = await analyzer.run(job(pic));
    const here = inline.run(job(pic));
    t.ok(there, 'answered');
    t.same({ ...there!.answer, coarse: [...there!.answer.coarse.data] }, { ...here, coarse: [...here.coarse.data] }, 'the same description, change and comparison as in line');
    t.ok(there!.cpuMs >= 0, `its cost is reported (${there!.cpuMs.toFixed(1)} ms)`);
  }
  t.not(analyzer.threadId, undefined, 'in a thread of its own');

  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const raised: Array<{ type: string; kind: unknown }> = [];
  let charged = 0;
  const monitor = new TamperMonitor('cam', {
    catalog, raise: (type, _camera, data) => raised.push({ type, kind: data.kind }), analyzer, charge: (ms) => { charged += ms; },
    settings: { enabled: true, sensitivity: 'medium', persistence_s: 10, learn_s: 5 },
  }).start();
  const t0 = Date.now();
  const feed = (s: number, data: Buffer) => monitor.onFrame({ camera: 'cam', atMs: t0 + s * 1000, width: W, height: H, data } satisfies SampledFrame);
  for (let s = 0; s <= 6; s++) await feed(s, normal[s % normal.length]!);
  t.equal(monitor.view.state, 'ok', 'the reference is learned from answers of the thread');
  for (let s = 8; s <= 19; s++) await feed(s, covered);
  t.same(raised.map((r) => [r.type, r.kind]), [['tamper_suspected', 'covered']], 'the covered lens is raised');
  t.ok(charged > 0, 'the thread\'s time is charged to the sampler\'s budget');
  await monitor.stop();
});

t.test('few cameras: analysed in line, no thread; past the bound in the thread; back under it the idle thread ends', async (t) => {
  let cameras = 2;
  const analyzer = new ViewAnalyzer({ log, inline: () => cameras <= 2 });
  t.teardown(() => analyzer.stop());
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const raised: Array<[string, string, unknown]> = [];
  let charged = 0;
  const monitor = (camera: string) => new TamperMonitor(camera, {
    catalog, raise: (type, cam, data) => raised.push([type, cam!, data.kind]), analyzer, charge: (ms) => { charged += ms; },
    settings: { enabled: true, sensitivity: 'medium', persistence_s: 10, learn_s: 5 },
  }).start();
  const a = monitor('a'), b = monitor('b');
  const t0 = Date.now();
  const feed = (m: TamperMonitor, s: number, data: Buffer) => m.onFrame({ camera: m.camera, atMs: t0 + s * 1000, width: W, height: H, data } satisfies SampledFrame);
  // two cameras through one analysis in line: each keeps its own previous picture and reference
  let sync = true;
  for (let s = 0; s <= 6; s++) {
    sync &&= feed(a, s, normal[s % normal.length]!) === undefined;
    sync &&= feed(b, s, normal[(s + 1) % normal.length]!) === undefined;
  }
  t.ok(sync, 'every picture decided before onFrame returned (in line)');
  t.equal(analyzer.threadId, undefined, 'no thread started');
  t.same([a.view.state, b.view.state], ['ok', 'ok'], 'both references learned in line');
  for (let s = 8; s <= 19; s++) {
    sync &&= feed(a, s, covered) === undefined;
    sync &&= feed(b, s, normal[s % normal.length]!) === undefined;
  }
  t.ok(sync, 'still in line');
  t.same(raised, [['tamper_suspected', 'a', 'covered']], 'the covered camera is raised, the other not');
  t.equal(charged, 0, 'nothing charged by the monitor: the sampler times its listeners in line');

  cameras = 3;
  const there = feed(b, 20, normal[0]!);
  t.type(there, Promise, 'past the bound: the picture goes to the thread');
  await there;
  t.not(analyzer.threadId, undefined, 'a thread started');
  t.equal(analyzer.answered, 1, 'and answered it');
  t.ok(charged > 0, 'its CPU time charged to the sampler\'s budget');
  t.equal(b.view.state, 'ok', 'the uncovered camera stays ok');

  cameras = 2;
  t.equal(feed(b, 21, normal[1]!), undefined, 'back under the bound: in line again');
  t.equal(analyzer.threadId, undefined, 'the idle thread ended');
  t.equal(analyzer.restarts, 0, 'not counted as a failure');
  t.equal(analyzer.problem, null, 'nothing to report');
  await a.stop();
  await b.stop();
});

t.test('what the analysis keeps of a camera between pictures is bounded: its last picture as bytes and its reference, however many pictures', (t) => {
  const analysis = new ViewAnalysis();
  const reference = learnReference(normal.map((data, i) => describeFrame({ width: W, height: H, data }, i * 1000)));
  const job = (camera: string, data: Buffer, withReference = true): ViewJob => ({
    kind: 'view', camera, width: W, height: H, data, reference: withReference ? { id: 1, data: reference } : null,
  });
  analysis.run(job('plain', normal[0]!, false));
  t.equal(analysis.heldBytes('plain'), W * H, `without a reference: the previous picture, a byte a pixel (${W * H}), not Float32 (${W * H * 4})`);
  analysis.run(job('cam', normal[0]!));
  const first = analysis.heldBytes('cam');
  for (let i = 0; i < 30; i++) analysis.run(job('cam', i % 7 === 3 ? covered : normal[i % normal.length]!));
  t.equal(analysis.heldBytes('cam'), first, `the same ${first} bytes after 30 more pictures`);
  t.ok(first < W * H * 4, 'less than one Float32 picture, reference included');
  analysis.forget('cam');
  t.equal(analysis.heldBytes('cam'), 0, 'a camera no longer watched holds nothing');
  t.end();
});

t.test('stale pictures are dropped, not queued: one waiting per camera, a bound over all', async (t) => {
  const analyzer = new ViewAnalyzer({ log, maxQueued: 4 });
  t.teardown(() => analyzer.stop());
  const job = (camera: string, data: Buffer): ViewJob => ({ kind: 'view', camera, width: W, height: H, data, reference: null });
  t.ok(await analyzer.run(job('a', normal[0]!)), 'the thread is up');
  // one camera's burst: the first goes to the thread, the last waits, those between are dropped
  const burst = await Promise.all(normal.map((pic) => analyzer.run(job('a', pic))));
  t.ok(burst[0], 'the first picture is analysed');
  t.ok(burst.at(-1), 'and the newest');
  t.equal(burst.filter((b) => b === null).length, normal.length - 2, 'the pictures between are dropped as stale');
  // many cameras at once: at most 4 wait
  const many = await Promise.all(Array.from({ length: 10 }, (_, i) => analyzer.run(job(`cam${i}`, normal[i % normal.length]!))));
  t.equal(many.filter((b) => b !== null).length, 5, 'one in the thread and the newest 4 waiting are answered');
  t.same(many.slice(-4).map((b) => b !== null), [true, true, true, true], 'the oldest were dropped, not the newest');
  t.equal(analyzer.dropped, normal.length - 2 + 5, 'every drop counted');
});

t.test('pictures given in one buffer that is written over (the sampler decodes every camera into one): each is analysed as it was given', async (t) => {
  const analyzer = new ViewAnalyzer({ log });
  t.teardown(() => analyzer.stop());
  const inline = new ViewAnalysis();
  const job = (camera: string, data: Buffer): ViewJob => ({ kind: 'view', camera, width: W, height: H, data, reference: null });
  t.ok(await analyzer.run(job('warm-up', normal[0]!)), 'the thread is up');
  const one = Buffer.alloc(W * H * 3);
  const pictures = [normal[0]!, covered, normal[1]!, covered];
  // every camera's picture written into the same buffer, the next one before the thread took the last
  const answers = pictures.map((pic, i) => { one.set(pic); return analyzer.run(job(`cam${i}`, one)); });
  one.fill(0);
  const there = await Promise.all(answers);
  t.ok(there.every(Boolean), 'all answered (one camera each: none stale)');
  for (const [i, pic] of pictures.entries()) {
    const here = inline.run(job(`cam${i}`, pic));
    t.same([...there[i]!.answer.coarse.data], [...here.coarse.data], `camera ${i}: the picture it was given, not what was written over it`);
  }
});

t.test('a stuck thread is replaced and the next pictures are answered', async (t) => {
  const dir = t.testdir();
  // the first thread hangs on its first picture (a pixel loop that never ends); later ones are the real thread
  const script = join(dir, 'hangs-once.mjs');
  writeFileSync(script, `import { existsSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
const marker = ${JSON.stringify(join(dir, 'hung'))};
if (!existsSync(marker)) {
  writeFileSync(marker, '');
  parentPort.on('message', () => { for (;;); });
  parentPort.postMessage({ ready: true });
} else await import(${JSON.stringify(new URL('../../watchdog/view-analysis-worker.ts', import.meta.url).href)});
`);
  const analyzer = new ViewAnalyzer({ log, jobTimeoutMs: 2000, script: pathToFileURL(script) });
  t.teardown(() => analyzer.stop());
  const job: ViewJob = { kind: 'view', camera: 'cam', width: W, height: H, data: normal[0]!, reference: null };
  const stuck = await analyzer.run(job);
  t.equal(stuck, null, 'the picture it was stuck on is lost (answered null after the deadline)');
  t.equal(analyzer.restarts, 0, 'not yet restarted when that answer comes');
  const after = await analyzer.run(job);
  t.ok(after, 'a new thread answers the next picture');
  t.equal(analyzer.restarts, 1, 'one restart');
  t.equal(analyzer.problem, null, 'one failure is not a problem to report');
});

t.test('a thread that keeps dying: restarted each time, and the camera\'s view reads unavailable, saying why', async (t) => {
  const dir = t.testdir();
  const script = join(dir, 'dies.mjs');
  writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => { throw new Error('segfault in a pixel loop'); });\nparentPort.postMessage({ ready: true });\n");
  let inline = false;
  const analyzer = new ViewAnalyzer({ log, script: pathToFileURL(script), inline: () => inline });
  t.teardown(() => analyzer.stop());
  const catalog = Catalog.open(dir);
  t.teardown(() => catalog.close());
  const decoder = new FrameDecoder(log);
  t.teardown(() => decoder.stop());
  const watch = new ViewWatch('cam', {
    dataDir: dir, catalog, decoder, log, raise: () => undefined, analyzer,
    tamper: { enabled: true, sensitivity: 'medium', persistence_s: 10, learn_s: 5 },
  }).start();
  t.teardown(() => watch.stop());
  const t0 = Date.now();
  const end = Date.now() + 20_000;
  for (let s = 0; analyzer.problem === null && Date.now() < end; s++) {
    await watch.monitor.onFrame({ camera: 'cam', atMs: t0 + s * 1000, width: W, height: H, data: normal[s % normal.length]! });
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(analyzer.restarts >= 2, `a new thread after each failure (${analyzer.restarts})`);
  t.match(analyzer.problem, /failed 3 times within a minute.*segfault in a pixel loop/, 'the reason, with the thread\'s own error');
  await until(() => watch.view.state === 'unavailable', 10_000, 'the view unavailable');
  t.match(watch.view.detail, /view analysis thread failed/, 'the camera\'s view says why (status, MQTT health)');
  t.equal((JSON.parse(catalog.cameraView('cam')!.view) as { state: string }).state, 'unavailable', 'and so does the catalog (edge-nvr status)');

  // a reload leaves few cameras: analysed in line from now, the failed thread no longer stops the view
  inline = true;
  t.equal(watch.monitor.onFrame({ camera: 'cam', atMs: Date.now(), width: W, height: H, data: normal[0]! }), undefined, 'in line');
  t.equal(analyzer.problem, null, 'nothing to report once pictures are analysed in line');
  await until(() => watch.view.state !== 'unavailable', 10_000, 'the view watched again');
});
