/**
 * What the page must register it does only once registered: a login opens no session, and a
 * snapshot's picture is not sent, while the audit log cannot be written. The failure is a real
 * one in the daemon's own catalog file: a trigger that aborts every insert into the audit log,
 * added from outside while the daemon runs (as a full or failing disk would make the insert
 * throw), then dropped to show the same requests succeed again.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { segmentIndexed } from '../support/daemon.js';
import { pageBox } from '../support/web.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function http(url: string, opts: { method?: string; cookie?: string; origin?: string; form?: Record<string, string> } = {}): Promise<Reply> {
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: opts.method ?? 'GET',
      headers: {
        ...(opts.cookie ? { Cookie: opts.cookie } : {}),
        ...(opts.origin ? { Origin: opts.origin } : {}),
        ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
      },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const setCookies = (r: Reply) => ([] as string[]).concat(r.headers['set-cookie'] ?? []);
const csrfOf = (r: Reply) => /name="csrf" value="([^"]+)"/.exec(r.body.toString())![1]!;

t.test('a login or a snapshot\'s picture the audit log cannot register is refused, and allowed again once it can', async (t) => {
  const { daemon, base } = await pageBox(t);
  await daemon.waitForLog(segmentIndexed('cam1'));
  const catalog = new Database(join(dirname(daemon.configPath), 'data', 'catalog.db'));
  t.teardown(() => catalog.close());
  catalog.pragma('busy_timeout = 10000');
  const breakAudit = () => catalog.exec("CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log refused by the test'); END");
  const mendAudit = () => catalog.exec('DROP TRIGGER audit_refused');

  const login = async () => {
    const form = await http(`${base}/login`);
    const cookie = setCookies(form)[0]!.split(';')[0]!;
    return http(`${base}/login`, { method: 'POST', cookie, origin: base, form: { csrf: csrfOf(form), user: 'ines', password: 'ines-password-one' } });
  };
  const sessionOf = (r: Reply) => setCookies(r).find((c) => c.startsWith('edge-nvr-session='))?.split(';')[0];

  // logged in and a snapshot taken while the log is writable
  const first = await login();
  t.equal(first.status, 303, 'logged in');
  const session = sessionOf(first)!;
  const page = await http(`${base}/`, { cookie: session });
  const taken = await http(`${base}/cameras/cam1/snapshot`, { method: 'POST', cookie: session, origin: base, form: { csrf: csrfOf(page), reason: 'checking the door' } });
  t.equal(taken.status, 303, 'the snapshot is taken');
  const shown = String(taken.headers.location);
  t.match(shown, /^\/snapshots\/[A-Za-z0-9-]+$/);
  const image = await http(`${base}${shown}.jpg`, { cookie: session });
  t.equal(image.status, 200, 'its picture is sent');
  t.equal(image.body.subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');

  breakAudit();
  const refusedImage = await http(`${base}${shown}.jpg`, { cookie: session });
  t.equal(refusedImage.status, 503, 'the picture is not sent while its viewing cannot be registered');
  t.notOk(refusedImage.body.includes(Buffer.from('ffd8ff', 'hex')), 'no JPEG in the refusal');
  t.match(refusedImage.body.toString(), 'cannot register this viewing');
  const refusedLogin = await login();
  t.equal(refusedLogin.status, 503, 'a login the audit log cannot register is refused');
  t.equal(sessionOf(refusedLogin), undefined, 'and opens no session');
  t.match(refusedLogin.body.toString(), 'cannot register a login');
  const refusedSnapshot = await http(`${base}/cameras/cam1/snapshot`, { method: 'POST', cookie: session, origin: base, form: { csrf: csrfOf(page), reason: 'checking the door' } });
  t.not(refusedSnapshot.status, 303, 'no new snapshot is taken either');
  t.match(daemon.output, /cannot write the audit log/, 'the failure is logged');

  mendAudit();
  t.equal((await http(`${base}${shown}.jpg`, { cookie: session })).status, 200, 'the picture is sent again once the log can be written');
  const again = await login();
  t.equal(again.status, 303, 'and a login succeeds');
  const actions = catalog.prepare("SELECT action FROM audit_log WHERE actor = 'ines' ORDER BY id").all() as Array<{ action: string }>;
  t.same(actions.map((a) => a.action).filter((a) => a === 'web.login' || a === 'web.snapshot.viewed'),
    ['web.login', 'web.snapshot.viewed', 'web.snapshot.viewed', 'web.login'], 'only what was allowed is registered: two logins, two viewings');
});
