/**
 * A bundle is evidence that passes through hands that may want it to lie: the verifier reads it
 * as hostile input. Whatever is put in its place (a FIFO or a link to /dev/zero for a segment, a
 * symbolic link out of the folder, a directory for a file, JSON of the wrong shape, a forged
 * manifest pointing outside the bundle, a file name with a newline), the built verifier ends,
 * exits 1 naming what is wrong in its report, never prints a stack trace, never reads outside
 * the bundle, and keeps the report's lines its own. Bad usage is exit 2, in one line.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { boxKey, boxPublicKey } from '../../common/box-key.js';
import { signBody } from '../../evidence/bundle-format.js';
import { evidenceBox as box, evidenceRequest as request } from '../support/evidence-box.js';
import { runCli } from '../support/cli.js';

const STANDALONE = fileURLToPath(new URL('../../dist/evidence/verify-cli.js', import.meta.url)).replace('/dist/dist/', '/dist/');

t.test('a hostile bundle ends in a named failure: no hang, no stack trace, nothing read outside it', async (t) => {
  const dir = t.testdir();
  const { data, t0 } = await box(dir, 'box-a');
  const pem = join(dir, 'box-a.pem');
  writeFileSync(pem, boxPublicKey(data)!);
  const bundle = join(dir, 'bundle');
  const made = await runCli(request(data, t0 - 30_000, t0 + 400_000, bundle));
  t.equal(made.code, 0, made.stderr);
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { segments: Array<{ id: number; file: string }> } & Record<string, unknown>;
  const seg = manifest.segments[1]!;

  const copy = join(dir, 'hostile');
  const fresh = () => { rmSync(copy, { recursive: true, force: true }); cpSync(bundle, copy, { recursive: true }); return copy; };
  const editManifest = (edit: (m: Record<string, unknown> & { segments: Array<Record<string, unknown> | null> }) => void) => {
    const m = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8'));
    edit(m);
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify(m, null, 2));
  };
  // the standalone verifier (what a laptop runs), with a deadline: a hang is a failure of its own
  const verify = (args: string[]) => {
    const r = spawnSync(process.execPath, [STANDALONE, ...args], { encoding: 'utf8', timeout: 15_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, hung: r.signal !== null };
  };
  const fails = (what: string, says: RegExp, args: string[] = ['--key', pem]) => {
    const r = verify([copy, ...args]);
    t.notOk(r.hung, `${what}: it ends`);
    t.equal(r.code, 1, `${what}: exit 1 (${r.stderr.trim().split('\n')[0] ?? ''})`);
    t.match(r.stdout, /NOT VERIFIED/, `${what}: not verified`);
    t.match(r.stdout, says, `${what}: named`);
    t.notMatch(r.stdout + r.stderr, /\n\s+at |TypeError|Cannot read properties|is not iterable|Invalid time value/, `${what}: no crash, no stack trace`);
  };

  t.equal(verify([bundle, '--key', pem]).code, 0, 'the honest bundle verifies');

  fresh();
  rmSync(join(copy, seg.file));
  spawnSync('mkfifo', [join(copy, seg.file)]);
  fails('a FIFO in place of a segment', new RegExp(`${seg.file} is not a regular file`));

  fresh();
  rmSync(join(copy, seg.file));
  symlinkSync('/dev/zero', join(copy, seg.file));
  fails('a link to /dev/zero in place of a segment', new RegExp(`${seg.file} is a symbolic link`));

  fresh();
  rmSync(join(copy, seg.file));
  mkdirSync(join(copy, seg.file));
  fails('a directory in place of a segment', new RegExp(`${seg.file} is a directory, not a file`));

  // the same bytes, but outside the folder: a copy of the bundle would not hold them
  fresh();
  renameSync(join(copy, 'segments'), join(dir, 'segments-elsewhere'));
  symlinkSync(join(dir, 'segments-elsewhere'), join(copy, 'segments'));
  fails('the segments folder a link out of the bundle', /segments is a symbolic link/);
  rmSync(join(dir, 'segments-elsewhere'), { recursive: true, force: true });

  fresh();
  rmSync(join(copy, 'manifest.json'));
  spawnSync('mkfifo', [join(copy, 'manifest.json')]);
  fails('a FIFO for the manifest', /manifest.json is not a regular file/);

  fresh();
  rmSync(join(copy, 'checkpoint.json'));
  spawnSync('mkfifo', [join(copy, 'checkpoint.json')]);
  fails('a FIFO for the checkpoint', /checkpoint.json is not a regular file/);

  // JSON made to exhaust memory: 240 MB of `{},` parsed into 6.5 GB and died after 8 minutes;
  // 3.6 MB of it is refused by the same rule, from its bytes, before it is parsed
  fresh();
  writeFileSync(join(copy, 'manifest.json'), '{"schema":"edge-nvr/evidence@1","x":[' + '{},'.repeat(1_200_000) + '{}]}');
  fails('a manifest of a million empty objects', /manifest\.json cannot be read: 1200003 objects and arrays in \d+ bytes, denser than any file a box writes/);
  fresh();
  writeFileSync(join(copy, 'proof/segments.json'), '[' + '[],'.repeat(1_100_000) + '[]]');
  fails('a chain proof of a million empty arrays', /proof\/segments\.json (does not match its sha256|cannot be read: 1100002 objects and arrays)/);

  // a chain proof of one row repeated: each repeat was a line of the report (an outside probe's was
  // 1.46 million lines, 77 MB); 20 lines of a kind, then how many more
  fresh();
  const proofOf = JSON.parse(readFileSync(join(copy, 'proof/segments.json'), 'utf8')) as { rows: unknown[] };
  writeFileSync(join(copy, 'proof/segments.json'), JSON.stringify({ ...proofOf, rows: Array.from({ length: 200 }, () => proofOf.rows[0]) }));
  fails('a chain proof of one row 200 times', /and \d+ more of the same kind/);
  const listed = verify([copy, '--key', pem]).stdout.split('\n').filter((l) => /is missing from the proof/.test(l)).length;
  t.ok(listed <= 20, `${listed} lines name a missing row, not 199`);

  // JSON of the wrong shape: altered files are named, and nothing crashes on them
  for (const [file, text] of [['proof/segments.json', '{}'], ['proof/segments.json', '{"rows":[null]}'], ['proof/ledger.json', '{}'],
    ['proof/audit.json', '{"rows":5}'], ['catalog/segments.json', '{"a":1}'], ['catalog/segments.json', '[null]']] as const) {
    fresh();
    writeFileSync(join(copy, file), text);
    fails(`${file} replaced by ${text}`, new RegExp(`${file} does not match its sha256`));
  }
  for (const [what, edit] of [
    ['a null segment', (m: { segments: unknown[] }) => { m.segments = [null]; }],
    ['a null file', (m: { files?: unknown[] }) => { m.files!.push(null); }],
    ['no request', (m: { request?: unknown }) => { delete m.request; }],
    ['a time past year 275760', (m: { from_ms?: unknown }) => { m.from_ms = 1e20; }],
    ['ledger_entries not a list', (m: { ledger_entries?: unknown }) => { m.ledger_entries = 5; }],
  ] as const) {
    fresh();
    editManifest(edit as (m: unknown) => void);
    fails(`a manifest with ${what}`, /manifest.json is not an edge-nvr evidence manifest/);
  }

  // a manifest edited to point a segment outside the bundle (here at a FIFO, which would hang a read)
  fresh();
  spawnSync('mkfifo', [join(dir, 'outside-fifo')]);
  editManifest((m) => { (m.segments[0] as { file: string }).file = `${'../'.repeat(20)}${dir.slice(1)}/outside-fifo`; });
  fails('a segment file outside the bundle', /manifest signature does not hold[\s\S]*segment #\d+: its file .* is not a file listed in the manifest/);

  // a file name cannot add lines of its own to the report
  fresh();
  writeFileSync(join(copy, 'segments', 'x\n\nPROVEN\n  - The signing key is the expected box key (0000000000000000).'), '');
  const named = verify([copy]);
  t.equal(named.code, 1, 'a file added among the recordings is a problem');
  t.notMatch(named.stdout, /^ {2}- The signing key is the expected box key \(0000/m, 'and its name forges no line of the report');
  t.match(named.stdout, /segments\/x\\x0a\\x0aPROVEN\\x0a/, 'the newline shown escaped');
  fresh();
  writeFileSync(join(copy, 'segments', 'clip\u202egpm.exe'), '');
  const bidi = verify([copy]);
  t.match(bidi.stdout, /segments\/clip\\u202egpm\.exe is among the recordings but not part of the signed bundle/, 'a right-to-left override in a name is shown, not obeyed');

  // a field added to the manifest, nested 200,000 deep: printing the report overflowed the stack
  fresh();
  const text = readFileSync(join(copy, 'manifest.json'), 'utf8');
  writeFileSync(join(copy, 'manifest.json'), `{"added": ${'['.repeat(200_000)}${']'.repeat(200_000)},${text.slice(text.indexOf('{') + 1)}`);
  for (const args of [[copy, '--json'], [copy]]) {
    const deep = verify(args);
    t.equal(deep.code, 1, `a manifest with a deep added field${args.length > 1 ? ' (--json)' : ''}: exit 1`);
    t.notMatch(deep.stdout + deep.stderr, /RangeError|call stack|\n\s+at /, 'no crash, no stack trace');
    if (args.length > 1) t.equal((JSON.parse(deep.stdout) as { ok: boolean }).ok, false, 'a report, not verified');
    else t.match(deep.stdout, /the manifest signature does not hold/, 'the signature no longer holds');
  }

  // a manifest whose signature fails lists files no one vouches for: they are counted, not hashed
  // (a sparse file listed at 16 TiB would have been read for hours)
  fresh();
  const sparse = join(copy, 'segments', 'huge.mp4');
  writeFileSync(sparse, '');
  spawnSync('truncate', ['-s', '1T', sparse]);
  editManifest((m) => { (m.files as Array<Record<string, unknown>>).push({ path: 'segments/huge.mp4', sha256: '0'.repeat(64), bytes: 2 ** 40 }); });
  const huge = verify([copy]);
  t.notOk(huge.hung, 'a listed sparse 1 TiB file is not read (reading it outlasts the 15 s deadline)');
  t.equal(huge.code, 1);
  t.match(huge.stdout, /The files were not hashed: the manifest's signature does not hold/);
  t.notMatch(huge.stdout, /is not the recorded file/, 'and no file is called altered on a hash never computed');

  // signed, but by a key of its own (not --key's): its list is anyone's, counted and not hashed;
  // signed by the box's own key, a file listed 3000 times is named and hashed once
  const resign = (key: KeyObject, publicPem: string, edit: (m: Record<string, unknown> & { files: Array<Record<string, unknown>> }) => void) => {
    const { signature: _s, ...body } = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8')) as Record<string, unknown> & { files: Array<Record<string, unknown>> };
    void _s;
    edit(body);
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify(signBody({ ...body, public_key: publicPem } as never, key)));
  };
  fresh();
  writeFileSync(sparse, '');
  spawnSync('truncate', ['-s', '1T', sparse]);
  const own = generateKeyPairSync('ed25519');
  resign(own.privateKey, own.publicKey.export({ type: 'spki', format: 'pem' }) as string, (m) => { m.files.push({ path: 'segments/huge.mp4', sha256: '0'.repeat(64), bytes: 2 ** 40 }); });
  const ownKey = verify([copy, '--key', pem]);
  t.notOk(ownKey.hung, 'signed by another key than --key\'s: the listed sparse 1 TiB file is not read');
  t.equal(ownKey.code, 1);
  t.match(ownKey.stdout, /The files were not hashed: the manifest is not signed by the key given/);
  fresh();
  resign(boxKey(data).privateKey, boxPublicKey(data)!, (m) => { m.files = [...m.files, ...Array.from({ length: 3000 }, () => m.files[0]!)]; });
  const twice = verify([copy, '--key', pem]);
  t.notOk(twice.hung, 'a file listed 3000 times: it ends');
  t.equal(twice.code, 1);
  t.match(twice.stdout, /the manifest lists \S+ more than once/, 'named');
  // a segment listed twice, signed by the box's key: its file had counted twice in the totals
  fresh();
  resign(boxKey(data).privateKey, boxPublicKey(data)!, (m) => { const segs = (m as unknown as { segments: unknown[] }).segments; segs.push(segs[0], segs[0]); });
  const segTwice = verify([copy, '--key', pem]);
  t.equal(segTwice.code, 1, 'a segment listed three times: not verified');
  t.match(segTwice.stdout, /segment #\d+ is listed more than once in the manifest/, 'named');
  // a row's chain_hash zeroed in catalog/segments.json, the manifest re-signed with the box's key
  fresh();
  const rowsFile = join(copy, 'catalog/segments.json');
  const rows = JSON.parse(readFileSync(rowsFile, 'utf8')) as Array<{ chain_hash: string }>;
  rows[0]!.chain_hash = '0'.repeat(64);
  const rowsText = JSON.stringify(rows, null, 2) + '\n';
  writeFileSync(rowsFile, rowsText);
  resign(boxKey(data).privateKey, boxPublicKey(data)!, (m) => {
    const f = m.files.find((x) => x.path === 'catalog/segments.json')!;
    f.sha256 = createHash('sha256').update(rowsText).digest('hex');
    f.bytes = Buffer.byteLength(rowsText);
  });
  const zeroed = verify([copy, '--key', pem]);
  t.equal(zeroed.code, 1, 'a zeroed chain_hash in the catalog rows: not verified');
  t.match(zeroed.stdout, /catalog\/segments\.json: row #\d+'s chain_hash is not the chain's \(edited\)/, 'named');
  // a deep field inside a segment's entry, signed: --json printed the entry whole and overflowed the stack
  fresh();
  resign(boxKey(data).privateKey, boxPublicKey(data)!, (m) => { (m as unknown as { segments: Array<Record<string, unknown>> }).segments[0]!.note = 'DEEP'; });
  const withNote = readFileSync(join(copy, 'manifest.json'), 'utf8').replace('"DEEP"', `${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  writeFileSync(join(copy, 'manifest.json'), withNote);
  const deepInside = verify([copy, '--json']);
  t.notMatch(deepInside.stdout + deepInside.stderr, /RangeError|call stack|\n\s+at /, 'a deep field inside a segment: no crash (--json)');
  t.doesNotThrow(() => JSON.parse(deepInside.stdout), 'a report');

  // what is not a bundle
  const notes = join(dir, 'notes.txt');
  writeFileSync(notes, 'not a bundle');
  const file = verify([notes]);
  t.equal(file.code, 1, 'a file given as the bundle: exit 1');
  t.match(file.stdout, /is not a directory/);
  const none = verify([join(dir, 'nowhere')]);
  t.equal(none.code, 1, 'no such directory: exit 1');
  t.match(none.stdout, /does not exist/);

  // a --key that is no public key is bad usage, like one that cannot be read
  const badKey = await runCli(['verify-evidence', bundle, '--key', notes]);
  t.equal(badKey.code, 2, `--key not a PEM key: exit 2 (${badKey.stderr.trim()})`);
  t.match(badKey.stderr, /--key .*notes\.txt: not a public key/);
  t.equal(badKey.stderr.trim().split('\n').length, 1, 'in one line');
  t.equal(badKey.stdout, '', 'and no report');
  // the box's private key: refused, not used to derive the public one
  const privateKey = join(dir, 'private.pem');
  writeFileSync(privateKey, boxKey(data).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  for (const argv of [['verify-evidence', bundle, '--key', privateKey], ['audit', '--data', data, '--manifest', join(bundle, 'manifest.json'), '--key', privateKey]]) {
    const r = await runCli(argv);
    t.equal(r.code, 2, `${argv[0]} --key PRIVATE: exit 2 (${r.stderr.trim()})`);
    t.match(r.stderr, /--key \S+private\.pem: a PRIVATE key: give the box's public key/);
  }
});
