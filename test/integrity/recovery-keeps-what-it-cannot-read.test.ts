/**
 * Crash recovery never deletes a file because a probe failed or timed out: with an ffprobe that
 * hangs, the segment a kill -9 left in staging is moved to quarantine/ with its hash, chained in
 * the ledger and reported; only a file proven empty goes. Nothing recorded is lost.
 */
import t, { type Test } from 'tap';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sha256File } from '../../common/file-hash.js';
import { RECORDED_PROBE_TIMEOUT_MS as PROBE_TIMEOUT_MS } from '../../common/media-probe.js';
import { recordingCamera, until, sleep, writeConfig } from '../support/daemon.js';
import { DaemonProcess } from '../support/daemon.js';
import { runCli } from '../support/cli.js';

/** Pseudo-random bytes from a fixed seed: no container ffprobe knows. */
function notMedia(bytes: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < bytes; i++) parts.push(createHash('sha256').update(`edge-nvr not media ${i}`).digest());
  return Buffer.concat(parts).subarray(0, bytes);
}

t.test('a probe that hangs during recovery quarantines the staged segment instead of deleting it', async (t) => {
  const { daemon, dir, config, dataDir } = await recordingCamera(t);
  const staging = join(dataDir, 'recordings/cam1/.staging');
  await until(() => readdirSync(staging).some((f) => statSync(join(staging, f)).size > 50_000), 20000, 'an open segment with media');
  await daemon.stop('SIGKILL');
  await sleep(1000);
  const left = readdirSync(staging).filter((f) => f.endsWith('.mp4'));
  t.ok(left.length >= 1, `the kill left ${left.join(', ')} in staging`);
  const hashes = new Map(await Promise.all(left.map(async (f) => [f, await sha256File(join(staging, f))] as const)));
  // and a file a run left before its first byte: proven empty, it may go
  const empty = `${Date.now() - 5000}-000000.mp4`;
  writeFileSync(join(staging, empty), '');

  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ffprobe'), '#!/bin/sh\nexec sleep 600\n');
  chmodSync(join(bin, 'ffprobe'), 0o755);
  const second = new DaemonProcess(config, ['run'], { PATH: `${bin}:${process.env.PATH}` }).start();
  t.teardown(() => { second.proc?.kill('SIGKILL'); });
  await second.waitForLog(/kept in quarantine, not deleted/, PROBE_TIMEOUT_MS * left.length + 30000);
  await second.waitForLog(/edge-nvr running/, PROBE_TIMEOUT_MS * left.length + 30000);
  t.equal((await second.stop()).code, 0);

  const quarantine = join(dataDir, 'quarantine/cam1');
  const kept = readdirSync(quarantine);
  t.same(kept.sort(), [...left].sort(), 'every staged file ffprobe could not read is in quarantine/, under its own name');
  for (const f of kept) t.equal(await sha256File(join(quarantine, f)), hashes.get(f), `${f} is byte for byte what the crash left`);
  t.notOk(existsSync(join(staging, empty)), 'the empty file, proven to hold nothing, is gone');

  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const entries = (db.prepare("SELECT data FROM ledger WHERE kind = 'quarantined'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { file: string; sha256: string; reason: string });
  t.same(entries.map((e) => e.file).sort(), kept.map((f) => `quarantine/cam1/${f}`).sort(), 'each one is chained in the ledger');
  t.match(entries[0]!.reason, /did not finish within/, 'with why: the probe timed out');
  const events = db.prepare("SELECT data FROM events WHERE type = 'segment_quarantined'").all();
  t.equal(events.length, kept.length, 'and reported as an event');

  const verified = await runCli(['verify', '--data', dataDir]);
  t.equal(verified.code, 0, `verify accounts for the quarantined files:\n${verified.stdout}`);
  t.match(verified.stdout, new RegExp(`quarantined quarantine/cam1/${kept[0]!.replace('.', '\\.')} .*did not finish`), 'and lists them');
  writeFileSync(join(quarantine, kept[0]!), 'changed');
  const tampered = await runCli(['verify', '--data', dataDir]);
  t.equal(tampered.code, 1, 'a quarantined file changed afterwards fails verify');
  t.match(tampered.stdout, /QUARANTINE quarantine\/cam1\/.*changed since recovery set it aside/);
});

/**
 * A daemon started on a camera it never reaches, with `write` putting one file in its staging
 * dir: recovery alone looks at it. Waits until it is set aside, stops the daemon, and checks the
 * quarantined copy byte for byte; returns the file's name, the catalog and the quarantine
 * entries' reasons and files.
 */
async function quarantinedAtStart(t: Test, write: (path: string) => void) {
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none' }]);
  const staging = join(dir, 'data/recordings/cam1/.staging');
  mkdirSync(staging, { recursive: true });
  const name = `${Date.now() - 60_000}-000000.mp4`;
  write(join(staging, name));
  const hash = await sha256File(join(staging, name));
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/kept in quarantine, not deleted/, 30000);
  t.equal((await daemon.stop()).code, 0);
  t.equal(await sha256File(join(dir, 'data/quarantine/cam1', name)), hash, 'in quarantine/, byte for byte');
  const db = new Database(join(dir, 'data', 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  const entries = (db.prepare("SELECT data FROM ledger WHERE kind = 'quarantined'").all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as { file: string; reason: string });
  return { name, db, entries };
}

t.test('a staged file ffprobe fails on (bytes that are no media) is quarantined with ffprobe\'s words, not deleted', async (t) => {
  // bytes ffprobe fails on, the same every run (random ones it read as H.263 video or as text,
  // one run in about 70: the next test)
  const { name, entries } = await quarantinedAtStart(t, (path) => writeFileSync(path, notMedia(100_000)));
  t.same(entries.map((e) => e.file), [`quarantine/cam1/${name}`], 'chained in the ledger');
  t.match(entries[0]!.reason, /Invalid data found when processing input/, 'with why: what ffprobe said');
});

t.test('a staged file ffprobe reads as something other than an MP4 (a video in MPEG-TS) is quarantined, neither indexed as a recording nor deleted', async (t) => {
  // H.264 video ffprobe reads fine, in a container the recorders never write; random bytes
  // ffprobe read as raw H.263 "video" were indexed the same way, and ones it read as text deleted
  const { db, entries } = await quarantinedAtStart(t, (path) => {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=10', '-t', '2', '-c:v', 'libx264', '-f', 'mpegts', path]);
  });
  t.equal((db.prepare("SELECT count(*) FROM segments WHERE camera = 'cam1'").pluck().get() as number), 0, 'no segment row for it');
  t.match(entries.map((e) => e.reason), [/^not an MP4 as the recorders write \(ffprobe reads it as mpegts\)$/], 'chained in the ledger, with why');
});
