/**
 * What an outside probe of the CLI did on 2026-12-04, as root on a box another user shares:
 * a segment replaced by a link to /dev/zero made `evidence` write without end (1.1 GB in 4 s), a
 * FIFO in a segment's place hung `verify` and `evidence` for ever, a directory there stopped
 * `verify` with a bare EISDIR; and a guessable temp name (the pid) beside `--out` let another
 * user plant links (snapshot and export overwrote a root-owned file through one) or a directory
 * of theirs (the bundle of originals was built in it).
 */
import t from 'tap';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { evidenceBox, evidenceRequest } from '../support/evidence-box.js';

t.test('a link, a FIFO or a directory in a segment\'s place: named, never followed or read', async (t) => {
  const dir = t.testdir();
  const { data, t0, segments } = await evidenceBox(dir, 'box-hostile');
  const [first, second, third] = segments as [typeof segments[0], typeof segments[0], typeof segments[0]];
  rmSync(join(data, first.path));
  symlinkSync('/dev/zero', join(data, first.path));
  rmSync(join(data, second.path));
  execFileSync('mkfifo', [join(data, second.path)]);
  rmSync(join(data, third.path));
  mkdirSync(join(data, third.path));

  const verify = await runCli(['verify', '--data', data, '--json'], { timeoutMs: 30000 });
  t.equal(verify.code, 1, verify.stderr);
  const findings = (JSON.parse(verify.stdout) as { findings: Array<{ kind: string; segment?: number; detail: string }> }).findings;
  t.match(findings.filter((f) => f.kind === 'modified').map((f) => [f.segment, f.detail]), [
    [first.id, 'a symbolic link in the segment\'s place, not the recorded file'],
    [second.id, 'a FIFO in the segment\'s place, not the recorded file'],
    [third.id, 'a directory in the segment\'s place, not the recorded file'],
  ], 'verify names each, and carries on');

  // a redacted export of that range is refused, naming the segment, like an altered one
  const exp = await runCli(['export', '--data', data, '--camera', 'cam1', '--from', String(t0), '--to', String(t0 + 30_000), '--reason', 'a test', '--requester', 'probe test', '--out', join(dir, 'export.mp4')], { timeoutMs: 60000 });
  t.equal(exp.code, 1, exp.stderr);
  t.match(exp.stderr, `${first.path} is not a regular file (a symbolic link in its place)`, 'export refuses the linked segment, naming it');
  t.notOk(existsSync(join(dir, 'export.mp4')), 'and writes nothing');

  const out = join(dir, 'bundle');
  const ev = await runCli(evidenceRequest(data, t0 - 1000, t0 + 400_000, out), { timeoutMs: 60000 });
  t.equal(ev.code, 0, ev.stderr);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { unavailable: Array<{ segment?: number; why: string; detail: string }> };
  const altered = manifest.unavailable.filter((u) => u.why === 'altered_on_box');
  t.same(altered.map((u) => u.segment).sort(), [first.id, second.id, third.id].sort(), 'evidence lists the three as altered on the box, and exports the rest');
  t.ok(readdirSync(join(out, 'segments')).every((f) => statSync(join(out, 'segments', f)).size < 10_000_000), 'nothing endless was copied');
  const check = await runCli(['verify-evidence', out], { timeoutMs: 60000 });
  t.equal(check.code, 0, `the bundle verifies${check.code === 0 ? '' : `: ${check.stdout.slice(-2000)}${check.stderr}`}`);
});

t.test('links planted at every pid-named temp path: the export goes only to its own name, no file is overwritten, the bundle is the box\'s own', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await evidenceBox(dir, 'box-planted');
  const share = join(dir, 'share');
  mkdirSync(share);
  // a folder others may write in, as /tmp (one without the sticky bit is refused: test/evidence/output-folders.test.ts)
  chmodSync(share, 0o1777);
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'keep me\n', { mode: 0o600 });
  // what the old names were: .<out>.<pid>.partial and .<name>.partial-<pid>, for every pid up to
  // 40 000 (all of them where pid_max is 32768, as on the build machine)
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = 1; pid <= Math.min(pidMax, 40_000); pid++) {
    symlinkSync(victim, join(share, `.clip.mp4.${pid}.partial`));
    symlinkSync('/tmp', join(share, `.case.partial-${pid}`));
  }
  const exp = await runCli(['export', '--data', data, '--camera', 'cam1', '--from', String(t0), '--to', String(t0 + 30_000), '--reason', 'a test', '--requester', 'probe test', '--out', join(share, 'clip.mp4')], { timeoutMs: 180000 });
  t.equal(exp.code, 0, exp.stderr);
  t.equal(readFileSync(victim, 'utf8'), 'keep me\n', 'the file the links point at is untouched');
  t.ok(statSync(join(share, 'clip.mp4')).isFile() && statSync(join(share, 'clip.mp4')).size > 1000, 'the export is at its own name');
  const ev = await runCli(evidenceRequest(data, t0 - 1000, t0 + 400_000, join(share, 'case')), { timeoutMs: 60000 });
  t.equal(ev.code, 0, ev.stderr);
  const bundle = lstatSync(join(share, 'case'));
  t.ok(bundle.isDirectory() && !bundle.isSymbolicLink() && existsSync(join(share, 'case', 'manifest.json')), 'the bundle is a directory of its own where asked, not a planted link');
  t.notOk(existsSync('/tmp/segments') && statSync('/tmp/segments').mtimeMs > Date.now() - 120_000, 'nothing was written through a planted link');
  t.same(readdirSync(share).filter((f) => f.startsWith('.') && !f.endsWith('.partial') && !/\.partial-\d+$/.test(f)), [], 'no temp directory of theirs or ours is left');
});

t.test('two evidence runs given the same --out at once: one bundle, the other told plainly', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await evidenceBox(dir, 'box-twice');
  const out = join(dir, 'case');
  const [a, b] = await Promise.all([0, 1].map(() => runCli(evidenceRequest(data, t0 - 1000, t0 + 400_000, out), { timeoutMs: 60000 })));
  const lost = a!.code === 0 ? b! : a!;
  t.ok([a!.code, b!.code].includes(0) && lost.code !== 0, 'one of them made the bundle');
  t.match(lost.stderr, /appeared while this bundle was written \(another export given the same --out\?\); this one was not kept|exists; refusing to overwrite it/, lost.stderr);
  t.notMatch(lost.stderr, /ENOTEMPTY/, 'no raw error');
  t.equal((await runCli(['verify-evidence', out])).code, 0, 'the bundle there verifies');
  t.same(readdirSync(dir).filter((f) => f.includes('.partial')), [], 'no partial directory left');
});
