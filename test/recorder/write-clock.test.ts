import t from 'tap';
import { WriteClock } from '../../recorder/backends/write-clock.js';

/*
 * The media -> wall clock map of both backends, fed as ffmpeg feeds it: each 2 s segment's first
 * packet written (its file's birth) and the next one's (its last write), with the camera's
 * media time. Wall times in ms from T0; the camera made media time m at T0 + 1000 m unless a
 * case says otherwise; writes lag arrival by 20-60 ms.
 */
const T0 = 1_800_000_000_000;
const SEG = 2;

type Dated = { startS: number; endS: number; startMs: number; endMs: number };
const held = new WeakMap<WriteClock, number[]>();

/**
 * Feeds segments [from, to) of SEG s, as the backends do: a segment waits while the clock is
 * unsettled, and is dated with the ones after it. `wallOf(m)`: when media time m was written.
 */
function record(clock: WriteClock, from: number, to: number, wallOf: (m: number) => number): Dated[] {
  const out: Dated[] = [];
  const pending = held.get(clock) ?? [];
  held.set(clock, pending);
  for (let m = from; m < to; m += SEG) {
    clock.observe(m, wallOf(m));
    clock.observe(m + SEG, wallOf(m + SEG));
    pending.push(m);
    if (clock.unsettled) continue;
    for (const p of pending.splice(0)) out.push({ startS: p, endS: p + SEG, ...clock.date(p, p + SEG)! });
  }
  return out;
}

const lag = (m: number) => 20 + ((m * 37) % 40);

t.test('a steady camera: each segment dated at its pictures, one after the other', async (t) => {
  const clock = new WriteClock();
  const segs = record(clock, 0, 60, (m) => T0 + m * 1000 + lag(m));
  t.ok(segs.every((s) => Math.abs(s.startMs - (T0 + s.startS * 1000)) <= 60), 'every start within the write lag');
  t.ok(segs.slice(1).every((s, i) => s.startMs === segs[i]!.endMs), 'no overlap, no sliver');
});

t.test('a start-up burst (3 s held, then written at once) and a 6 s network hiccup: still dated at the pictures', async (t) => {
  const clock = new WriteClock();
  const burst = record(clock, 0, 4, (m) => T0 + Math.max(m * 1000 + lag(m), 3000 + m * 50));
  t.equal(burst.length, 2);
  const steady = record(clock, 4, 40, (m) => T0 + m * 1000 + lag(m));
  // the hiccup: media 40..46 arrive late, caught up by 48
  const hiccup = record(clock, 40, 48, (m) => T0 + Math.max(m * 1000 + lag(m), 46_500 + (m - 40) * 100));
  const after = record(clock, 48, 80, (m) => T0 + m * 1000 + lag(m));
  for (const s of [...steady, ...hiccup, ...after]) t.ok(Math.abs(s.startMs - (T0 + s.startS * 1000)) <= 60, `segment at ${s.startS} s dated ${s.startMs - T0 - s.startS * 1000} ms off`);
  t.equal(steady.length + hiccup.length + after.length, 38, 'every segment dated (held at most while the hiccup lasted)');
});

t.test('the camera\'s clock jumps forward an hour: the segment across the jump ends where its pictures did, those after are dated in the new clock', async (t) => {
  const clock = new WriteClock();
  const before = record(clock, 0, 20, (m) => T0 + m * 1000 + lag(m));
  // media 20 was written at T0 + 20 s; the camera then jumped 3600 s at T0 + 21 s: media 3621 at T0 + 22 s
  clock.observe(20, T0 + 20_030);
  clock.observe(3622, T0 + 22_030);
  const across = clock.date(20, 3622)!;
  t.equal(across.startMs, before.at(-1)!.endMs, 'it starts where the one before ended');
  t.ok(Math.abs(across.endMs - (T0 + 22_000)) <= 60, `and ends at the pictures' time, not an hour later (${across.endMs - T0} ms)`);
  const after = record(clock, 3622, 3660, (m) => T0 + (m - 3600) * 1000 + lag(m));
  t.ok(after.every((s) => Math.abs(s.startMs - (T0 + (s.startS - 3600) * 1000)) <= 60), 'the segments after: at their pictures');
  t.equal(after[0]!.startMs, across.endMs, 'following the one across the jump');
});

t.test('a camera that stopped 7 s and counts on from where it stopped: dated after the pause, not 7 s early for two minutes', async (t) => {
  const clock = new WriteClock();
  record(clock, 0, 30, (m) => T0 + m * 1000 + lag(m));
  // media 30 onwards made 7 s later than its time says
  const after = record(clock, 30, 90, (m) => T0 + 7000 + m * 1000 + lag(m));
  t.ok(after.length >= 20, `segments dated once the pause is known (${after.length})`);
  t.ok(after.every((s) => Math.abs(s.startMs - (T0 + 7000 + s.startS * 1000)) <= 60), 'every one at its pictures\' time');
  t.notOk(clock.unsettled, 'settled');
});

t.test('segments whose media times are 100 ms apart (a camera without a frame rate in its SDP) or overlap by 4 ms are joined', async (t) => {
  const clock = new WriteClock();
  clock.observe(0, T0 + 30);
  clock.observe(1.9, T0 + 2030);
  const a = clock.date(0, 1.9)!;
  clock.observe(2, T0 + 2030);
  clock.observe(3.9, T0 + 4030);
  const b = clock.date(2, 3.9)!;
  t.equal(b.startMs, a.endMs, 'no sliver between them');
  clock.observe(3.896, T0 + 4030);
  const c = clock.date(3.896, 5.9)!;
  t.equal(c.startMs, b.endMs, 'no overlap');
  clock.observe(10, T0 + 10_030);
  const d = clock.date(10, 12)!;
  t.ok(d.startMs > c.endMs + 4000, 'media 4 s apart stay apart (a real hole)');
});
