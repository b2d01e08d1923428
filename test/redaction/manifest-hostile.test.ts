/**
 * `edge-nvr audit --manifest` on a platform or a laptop reads manifests that may have been
 * forged or built to hang it (an outside probe, 2026-12-04): a manifest signed by any key read
 * "manifest OK" with no word that the key was never compared; one naming /dev/zero, a FIFO or a
 * file outside its folder as its output hung the check or had that file read; a manifest of
 * `null` ended in "Cannot read properties of null".
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxKey } from '../../common/box-key.js';
import { signManifest, type Manifest } from '../../redaction/manifest.js';

t.test('a forged or hostile export manifest: named, never OK on an unchecked key, never a hang', async (t) => {
  const dir = t.testdir();
  const box = join(dir, 'box-data');
  const forger = join(dir, 'forger-data');
  mkdirSync(box);
  mkdirSync(forger);
  const boxPem = join(dir, 'box.pem');
  writeFileSync(boxPem, boxKey(box).publicPem);
  const outDir = join(dir, 'received');
  mkdirSync(outDir);
  const clip = Buffer.from('not really a clip, but bytes with a hash');
  writeFileSync(join(outDir, 'clip.mp4'), clip);
  const manifest = (signer: string, output: Partial<Manifest['output']>, name = 'clip.mp4') => {
    const m = signManifest({
      schema: 'edge-nvr/manifest/1', kind: 'export', export_id: 'x1', box_id: 'b1', created: new Date().toISOString(), requester: 'r', reason: 'why',
      sources: [], settings: {}, switched_off: [], detectors: [], encoder: 'libx264', frames: 1, blanked_frames: 0, boxes: {}, detections: {},
      output: { file: 'clip.mp4', sha256: createHash('sha256').update(clip).digest('hex'), bytes: clip.length, ...output }, public_key: '',
    }, signer);
    const path = join(outDir, `${name}.manifest.json`);
    writeFileSync(path, JSON.stringify(m));
    return path;
  };
  // --data of an empty folder: no box key at hand (as on a laptop)
  const check = (path: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, [join(process.cwd(), 'dist/daemon/cli.js'), 'audit', '--manifest', path, '--data', join(dir, 'nothing'), ...args], { encoding: 'utf8', timeout: 15_000 });
    return { code: r.status, out: r.stdout + r.stderr, hung: r.signal !== null };
  };

  const genuine = manifest(box, {});
  t.equal(check(genuine, '--key', boxPem).code, 0, 'the box\'s manifest, checked against its key: OK');
  t.match(check(genuine, '--key', boxPem).out, /^manifest OK: signature valid with the box's key/);
  const forged = manifest(forger, {}, 'forged');
  const unkeyed = check(forged);
  t.match(unkeyed.out, /^manifest CONSISTENT, BUT NOT TIED TO A BOX: .*give --key/, 'no key to compare: the first words do not say OK');
  t.notMatch(unkeyed.out, /manifest OK/);
  const keyed = check(forged, '--key', boxPem);
  t.equal(keyed.code, 1, 'a forger\'s manifest against the box key: exit 1');
  t.match(keyed.out, /signed by key \S+, not the box key given/);

  spawnSync('mkfifo', [join(outDir, 'fifo.mp4')]);
  for (const [what, output, says] of [
    ['/dev/zero', { file: '/dev/zero' }, /names its output "\/dev\/zero", not a file beside it/],
    ['a path out of its folder', { file: '../box.pem' }, /names its output "\.\.\/box\.pem", not a file beside it/],
    ['a FIFO beside it', { file: 'fifo.mp4' }, /fifo\.mp4 is not a regular file \(a FIFO in its place\)/],
  ] as const) {
    const r = check(manifest(box, output, what.replace(/\W+/g, '-')), '--key', boxPem);
    t.notOk(r.hung, `${what}: it ends`);
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.out, says, `${what}: named`);
  }
  const nothing = join(outDir, 'null.manifest.json');
  writeFileSync(nothing, 'null');
  const n = check(nothing);
  t.equal(n.code, 1);
  t.match(n.out, /is not an edge-nvr export manifest/, 'a manifest of null: named');
  t.notMatch(n.out, /Cannot read properties/);
  const badKey = check(genuine, '--key', join(outDir, 'clip.mp4'));
  t.equal(badKey.code, 2, '--key that is no key: bad usage');
});
