/**
 * The box's signing key survives a power cut soon after it was made: it is written under a
 * temporary name, fsynced, linked into place and its folder fsynced. Written with a plain
 * writeFileSync, a disk fault 12 s after the first start left it empty (ext4's delayed
 * allocation): no checkpoint could be signed again and verify failed for ever on an honest box,
 * while `edge-nvr checkpoint` kept printing a stale one with exit 0 (an outside probe).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { takeCheckpoint } from '../../recorder/catalog/checkpoint.js';
import { KEY_FILE } from '../../common/box-key.js';
import { runCli } from '../support/cli.js';

t.test('the key is fsynced before it takes its name, and its folder after', async (t) => {
  const data = t.testdir();
  const trace = join(data, 'key.strace');
  const boxKey = new URL('../../dist/common/box-key.js', import.meta.url).href;
  const r = spawnSync('strace', ['-f', '-qq', '-y', '-e', 'trace=openat,fsync,fdatasync,link,linkat,rename,renameat,renameat2', '-o', trace,
    process.execPath, '--input-type=module', '-e', `import { boxKey } from ${JSON.stringify(boxKey)}; boxKey(${JSON.stringify(data)});`], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.equal(r.status, 0, r.stderr);
  const lines = readFileSync(trace, 'utf8').split('\n');
  const key = join(data, KEY_FILE);
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const fileSynced = at(new RegExp(`fsync\\(\\d+<${esc(join(data, 'keys'))}/\\.box-ed25519\\.pem\\.\\d+\\.tmp>`));
  const linked = at(new RegExp(`link(at)?\\(.*box-ed25519\\.pem\\.\\d+\\.tmp.*"${esc(key)}"`));
  const dirSynced = lines.findIndex((l, i) => i > linked && new RegExp(`fsync\\(\\d+<${esc(join(data, 'keys'))}>\\)`).test(l));
  t.ok(fileSynced >= 0, 'the key\'s bytes are fsynced');
  t.ok(linked > fileSynced, 'before the key takes its name (a link: never over a key another process made)');
  t.ok(dirSynced > linked, 'and the keys folder is fsynced after');
  t.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/, 'the key is there, whole');
});

t.test('checkpoint cannot sign (an empty key): it prints the newest stored one, names the chains that moved past it, and exits 1', async (t) => {
  const data = t.testdir();
  const catalog = Catalog.open(data);
  const stored = takeCheckpoint(catalog, data, 'box-1', 'start');
  appendAudit(catalog, { actor: 'test', action: 'tick' });
  catalog.close();
  writeFileSync(join(data, KEY_FILE), '');
  const r = await runCli(['checkpoint', '--data', data]);
  t.equal(r.code, 1, 'exit 1: what it prints is not an anchor of the chains as they are');
  t.equal(r.stdout, `${stored.line}\n`, 'the stored one, byte for byte');
  t.match(r.stderr, /cannot sign a new checkpoint .*printing the newest stored one .*which the audit chain\(s\) moved past/);
});
