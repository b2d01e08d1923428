import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backdate } from '../support/backdate.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { CLI, runCli } from '../support/cli.js';
import { allFrames, MEDIA, megamindClip, tmp } from './media.js';

// A data dir with three catalogued 2 s segments of Megamind.avi (real faces), committed through
// the real segment store, and a config with a privacy mask on the top-left fifth of the frame.
const dir = tmp();
const dataDir = join(dir, 'data');
const T0 = Date.parse('2026-11-20T08:00:00Z');
{
  const catalog = Catalog.open(dataDir);
  for (const [i, start] of [0, 2, 4].entries()) {
    await backdate(dataDir, catalog, megamindClip(dir, 2, start), 'cam1', [T0 + i * 2000], 2000);
  }
  catalog.close();
}
const config = join(dir, 'config.yaml');
writeFileSync(config, ['box:', '  id: box-7', 'storage:', `  path: ${dataDir}`, 'cameras:', '  - id: cam1', '    source:', '      type: test',
  '    privacy_masks:', '      - { x: 0, y: 0, w: 0.2, h: 0.2 }',
  // today's capture masks are burnt into exports too (footage recorded before them holds the area)
  '    capture_masks:', '      - { points: [[1, 0], [1, 0.3], [0.7, 0]] }', ''].join('\n'));
const iso = (ms: number) => new Date(ms).toISOString();

t.test('export: a redacted clip with a signed manifest and an audit entry; tampering is caught', async (t) => {
  mkdirSync(join(dir, 'exports')); // an export goes into a folder that exists (or the data dir's exports/)
  const out = join(dir, 'exports', 'incident.mp4');
  const r = await runCli(['export', '--camera', 'cam1', '--from', iso(T0 + 1000), '--to', iso(T0 + 5000), '--reason', 'case 42', '--requester', 'officer li',
    '--out', out, '--config', config, '--json'], { timeoutMs: 120000 });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /redaction_profile/, 'no per-stage profile unless EDGE_NVR_REDACTION_PROFILE=1 asks for it');
  const res = JSON.parse(r.stdout) as { frames: number; manifest: string };
  t.ok(res.frames >= 90 && res.frames <= 100, `about 4 s of frames (${res.frames})`);
  const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
  t.equal(m.box_id, 'box-7');
  t.match(m.requester, /^unix:\S+ for officer li$/, 'the account that ran it, for whom');
  t.equal(m.sources.length, 3, 'the three segments overlapping the range are the sources');
  t.match(m.sources[0], { path: /^recordings\/cam1\//, sha256: /^[0-9a-f]{64}$/ });
  t.same(m.detectors.map((d: { name: string }) => d.name), ['blazeface', 'ppocr-det']);
  t.ok(m.boxes.face > 0 && m.boxes.mask === 2 * m.frames, 'faces hidden, both masks burnt into every frame');
  t.match(m.public_key, /BEGIN PUBLIC KEY/);
  t.equal((statSync(join(dataDir, 'keys', 'box-ed25519.pem')).mode & 0o777), 0o600, 'the box key is private');

  const frames = await allFrames(out);
  t.equal(frames.length, m.frames);
  const f = frames[10]!;
  let masked = 0;
  for (let y = 0; y < Math.floor(f.height * 0.2); y++) for (let x = 0; x < Math.floor(f.width * 0.2); x++) masked = Math.max(masked, f.data[(y * f.width + x) * 3]!);
  t.ok(masked <= 20, `the privacy mask is black in the output (brightest ${masked})`);
  let triangle = 0;
  for (let y = 1; y < Math.floor(f.height * 0.1); y++) for (let x = Math.ceil(f.width * 0.92); x < f.width - 1; x++) triangle = Math.max(triangle, f.data[(y * f.width + x) * 3]!);
  t.ok(triangle <= 20, `the capture mask, a polygon, is black in the output too (brightest ${triangle})`);

  t.equal((await runCli(['audit', '--manifest', `${out}.manifest.json`, '--config', config])).code, 0, 'manifest verifies');
  const audit = await runCli(['audit', '--verify', '--json', '--config', config]);
  t.equal(audit.code, 0, audit.stderr);
  const log = JSON.parse(audit.stdout);
  t.ok(log.chain.ok);
  t.match(log.entries[0], { action: 'export', actor: 'officer li', reason: 'case 42', destination: out, camera: 'cam1' });
  // the account that ran it, not only the name typed after --requester
  t.match(log.entries[0].actor, /^unix:\S+ for officer li$/);

  // An altered manifest (the reason rewritten) no longer matches its signature.
  const altered = join(dir, 'exports', 'altered.mp4');
  execFileSync('cp', [out, altered]);
  writeFileSync(`${altered}.manifest.json`, JSON.stringify({ ...m, output: { ...m.output, file: 'altered.mp4' }, reason: 'nothing to see' }));
  const bad = await runCli(['audit', '--manifest', `${altered}.manifest.json`, '--config', config]);
  t.equal(bad.code, 1);
  t.match(bad.stdout, /signature does not match/);
  // An altered output no longer matches its hash.
  appendFileSync(out, Buffer.from([0]));
  const bad2 = await runCli(['audit', '--manifest', `${out}.manifest.json`, '--config', config]);
  t.equal(bad2.code, 1);
  t.match(bad2.stdout, /does not match its sha256/);
  // The newest entries removed: the chain walked alone is whole, the box's stored checkpoints
  // are not (audit --verify said "chain OK"); a row altered into unreadable JSON is listed, named
  const cut = join(dir, 'cut-data');
  cpSync(dataDir, cut, { recursive: true });
  const cdb = new Database(join(cut, 'catalog.db'));
  cdb.prepare('DELETE FROM audit_log WHERE id >= (SELECT max(audit_length) FROM checkpoints)').run();
  cdb.prepare("UPDATE audit_log SET details = '{bad' WHERE id = 1").run();
  cdb.close();
  const truncated = await runCli(['audit', '--verify', '--data', cut]);
  t.equal(truncated.code, 1, 'audit --verify: the newest entries removed');
  t.match(truncated.stdout, /audit log truncated: it ends at entry #\d+, local checkpoint #\d+ of \S+ saw #\d+/);
  const listed = await runCli(['audit', '--json', '--data', cut]);
  t.equal(listed.code, 0, listed.stderr);
  t.ok((JSON.parse(listed.stdout) as { entries: Array<{ details: unknown }> }).entries.some((e) => (e.details as { unreadable?: string }).unreadable === '{bad'), 'an unreadable entry is listed as it is');

  // An edited audit entry breaks the chain.
  const db = new Database(join(dataDir, 'catalog.db'));
  db.prepare("UPDATE audit_log SET reason = 'routine' WHERE action = 'export'").run();
  db.close();
  const broken = await runCli(['audit', '--verify', '--config', config]);
  t.equal(broken.code, 1);
  t.match(broken.stdout, /was altered/);
});

t.test('snapshot: the last keyframe of the newest segment, redacted and audited', async (t) => {
  const out = join(dir, 'snap.jpg');
  const r = await runCli(['snapshot', '--camera', 'cam1', '--out', out, '--config', config, '--requester', 'ops']);
  t.equal(r.code, 0, r.stderr);
  t.ok(existsSync(out) && existsSync(`${out}.manifest.json`));
  const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
  t.equal(m.kind, 'snapshot');
  t.equal(m.frames, 1);
  t.equal((await runCli(['audit', '--manifest', `${out}.manifest.json`, '--config', config])).code, 0);
});

t.test('export refuses a source segment whose file no longer matches its hash', async (t) => {
  const catalog = Catalog.open(dataDir);
  const seg = catalog.segments('cam1')[0]!;
  catalog.close();
  appendFileSync(join(dataDir, seg.path), Buffer.from('tampered'));
  const out = join(dir, 'refused.mp4');
  const r = await runCli(['export', '--camera', 'cam1', '--from', iso(T0), '--to', iso(T0 + 3000), '--reason', 'x', '--requester', 'y', '--out', out, '--config', config]);
  t.equal(r.code, 1);
  t.match(r.stderr, /does not match its catalogued sha256/);
  t.notOk(existsSync(out));
  const audit = JSON.parse((await runCli(['audit', '--json', '--config', config])).stdout);
  t.match(audit.entries[0], { action: 'export.refused', destination: out });
});

t.test('an export of a range the box has no recordings of is refused, and registered', async (t) => {
  const out = join(dir, 'nothing.mp4');
  const r = await runCli(['export', '--camera', 'cam1', '--from', iso(T0 - 60_000), '--to', iso(T0 - 30_000), '--reason', 'case 77', '--requester', 'officer k', '--out', out, '--config', config]);
  t.equal(r.code, 2);
  t.match(r.stderr, /no recordings of camera "cam1" between/);
  const audit = JSON.parse((await runCli(['audit', '--json', '--config', config])).stdout);
  t.match(audit.entries[0], { action: 'export.refused', actor: 'officer k', destination: out, details: { error: /no recordings/ } });
});

t.test('usage errors exit 2', async (t) => {
  const r = await runCli(['export', '--camera', 'cam1', '--from', iso(T0), '--to', iso(T0 + 3000), '--out', join(dir, 'x.mp4'), '--config', config]);
  t.equal(r.code, 2);
  t.match(r.stderr, /--reason is required/);
  const r2 = await runCli(['snapshot', '--camera', 'nope', '--out', join(dir, 'n.jpg'), '--config', config]);
  t.equal(r2.code, 2);
  t.match(r2.stderr, /no recordings of camera "nope"/);
  const audit = JSON.parse((await runCli(['audit', '--json', '--config', config])).stdout);
  t.match(audit.entries.find((e: { destination: string }) => e.destination === join(dir, 'n.jpg')), { action: 'snapshot.refused', camera: 'nope', destination: join(dir, 'n.jpg'), details: { error: /no recordings of camera "nope"/ } }, 'a snapshot of footage the box does not have is registered, refused');
});

t.test('redact IN OUT works on files alone, with no config file at all', async (t) => {
  const home = join(dir, 'home');
  const out = join(dir, 'messi-redacted.jpg');
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: '', EDGE_NVR_CONFIG: join(dir, 'no-such-config.yaml') };
  const r = await runCli(['redact', MEDIA.messi, out], { env, timeoutMs: 120000 });
  t.equal(r.code, 0, r.stderr);
  t.ok(existsSync(out) && existsSync(`${out}.manifest.json`), 'the redacted image and its manifest');
  const own = join(home, '.local', 'share', 'edge-nvr');
  t.match(r.stderr, new RegExp(`no config at .*no-such-config\\.yaml: default redaction settings; audit log and box key in ${own}`), 'it says where the audit log went');
  const audit = JSON.parse((await runCli(['audit', '--data', own, '--json'])).stdout) as { entries: Array<{ action: string; destination: string }> };
  t.match(audit.entries[0], { action: 'redact', destination: out }, 'and audits it there');
  const unreadable = await runCli(['snapshot', '--camera', 'cam1', '--out', join(dir, 's.jpg')], { env });
  t.equal(unreadable.code, 2, 'commands on recordings still need the config (or --data)');
  t.match(unreadable.stderr, /no-such-config\.yaml: cannot read the config file/);
});

// SIGHUP: a dropped SSH session; it ended the command at once, its partial file left behind
for (const signal of ['SIGTERM', 'SIGHUP'] as const) t.test(`${signal} cancels a redaction: its processes are killed and nothing half-written is left`, async (t) => {
  const input = megamindClip(dir, 8, 4); // long enough to be stopped while it writes
  const outDir = join(dir, `cancelled-${signal}`);
  mkdirSync(outDir);
  const out = join(outDir, 'megamind.mp4');
  const child = spawn(process.execPath, [CLI, 'redact', input, out, '--data', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += String(d); });
  const exited = new Promise<number | null>((r) => child.once('close', r));
  const end = Date.now() + 180000; // the first pass (detection) writes nothing
  // the output is written in a directory made for it (.megamind.mp4.partial-XXXXXX), then moved to its name
  const writing = () => readdirSync(outDir).filter((f) => f.includes('.partial-')).map((f) => join(outDir, f, 'megamind.mp4'));
  while (!writing().some((f) => existsSync(f) && statSync(f).size > 0)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`no partial output appeared: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill(signal);
  t.equal(await exited, 1, 'the command fails');
  t.match(stderr, `cancelled: ${signal} received; nothing was written`);
  t.same(readdirSync(outDir), [], 'no output, partial file or manifest left');
  const writers = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(outDir); } catch { return false; }
  });
  t.same(writers, [], 'no decoder or encoder left running');
  const audit = JSON.parse((await runCli(['audit', '--json', '--data', dataDir])).stdout) as { entries: Array<{ action: string; details: string }> };
  t.match(audit.entries[0], { action: 'redact.failed' });
});

t.test('a snapshot whose segment no longer matches its hash is refused, and registered', async (t) => {
  const catalog = Catalog.open(dataDir);
  const newest = catalog.lastSegment('cam1')!;
  catalog.close();
  appendFileSync(join(dataDir, newest.path), Buffer.from('tampered'));
  const out = join(dir, 'tampered.jpg');
  const r = await runCli(['snapshot', '--camera', 'cam1', '--out', out, '--config', config, '--requester', 'ops', '--reason', 'check the till']);
  t.equal(r.code, 1);
  t.match(r.stderr, /does not match its catalogued sha256/);
  t.notOk(existsSync(out), 'nothing written');
  const audit = JSON.parse((await runCli(['audit', '--json', '--config', config])).stdout);
  t.match(audit.entries.find((e: { destination: string }) => e.destination === out), { action: 'snapshot.refused', actor: 'ops', camera: 'cam1', from_ms: newest.start_ms, destination: out, details: { error: /does not match its catalogued sha256/ } },
    'the refusal, evidence of tampering, is in the audit log');
});

t.test('an input larger than any camera makes is refused before a pixel is decoded, and registered', async (t) => {
  // a 16000x16000 PNG of 1.8 MB kept a core busy for minutes (an outside probe); one colour keeps this one small
  const big = join(dir, 'huge.png');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=gray:s=9000x64', '-frames:v', '1', big]);
  const out = join(dir, 'huge-redacted.png');
  const r = await runCli(['redact', big, out, '--data', dataDir]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /huge\.png is 9000x64: at most 8192 pixels a side are redacted/);
  t.notOk(existsSync(out), 'nothing written');
  const audit = JSON.parse((await runCli(['audit', '--json', '--data', dataDir])).stdout) as { entries: Array<{ action: string; details: { error?: string } }> };
  t.match(audit.entries[0], { action: 'redact.failed' }, 'the refused attempt is on record');
  t.match(audit.entries[0]?.details.error ?? '', '9000x64');
});
