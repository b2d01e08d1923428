/**
 * Where what leaves the box is written (an outside probe, as a local user): the box writes into a
 * folder it makes beside `--out` and renames it into place. In a folder another user may write to,
 * they renamed the box's folder away and put theirs in its place while ffmpeg wrote: a root-owned
 * file of the box was overwritten through their link, and the box signed their file (an original,
 * unredacted) as its redacted export; evidence bundles of originals landed in a folder of theirs.
 * And `snapshot`/`redact` wrote into the data dir's keys/, `export`/`evidence` into recordings/
 * through a link to the data dir.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { evidenceBox, evidenceRequest } from '../support/evidence-box.js';

/** the evidence box, and a newest segment of cam1 on disk (the box's last one is deleted): what `snapshot` takes */
async function box(dir: string, id: string) {
  return evidenceBox(dir, id, [400_000]);
}

const ROOT = process.getuid?.() === 0;

t.test('a folder another user may write to, or one of theirs, is refused for every output, before anything is written', { skip: !ROOT && 'making a folder of another user needs root' }, async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await box(dir, 'box-out');
  const folder = (name: string, mode: number, uid = 0) => {
    const p = join(dir, name);
    mkdirSync(p);
    chmodSync(p, mode);
    chownSync(p, uid, uid);
    return p;
  };
  const theirs = folder('theirs', 0o755, 65534);
  const open = folder('open', 0o777);
  const groupOpen = folder('group-open', 0o775);
  chownSync(groupOpen, 0, 65534);
  const below = join(theirs, 'sub');
  mkdirSync(below);
  const sticky = folder('sticky', 0o1777);

  const exportTo = (out: string) => runCli(['export', '--data', data, '--camera', 'cam1', '--from', String(t0), '--to', String(t0 + 2000),
    '--reason', 'case 5521 review', '--requester', 'officer', '--out', out]);
  const snapshotTo = (out: string) => runCli(['snapshot', '--data', data, '--camera', 'cam1', '--out', out]);
  const evidenceTo = (out: string) => runCli(evidenceRequest(data, t0, t0 + 120_000, out));
  const cases: Array<[string, string, RegExp]> = [
    ['a folder of nobody\'s', theirs, /the folder \S+theirs belongs to uid 65534: its owner could swap what the box writes there/],
    ['a folder every user may write to', open, /the folder \S+open may be written by other users \(mode 0777, without the sticky bit\)/],
    ['a folder its group (nobody\'s) may write to', groupOpen, /the folder \S+group-open may be written by other users \(mode 0775/],
    ['a folder of root\'s below one of nobody\'s', below, /\S+theirs, a folder above \S+sub, belongs to uid 65534/],
  ];
  for (const [what, where, why] of cases) {
    for (const [command, go, name] of [['export', exportTo, 'x.mp4'], ['snapshot', snapshotTo, 'x.jpg'], ['evidence', evidenceTo, 'bundle']] as const) {
      const r = await go(join(where, name));
      t.equal(r.code, 2, `${command} into ${what}: refused (exit 2)`);
      t.match(r.stderr, why, `${command} into ${what}: says why`);
      t.match(r.stderr, /nothing was written/);
      t.same(readdirSync(where).filter((f) => f !== 'sub'), [], `${command} into ${what}: nothing was written there`);
    }
  }
  const db = new Database(join(data, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT count(*) AS n FROM holds').get(), { n: 0 }, 'no evidence hold was placed for a refused folder');

  // a link to nothing at the manifest's name: refused at once (existsSync followed it: the whole
  // export ran, and failed at its end with EEXIST)
  symlinkSync(join(dir, 'nowhere'), join(sticky, 'y.mp4.manifest.json'));
  const dangling = await exportTo(join(sticky, 'y.mp4'));
  t.equal(dangling.code, 2, 'a dangling link at the manifest\'s name: refused (exit 2)');
  t.match(dangling.stderr, /y\.mp4\.manifest\.json exists; refusing to overwrite it/);
  t.notOk(existsSync(join(sticky, 'y.mp4')), 'and nothing was written');
  rmSync(join(sticky, 'y.mp4.manifest.json'));
  // /tmp's kind: others may write, but nobody renames what is not theirs
  const ok = await exportTo(join(sticky, 'x.mp4'));
  t.equal(ok.code, 0, `export into a sticky folder all may write to: ${ok.stderr}`);
  t.ok(existsSync(join(sticky, 'x.mp4')), 'written');
  // --data without a config: the box's id as the catalog has it (it said "unconfigured")
  t.equal(JSON.parse(readFileSync(join(sticky, 'x.mp4.manifest.json'), 'utf8')).box_id, 'box-out', 'the manifest names the box');
  const bundle = await evidenceTo(join(sticky, 'bundle'));
  t.equal(bundle.code, 0, `evidence into it too: ${bundle.stderr}`);
});

t.test('the data dir is the box\'s own, however it is named: snapshot, redact and export through a link are refused', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await box(dir, 'box-link');
  const link = join(dir, 'dl');
  symlinkSync(data, link);
  const inside: Array<[string, string[]]> = [
    ['snapshot into keys/', ['snapshot', '--data', data, '--camera', 'cam1', '--out', join(data, 'keys', 'y.jpg')]],
    ['snapshot into recordings/', ['snapshot', '--data', data, '--camera', 'cam1', '--out', join(data, 'recordings', 'x.jpg')]],
    ['redact into keys/', ['redact', join(dir, 'clip.mp4'), join(data, 'keys', 'r.mp4'), '--data', data]],
    ['export through a link to the data dir', ['export', '--data', data, '--camera', 'cam1', '--from', String(t0), '--to', String(t0 + 2000),
      '--reason', 'case 5521 review', '--requester', 'officer', '--out', join(link, 'keys', 'z.mp4')]],
    ['evidence through a link to the data dir', evidenceRequest(data, t0, t0 + 120_000, join(link, 'recordings', 'ev'))],
  ];
  const before = readdirSync(join(data, 'keys')).sort();
  for (const [what, args] of inside) {
    const r = await runCli(args);
    t.equal(r.code, 2, `${what}: refused (exit 2)`);
    t.match(r.stderr, /inside the box's data dir .*among its recordings, catalog and keys/, `${what}: says why`);
  }
  t.same(readdirSync(join(data, 'keys')).sort(), before, 'nothing was written beside the key');
  t.notOk(existsSync(join(data, 'recordings', 'ev')), 'no bundle among the recordings');
  const verify = await runCli(['verify', '--data', data]);
  t.notMatch(verify.stdout, /INSERTED/, 'verify finds nothing inserted among the recordings');
  const missing = await runCli(['snapshot', '--data', data, '--camera', 'cam1', '--out', join(dir, 'not-mounted', 'usb', 'x.jpg')]);
  t.equal(missing.code, 2, 'a snapshot into a folder that does not exist (a drive not mounted): refused');
  t.match(missing.stderr, /does not exist \(a drive not mounted\?\)/);
});
