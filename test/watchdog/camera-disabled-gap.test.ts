/**
 * docs/watchdog.md, `camera_disabled`: a camera the config stops recording (removed from it, or
 * `enabled: false`), by a reload or across a restart, has its time out on record as a gap of its
 * own, from where it stopped to where it records again. Before, a camera taken out by a reload
 * and put back left a hole no gap explained, and one put back after a restart had its time out
 * called `daemon_stopped`, though the daemon ran.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig, type TestCameraEntry } from '../support/daemon.js';

interface Gap { id: number; cause: string; start_ms: number; end_ms: number | null; detail: string | null }
interface Segment { start_ms: number; end_ms: number }

t.test('a camera removed or disabled by a reload, or left disabled across a restart: its time out is a camera_disabled gap, closed when it records again', async (t) => {
  const sim = await new CameraSim({ mounts: ['a', 'b'] }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const data = join(dir, 'data');
  const a: TestCameraEntry = { id: 'a', url: sim.url('a') };
  const b: TestCameraEntry = { id: 'b', url: sim.url('b') };
  const config = writeConfig(dir, [a, b]);
  const db = () => new Database(join(data, 'catalog.db'), { readonly: true });
  const read = <T>(sql: string): T[] => {
    const conn = db();
    try {
      return conn.prepare(sql).all('b') as T[];
    } finally {
      conn.close();
    }
  };
  const gaps = () => read<Gap>('SELECT id, cause, start_ms, end_ms, detail FROM gaps WHERE camera = ? ORDER BY id');
  const segments = () => read<Segment>("SELECT start_ms, end_ms FROM segments WHERE camera = ? AND state = 'ok' ORDER BY start_ms");
  const reload = async (cameras: TestCameraEntry[]) => {
    writeConfig(dir, cameras);
    const r = await runCli(['reload', '--config', config]);
    t.equal(r.code, 0, `reload accepted: ${r.stdout}${r.stderr}`);
  };
  /** waits for b's next segment after the ones it has, and for the gap it closes (its row goes in first) */
  const recordsAgain = async () => {
    const had = segments().length;
    await until(() => segments().length > had && gaps().every((g) => g.end_ms !== null), 30_000, 'a new segment of b, and no gap of b open');
  };

  let daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(segmentIndexed('b'));

  // removed by a reload: a gap from b's last segment, open while it is out
  await reload([a]);
  const removed = gaps().at(-1);
  t.match(removed, { cause: 'camera_disabled', end_ms: null, detail: /^removed from the config, by a reload/ }, 'removed: a camera_disabled gap opens');
  t.equal(removed?.start_ms, segments().at(-1)!.end_ms, 'where its last segment ended');

  // put back by a reload: the gap closes where it records again
  await reload([a, b]);
  await recordsAgain();
  const back = gaps().find((g) => g.id === removed!.id)!;
  const firstAfter = segments().find((s) => s.start_ms >= removed!.start_ms)!;
  t.equal(back.end_ms, firstAfter.start_ms, 'put back: the gap ends where the camera records again');

  // disabled by a reload, then left so across a restart: one gap, its cause the config's throughout
  await reload([a, { ...b, enabled: false }]);
  const disabled = gaps().at(-1)!;
  t.match(disabled, { cause: 'camera_disabled', end_ms: null, detail: /^disabled in the config \(enabled: false\), by a reload/ }, 'disabled: a camera_disabled gap opens');
  t.equal((await daemon.stop()).code, 0);
  daemon = new DaemonProcess(config).start();
  await daemon.waitForLog(segmentIndexed('a'));
  t.same(gaps().at(-1), disabled, 'a restart with b still disabled leaves its gap as it is: no daemon_stopped for a camera nothing was to record');

  // enabled again with a restart: the config's gap ends at the daemon's last sign of life, the daemon's begins there
  t.equal((await daemon.stop()).code, 0);
  writeConfig(dir, [a, b]);
  daemon = new DaemonProcess(config).start();
  await recordsAgain();
  const [wasDisabled, daemonGap] = gaps().filter((g) => g.id >= disabled.id);
  t.match(wasDisabled, { cause: 'camera_disabled' }, 'the camera_disabled gap is closed');
  t.match(daemonGap, { cause: 'daemon_stopped', start_ms: wasDisabled!.end_ms }, 'and the daemon_stopped gap starts where it ended');
  t.ok(daemonGap!.end_ms !== null, 'which the new segment closed');

  // removed from the config while the daemon was stopped: the daemon's gap until the start, the config's from there
  t.equal((await daemon.stop()).code, 0);
  writeConfig(dir, [a]);
  daemon = new DaemonProcess(config).start();
  await daemon.waitForLog(segmentIndexed('a'));
  const [whileDown, removedMeanwhile] = gaps().filter((g) => g.id > daemonGap!.id);
  t.match(whileDown, { cause: 'daemon_stopped', start_ms: segments().at(-1)!.end_ms }, 'removed while down: the daemon_stopped gap from its last segment');
  t.match(removedMeanwhile, { cause: 'camera_disabled', start_ms: whileDown!.end_ms, end_ms: null, detail: 'removed from the config, seen at start-up' }, 'then camera_disabled from the start, open');

  // every hole between b's segments is a gap's, and no segment lies in one
  const rows = segments();
  const all = gaps();
  const holes = rows.slice(1).map((r, i) => ({ from: rows[i]!.end_ms, to: r.start_ms })).filter((h) => h.to - h.from > 1000);
  /** gaps following one another (the config's, then the daemon's) cover a hole together */
  const covered = (h: { from: number; to: number }) => {
    let at = h.from;
    for (const g of [...all].sort((x, y) => x.start_ms - y.start_ms)) if (g.start_ms <= at + 1000) at = Math.max(at, g.end_ms ?? Infinity);
    return at >= h.to - 1000;
  };
  t.same(holes.filter((h) => !covered(h)), [], `every hole is covered by gaps: ${JSON.stringify(holes)}`, { gaps: all, segments: rows });
  t.same(rows.filter((r) => all.some((g) => Math.min(r.end_ms, g.end_ms ?? Infinity) - Math.max(r.start_ms, g.start_ms) > 0)), [], 'no segment inside a gap');
  t.equal((await daemon.stop()).code, 0);
  const verify = await runCli(['verify', '--data', data]);
  t.equal(verify.code, 0, verify.stdout.slice(-1500));
});
