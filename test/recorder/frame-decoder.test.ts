import t from 'tap';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { DECODER_SCRIPT, FrameDecoder } from '../../recorder/frame-decoder.js';
import { boxHeader, parseMoof, parseMoov, type FragmentSample, type VideoTrack } from '../../recorder/mp4-fragments.js';

/**
 * The real keyframe helper, started through a wrapper that counts its starts and holds the first
 * ones back as a starved process on a loaded machine would be (Python importing PyAV at nice 5
 * can take many seconds of wall time there), or hides PyAV (python3-av not installed).
 */
function wrappedHelper(dir: string, opts: { slowS?: number[]; hideAv?: boolean }): { script: string; starts: () => number } {
  const count = join(dir, 'starts');
  const script = join(dir, 'helper.py');
  writeFileSync(script, [
    'import os, sys, time, runpy',
    `COUNT = ${JSON.stringify(count)}`,
    'n = int(open(COUNT).read()) if os.path.exists(COUNT) else 0',
    'open(COUNT, "w").write(str(n + 1))',
    `SLOW = ${JSON.stringify(opts.slowS ?? [])}`,
    'if n < len(SLOW): time.sleep(SLOW[n])',
    opts.hideAv ? 'sys.modules["av"] = None' : '',
    `sys.argv = [${JSON.stringify(DECODER_SCRIPT)}]`,
    `runpy.run_path(${JSON.stringify(DECODER_SCRIPT)}, run_name="__main__")`,
  ].join('\n') + '\n');
  return { script, starts: () => { try { return Number(readFileSync(count, 'utf8')); } catch { return 0; } } };
}

function capturedLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** Asks for the helper until it is ready, as the sampler's next keyframes would. */
async function readyEventually(decoder: FrameDecoder, withinMs: number): Promise<string> {
  const until = Date.now() + withinMs;
  for (;;) {
    try {
      return await decoder.ready();
    } catch (err) {
      if (Date.now() > until) throw err;
    }
  }
}

t.test('a helper slow to start on a loaded machine is waited for, not killed and backed off', async (t) => {
  const helper = wrappedHelper(t.testdir(), { slowS: [1.5] });
  const { log, lines } = capturedLog();
  const decoder = new FrameDecoder(log, helper.script, { helloSlowMs: 300, helloLimitMs: 20_000 });
  t.teardown(() => decoder.stop());
  t.match(await decoder.ready(), /\d/, "PyAV's version, from the one helper started");
  t.equal(helper.starts(), 1, 'started once: the slow start was not killed and started again');
  t.equal(decoder.unavailable, null);
  t.ok(lines.some((l) => l.msg === 'frame decoder slow to start (a loaded machine); still waiting for it'), 'the slow start is logged');
});

t.test('a helper that does not say hello in time is started again within seconds, every time, never backed off to a minute', async (t) => {
  // three starts past the limit in a row: backed off as if PyAV were missing, the third retry
  // would come a minute later (2 s, 10 s, then 60 s), and a camera's view would wait for it
  const helper = wrappedHelper(t.testdir(), { slowS: [30, 30, 30] });
  const { log, lines } = capturedLog();
  // a limit of 4 s, not less: a start not held back must import PyAV within it, which took over
  // 1.5 s at load 17 on the 2-core build machine
  const decoder = new FrameDecoder(log, helper.script, { helloSlowMs: 10_000, helloLimitMs: 4000 });
  t.teardown(() => decoder.stop());
  const t0 = Date.now();
  t.match(await readyEventually(decoder, 60_000), /\d/, 'ready once a start is quick enough');
  const tookS = (Date.now() - t0) / 1000;
  // the fourth start is the first one not held back (one more if this machine is too loaded to import PyAV in 4 s)
  t.ok(helper.starts() >= 4, `three starts killed at the limit, a later one answered (${helper.starts()} starts)`);
  const retries = lines.filter((l) => l.msg === 'frame decoder not available; view analysis waits for it').map((l) => Number(l.retryInMs));
  t.equal(retries.length, helper.starts() - 1, 'every start but the last killed and retried');
  t.ok(retries.every((ms) => ms > 0 && ms <= 2000), `each retry after at most 2 s (${retries.join(', ')} ms)`);
  t.ok(tookS < 50, `ready ${tookS.toFixed(1)} s after the first ask (3 x (4 s + 2 s) and a start; backed off, the fourth start came after 3 x 4 s + 72 s)`);
});

t.test('a helper that cannot run (PyAV missing) is asked again less and less often', async (t) => {
  const helper = wrappedHelper(t.testdir(), { hideAv: true });
  const { log, lines } = capturedLog();
  const decoder = new FrameDecoder(log, helper.script);
  t.teardown(() => decoder.stop());
  await t.rejects(decoder.ready(), /python3-av is not installed/);
  await t.rejects(decoder.ready(), /python3-av is not installed/, 'the second ask, 2 s later, fails the same');
  t.equal(helper.starts(), 2);
  const retries = lines.filter((l) => l.msg === 'frame decoder not available; view analysis waits for it').map((l) => Number(l.retryInMs));
  t.ok(retries[0]! > 1000 && retries[0]! <= 2000, `first retry after 2 s (${retries[0]} ms)`);
  t.ok(retries[1]! > 9000 && retries[1]! <= 10_000, `second after 10 s (${retries[1]} ms)`);
  t.match(decoder.unavailable, /python3-av is not installed/);
});

/** One keyframe as the sampler hands it over: a fragmented MP4 made by ffmpeg, read by the sampler's own parser. */
function keyframe(dir: string): { track: VideoTrack; sample: Buffer } {
  const file = join(dir, 'k.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=15', '-frames:v', '15', '-c:v', 'libx264', '-g', '15',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', file]);
  const buf = readFileSync(file);
  let track: VideoTrack | null = null;
  const samples: FragmentSample[] = [];
  for (let at = 0; at + 8 <= buf.length;) {
    const h = boxHeader(buf, at)!;
    if (h.type === 'moov') track = parseMoov(buf.subarray(at + h.headerSize, at + h.size));
    if (h.type === 'moof' && track) samples.push(...parseMoof(buf.subarray(at + h.headerSize, at + h.size), at, track));
    at += h.size;
  }
  const k = samples.find((s) => s.keyframe)!;
  return { track: track!, sample: buf.subarray(k.offset, k.offset + k.size) };
}

/** user + system CPU ms of a process, from /proc (clock ticks of 10 ms) */
function processCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

// the sampler keeps view watching within its share of a core by what each answer says it cost:
// the decode alone left the helper's pipe side uncharged (an eighth of what it spent, measured)
t.test("each answer's cpuMs charges all the helper spent since its last answer, the pipe's side included", async (t) => {
  const { track, sample } = keyframe(t.testdir());
  const decoder = new FrameDecoder(pino({ level: 'silent' }));
  t.teardown(() => decoder.stop());
  await decoder.ready();
  const request = { codec: track.codec, extradata: track.config, sample, maxWidth: 640, maxHeight: 360, format: 'gray' as const };
  await decoder.decode(request); // what starting cost is not an answer's
  const before = processCpuMs(decoder.pid!);
  let charged = 0;
  for (let i = 0; i < 300; i++) charged += (await decoder.decode(request)).cpuMs;
  const spent = processCpuMs(decoder.pid!) - before;
  t.ok(spent > 100, `the helper spent ${spent} ms`);
  t.ok(charged >= spent * 0.95 - 20 && charged <= spent * 1.05 + 20, `charged ${charged.toFixed(0)} ms of the ${spent} ms it spent`);
});
