import t from 'tap';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';
import { makeCerts } from '../support/mosquitto.js';
import { addUser, servedUrl } from '../support/web.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTPS request that trusts only the test CA, as a browser given that CA would. */
function https(ca: Buffer, url: string, opts: { method?: string; cookie?: string; form?: Record<string, string>; origin?: string } = {}): Promise<Reply> {
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: opts.method ?? 'GET', ca,
      headers: {
        ...(opts.cookie ? { Cookie: opts.cookie } : {}),
        ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } : {}),
        ...(opts.origin ? { Origin: opts.origin } : {}),
      },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += String(d); });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const cookiesOf = (r: Reply) => ([] as string[]).concat(r.headers['set-cookie'] ?? []);
const pair = (setCookie: string) => setCookie.split(';')[0]!;

t.test('HTTPS with the box certificate; rate-limited, audited logins; removing a user or changing a password ends their sessions', async (t) => {
  const cam = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => cam.kill());
  const dir = t.testdir();
  const certs = makeCerts(join(dir, 'certs'));
  const ca = readFileSync(certs.ca);
  const config = writeConfig(dir, [{ id: 'cam1', url: cam.url('cam1') }], {
    extraYaml: `http:\n  listen: 0.0.0.0:0\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\n`,
  });
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  await addUser(['--config', config], 'ines', 'manager', 'ines-password-one');
  await addUser(['--config', config], 'bob', 'viewer', 'bob-password-one');
  const usersFile = join(data, 'users.json');
  t.equal(statSync(usersFile).mode & 0o777, 0o600, 'the users file is mode 0600');
  const stored = readFileSync(usersFile, 'utf8');
  t.match(stored, /"hash": "scrypt\$32768\$8\$1\$/, 'passwords are kept as scrypt hashes');
  t.notMatch(stored, /ines-password-one|bob-password-one/, 'never in the clear');

  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const served = await servedUrl(daemon, 'page');
  t.match(served, /^https:\/\/0\.0\.0\.0:\d+$/, 'with TLS the page may listen on every interface');
  const base = served.replace('0.0.0.0', '127.0.0.1');
  // a connection that never starts its TLS handshake: closed by the box after 10 s (Node's default held it 120 s)
  const silentOpened = Date.now();
  const silentClosed = new Promise<number>((resolve) => {
    const s = connect(Number(new URL(base).port), '127.0.0.1');
    s.on('error', () => undefined);
    s.on('close', () => resolve(Date.now() - silentOpened));
    t.teardown(() => s.destroy());
  });
  await daemon.waitForLog(segmentIndexed('cam1'));

  const loginForm = async () => {
    const r = await https(ca, `${base}/login`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(r.body)![1]!;
    const cookie = cookiesOf(r).find((c) => c.startsWith('__Host-edge-nvr-login='))!;
    return { csrf, cookie: pair(cookie), setCookie: cookie, headers: r.headers };
  };
  const login = async (user: string, password: string) => {
    const f = await loginForm();
    return https(ca, `${base}/login`, { method: 'POST', cookie: f.cookie, origin: base, form: { csrf: f.csrf, user, password } });
  };

  const f = await loginForm();
  t.match(f.setCookie, /; HttpOnly; SameSite=Strict; Secure/, 'cookies are HttpOnly, SameSite=Strict and Secure');
  t.match(String(f.headers['strict-transport-security']), /max-age=/, 'HSTS');
  t.match(String(f.headers['content-security-policy']), /script-src 'self'.*frame-ancestors 'none'/, 'a CSP without inline scripts, no framing');
  t.equal(f.headers['x-frame-options'], 'DENY');
  t.equal(f.headers['x-content-type-options'], 'nosniff');
  t.equal(f.headers['referrer-policy'], 'same-origin');
  t.equal(f.headers['cache-control'], 'no-store');

  // a login from another origin, or without the form's token, is refused before any password check
  const cross = await https(ca, `${base}/login`, { method: 'POST', cookie: f.cookie, origin: 'https://evil.example', form: { csrf: f.csrf, user: 'ines', password: 'ines-password-one' } });
  t.equal(cross.status, 403, 'a login posted from another origin is refused');
  const tokenless = await https(ca, `${base}/login`, { method: 'POST', origin: base, form: { user: 'ines', password: 'ines-password-one' } });
  t.equal(tokenless.status, 403, 'a login without the form token is refused');

  const ok = await login('ines', 'ines-password-one');
  t.equal(ok.status, 303, 'the right password logs in');
  const session = pair(cookiesOf(ok).find((c) => c.startsWith('__Host-edge-nvr-session='))!);
  t.equal((await https(ca, `${base}/overview`, { cookie: session })).status, 200, 'the session opens the overview');

  // guessing: after 5 failures the name is locked, even for the right password
  for (let i = 0; i < 5; i++) t.equal((await login('bob', `guess-${i}-xxxxx`)).status, 401, `guess ${i + 1} refused`);
  const locked = await login('bob', 'bob-password-one');
  t.equal(locked.status, 429, 'the 6th try is refused unchecked, the right password too');
  t.ok(Number(locked.headers['retry-after']) > 60, `with Retry-After ${String(locked.headers['retry-after'])} s`);
  t.match(locked.body, /Too many failed logins/);
  await login('bob', 'bob-password-one');
  const audit = JSON.parse((await runCli(['audit', '--data', data, '--json', '--limit', '100'])).stdout) as { entries: Array<{ actor: string; action: string; details: Record<string, unknown> }> };
  const actions = audit.entries.filter((e) => e.actor === 'bob').map((e) => e.action);
  t.equal(actions.filter((a) => a === 'web.login.failed').length, 5, 'each failed login is audited');
  t.equal(actions.filter((a) => a === 'web.login.locked').length, 1, 'the lock-out once, not every refused try');
  t.ok(audit.entries.some((e) => e.actor === 'ines' && e.action === 'web.login' && e.details.address === '127.0.0.1'), 'the login is audited with the address');
  t.notMatch(JSON.stringify(audit), /guess-\d-xxxxx|password-one/, 'no password in the audit log');

  // a new password ends ines's session; removing her keeps her out
  t.equal((await runCli(['user', 'passwd', 'ines', '--config', config], { input: 'ines-password-two\n' })).code, 0);
  t.equal((await https(ca, `${base}/overview`, { cookie: session })).status, 401, 'a changed password ends the open session');
  t.equal((await login('ines', 'ines-password-one')).status, 401, 'the old password no longer works');
  const again = await login('ines', 'ines-password-two');
  t.equal(again.status, 303, 'the new one does');
  const session2 = pair(cookiesOf(again).find((c) => c.startsWith('__Host-edge-nvr-session='))!);
  // a snapshot of hers (through the egress gate), then her name given to another account
  const overviewPage = await https(ca, `${base}/`, { cookie: session2 });
  const csrf2 = /name="csrf" value="([^"]+)"/.exec(overviewPage.body)![1]!;
  const taken = await https(ca, `${base}/cameras/cam1/snapshot`, { method: 'POST', cookie: session2, origin: base, form: { csrf: csrf2, reason: 'checking the door' } });
  t.equal(taken.status, 303, 'ines takes a snapshot');
  const shot = `${base}${String(taken.headers.location)}`;
  t.equal((await https(ca, `${shot}.jpg`, { cookie: session2 })).status, 200, 'and sees it');
  t.equal((await https(ca, `${shot}.jpg`, { cookie: session2 })).status, 200, 'twice');
  const viewed = (JSON.parse((await runCli(['audit', '--data', data, '--json', '--limit', '200'])).stdout) as typeof audit).entries.filter((e) => e.action === 'web.snapshot.viewed');
  t.match(viewed, [
    { actor: 'ines', camera: 'cam1', destination: 'web 127.0.0.1', details: { address: '127.0.0.1', export_id: String(taken.headers.location).split('/').pop() } },
    { actor: 'ines', destination: 'web 127.0.0.1' },
  ], 'each time the picture left the box, it is registered with where it went');
  t.equal((await runCli(['user', 'remove', 'ines', '--config', config])).code, 0);
  t.equal((await https(ca, `${base}/overview`, { cookie: session2 })).status, 401, 'a removed user\'s session ends at once');
  await addUser(['--config', config], 'ines', 'viewer', 'ines-password-new');
  const newInes = await login('ines', 'ines-password-new');
  t.equal(newInes.status, 303, 'another account named ines logs in');
  const session3 = pair(cookiesOf(newInes).find((c) => c.startsWith('__Host-edge-nvr-session='))!);
  for (const path of [shot, `${shot}.jpg`]) t.equal((await https(ca, path, { cookie: session3 })).status, 404, `the old ines's snapshot is not hers: ${path.slice(base.length)} 404`);
  t.equal((await runCli(['user', 'remove', 'ines', '--config', config])).code, 0);

  // many names tried from one address: the address is locked, for every name. It has 6 failures
  // so far (bob's 5, ines's old password); 14 more make the 20 an address may have
  // (the first is a password typed into the name field: it cannot be a user name)
  for (let i = 0; i < 14; i++) t.equal((await login(i === 0 ? 'Typed Secret 42!' : `nobody${i}`, 'whatever-password')).status, 401);
  const sprayed = await login('bob', 'bob-password-one');
  t.equal(sprayed.status, 429, 'an address that tried 20 wrong logins waits, whatever name it tries');
  const later = JSON.parse((await runCli(['audit', '--data', data, '--json', '--limit', '200'])).stdout) as typeof audit;
  t.ok(later.entries.some((e) => e.actor === '(not a user name)' && e.action === 'web.login.failed'), 'a name that cannot be a user name is audited as "(not a user name)"');
  t.notMatch(JSON.stringify(later), /Typed Secret/, 'what was typed there is not kept');

  const silentMs = await Promise.race([silentClosed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), Math.max(0, silentOpened + 20_000 - Date.now())))]);
  t.ok(silentMs >= 9_000 && silentMs < 20_000, `a connection that never began its TLS handshake was closed by the box after ${(silentMs / 1000).toFixed(1)} s`);
  t.notMatch(daemon.output, /password-one|password-two|guess-\d/, 'no password in the daemon log');
  t.notMatch(daemon.output, new RegExp(session.split('=')[1]!), 'no session token in the daemon log');
  t.equal((await daemon.stop()).code, 0);
});
