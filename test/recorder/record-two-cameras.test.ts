import t from 'tap';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until, writeConfig } from '../support/daemon.js';
import { probe } from '../support/media.js';

const PASSWORD = 'Pa55-w0rd-never-logged';

const BACKENDS = ['ffmpeg', 'gstreamer'] as const;

// one daemon records two cameras with each backend at once (one simulator, four mounts): every
// check below is made per camera, so each backend proves on its own what it proved alone
t.test('the daemon records two real RTSP cameras with the ffmpeg backend and two with the gstreamer backend', async (t) => {
  const cameras = BACKENDS.flatMap((backend) => ['front', 'back'].map((side) => ({ id: `${side}-${backend}`, backend })));
  const sim = await new CameraSim({ mounts: cameras.map((c) => c.id), user: 'viewer', password: PASSWORD }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const passwordFile = join(dir, 'camera.secret');
  writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
  const config = writeConfig(dir, cameras.map((c) => ({
    id: c.id, url: sim.url(c.id, false), username: 'viewer', passwordFile, backend: c.backend,
  })));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  // three segments of each camera indexed while running (the stop finalises a fourth)
  await until(() => sim.mounts.every((m) => daemon.countLog(segmentIndexed(m)) >= 3), 40_000, 'three segments of each camera');
  const stoppedAt = Date.now();
  const { code } = await daemon.stop('SIGTERM');
  t.equal(code, 0, 'SIGTERM finalises open segments and exits 0');

  const dataDir = join(dir, 'data');
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal', 'the catalog is in WAL mode');
  for (const { id: camera, backend } of cameras) {
    const rows = db.prepare('SELECT * FROM segments WHERE camera = ? ORDER BY start_ms').all(camera) as Array<{
      path: string; sha256: string; bytes: number; start_ms: number; end_ms: number; state: string;
    }>;
    t.ok(rows.length >= 3, `${camera} (${backend}): ${rows.length} segments catalogued`);
    for (const [i, row] of rows.entries()) {
      const file = join(dataDir, row.path);
      const bytes = readFileSync(file);
      t.equal(createHash('sha256').update(bytes).digest('hex'), row.sha256, `${row.path}: the file hashes to its row`);
      t.equal(bytes.length, row.bytes, `${row.path}: size matches`);
      const utc = new Date(row.start_ms).toISOString();
      t.equal(row.path, `recordings/${camera}/${utc.slice(0, 10)}/${utc.slice(11, 13)}/${row.start_ms}.mp4`, 'laid out as README.md says: its start\'s UTC day and hour, named by its start in ms');
      const media = probe(file);
      t.equal(media.codec, 'h264', `${row.path} is H.264, stream-copied`);
      t.ok(media.frames > 0, `${row.path} plays: ${media.frames} frames`);
      t.ok(row.end_ms > row.start_ms, 'a segment ends after it starts');
      if (i > 0) t.ok(Math.abs(row.start_ms - rows[i - 1].end_ms) < 1000, `${camera}: segment ${i} follows the one before without a gap (${rows[i - 1].start_ms}-${rows[i - 1].end_ms}, then ${row.start_ms}-${row.end_ms})`);
    }
    // against the stop, not now: checking the first camera's files takes long on a loaded machine
    t.ok(Math.abs(rows.at(-1)!.end_ms - stoppedAt) < 15000, `times are wall-clock times: the last segment ends ${rows.at(-1)!.end_ms - stoppedAt} ms from the stop`);

    const listed = await runCli(['recordings', '--config', config, '--camera', camera, '--json']);
    t.equal(listed.code, 0);
    t.equal(JSON.parse(listed.stdout).segments.length, rows.length, '`recordings` lists every catalogued segment');
  }

  const verified = await runCli(['verify', '--config', config]);
  t.equal(verified.code, 0, `verify passes:\n${verified.stdout}${verified.stderr}`);
  t.match(verified.stdout, /^OK: /m);

  t.notMatch(daemon.output, PASSWORD, 'the camera password never reaches the log');
  t.match(daemon.output, /rtsp:\/\/(\*\*\*@)?127\.0\.0\.1/, 'the log does name the camera, without credentials');
});
