/**
 * `sudo edge-nvr evidence|export ... --out <data>/exports/...` (an outside probe, 2026-12-04): root
 * made `exports/` root-owned, and the service user could then neither write its MQTT exports and
 * snapshots there nor delete expired bundles. What such a command makes inside the data dir is
 * handed to the data dir's owner; outside it, nothing changes.
 */
import t from 'tap';
import { chownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { evidenceBox, evidenceRequest } from '../support/evidence-box.js';
import { NEEDS_ROOT } from '../support/tmpfs.js';

const SERVICE = 65534; // nobody: the data dir's owner, as the service user owns /var/lib/edge-nvr

t.test('outputs root writes into the data dir belong to the data dir\'s owner', { skip: NEEDS_ROOT }, async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await evidenceBox(dir, 'box-owner');
  const chownTree = (p: string) => {
    chownSync(p, SERVICE, SERVICE);
    if (lstatSync(p).isDirectory()) for (const n of readdirSync(p)) chownTree(join(p, n));
  };
  chownTree(data);
  const ev = await runCli(evidenceRequest(data, t0 - 1000, t0 + 400_000, join(data, 'exports', 'case-1')), { timeoutMs: 60000 });
  t.equal(ev.code, 0, ev.stderr);
  const owners = (p: string): number[] => [lstatSync(p).uid, ...(lstatSync(p).isDirectory() ? readdirSync(p).flatMap((n) => owners(join(p, n))) : [])];
  t.same([...new Set(owners(join(data, 'exports')))], [SERVICE], 'exports/, the bundle and every file in it: the service user\'s');
  const exp = await runCli(['export', '--data', data, '--camera', 'cam1', '--from', String(t0), '--to', String(t0 + 20_000), '--reason', 'a test', '--requester', 'root at the console', '--out', join(data, 'exports', 'clip.mp4')], { timeoutMs: 180000 });
  t.equal(exp.code, 0, exp.stderr);
  t.same([lstatSync(join(data, 'exports', 'clip.mp4')).uid, lstatSync(join(data, 'exports', 'clip.mp4.manifest.json')).uid], [SERVICE, SERVICE], 'an export and its manifest too');
  const outside = join(dir, 'usb-case');
  t.equal((await runCli(evidenceRequest(data, t0 - 1000, t0 + 400_000, outside), { timeoutMs: 60000 })).code, 0);
  t.equal(lstatSync(outside).uid, 0, 'outside the data dir, root\'s stays root\'s');
});
