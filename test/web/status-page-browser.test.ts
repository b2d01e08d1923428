import t from 'tap';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, writeConfig } from '../support/daemon.js';
import { addUser, artefactDir, launchChromium, servedUrl } from '../support/web.js';

interface AuditRow { actor: string; action: string; camera: string | null; reason: string | null; details: string | Record<string, unknown> }

// A real daemon recording two real RTSP cameras, its status page on, driven by Debian's Chromium.
t.test('a site manager follows the box in a real browser: login, every camera, one going down and coming back, a redacted snapshot', async (t) => {
  const t0 = Date.now();
  const mark = (what: string) => t.comment(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const shots = artefactDir('status-page');
  t.comment(`screenshots in ${shots}`);
  // what takes long to start, started together
  const browserStarting = launchChromium();
  const [front, yard] = await Promise.all([new CameraSim({ mounts: ['front'] }).start(), new CameraSim({ mounts: ['yard'] }).start()]);
  t.teardown(() => front.kill());
  t.teardown(() => yard.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'front', url: front.url('front') }, { id: 'yard', url: yard.url('yard') }], {
    extraYaml: 'http:\n  listen: 127.0.0.1:0\n  refresh_seconds: 2\n',
  });
  mkdirSync(join(dir, 'data'), { recursive: true });
  await addUser(['--data', join(dir, 'data')], 'maria', 'manager', 'maria-has-a-long-password');
  await addUser(['--data', join(dir, 'data')], 'otto', 'viewer', 'otto-has-a-long-password');
  const browser = await browserStarting;
  t.teardown(() => browser.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  const url = await servedUrl(daemon, 'page');
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'plain HTTP on loopback, as configured');
  await daemon.waitForLog(segmentIndexed('front'));
  await daemon.waitForLog(segmentIndexed('yard'));


  mark('no session');
  // --- no session: nothing but the login page
  const anon = await browser.newContext();
  const a = await anon.newPage();
  await a.goto(`${url}/`);
  t.equal(new URL(a.url()).pathname, '/login', 'the overview sends a stranger to the login page');
  for (const path of ['/overview', '/snapshots/x.jpg']) {
    t.equal((await anon.request.get(`${url}${path}`)).status(), 401, `${path} without a session: 401`);
  }
  const forged = await anon.request.post(`${url}/cameras/front/snapshot`, { form: { reason: 'forged', csrf: 'x' } });
  t.equal(forged.status(), 401, 'a snapshot without a session is refused');
  await a.fill('#user', 'maria');
  await a.fill('#password', 'not-her-password');
  await a.click('button[type=submit]');
  await a.waitForSelector('.error');
  t.match(await a.textContent('.error'), /Wrong user name or password/, 'a wrong password is refused, without saying which part was wrong');
  await a.screenshot({ path: join(shots, '0-login-refused.png') });

  mark('the manager logs in');
  // --- the manager logs in on a phone-sized screen and sees every camera recording
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  await page.goto(`${url}/`);
  await page.fill('#user', 'maria');
  await page.fill('#password', 'maria-has-a-long-password');
  await Promise.all([page.waitForURL(`${url}/`), page.click('button[type=submit]')]);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'edge-nvr-session')!;
  t.ok(cookie.httpOnly && cookie.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');
  await page.waitForSelector('section.camera[data-camera="front"][data-state="recording"]', { timeout: 20000 });
  await page.waitForSelector('section.camera[data-camera="yard"][data-state="recording"]', { timeout: 20000 });
  t.match(await page.textContent('#summary'), /Recording: all 2 cameras/, 'the headline says every camera records');
  t.match(await page.textContent('section.camera[data-camera="front"]'), /view\s*(learning the normal view|ok)/, 'each camera\'s view (tamper detection), from the health reading');
  t.equal(await page.locator('section.camera svg.timeline').count(), 4, 'a 24 h and a 7 day timeline per camera, drawn');
  t.equal(await page.locator('#disk svg.forecast').count(), 1, 'the disk forecast, drawn');
  t.match(await page.textContent('#disk'), /required: 30 days/, 'against the days the law requires');
  t.match(await page.textContent('#system'), /clock/, 'the clock');
  t.match(await page.textContent('#mqtt'), /not configured/, 'the MQTT link');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  t.ok(width <= 390, `nothing wider than the phone's screen (${width} px)`);
  await page.screenshot({ path: join(shots, '1-all-recording-phone.png'), fullPage: true });

  mark('the yard camera dies');
  // --- the yard camera dies: the open page shows it without a reload
  await yard.kill();
  await page.waitForSelector('section.camera[data-camera="yard"]:not([data-state="recording"])', { timeout: 30000 });
  await page.waitForSelector('#summary[data-recording="false"]', { timeout: 10000 });
  t.match(await page.textContent('#summary'), /NOT RECORDING: yard/, 'the headline names the camera that stopped');
  await page.waitForFunction(() => /down since/.test(document.querySelector('section.camera[data-camera="yard"]')?.textContent ?? ''), null, { timeout: 20000 });
  t.match(await page.textContent('section.camera[data-camera="yard"]'), /down since .*camera unreachable/, 'since when, and why');
  t.equal(await page.getAttribute('section.camera[data-camera="front"]', 'data-state'), 'recording', 'the other camera records on');
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.screenshot({ path: join(shots, '2-yard-down.png'), fullPage: true });

  mark('it comes back');
  // --- it comes back: recording again, and the gap is drawn in its timeline
  await yard.restart();
  await page.waitForSelector('section.camera[data-camera="yard"][data-state="recording"]', { timeout: 40000 });
  await page.waitForSelector('#summary[data-recording="true"]', { timeout: 10000 });
  await page.waitForFunction(() => Number(document.querySelector('section.camera[data-camera="yard"] svg.timeline')?.getAttribute('data-gaps')) >= 1, null, { timeout: 20000 });
  await page.waitForFunction(() => /camera recording again/.test(document.querySelector('#events')?.textContent ?? ''), null, { timeout: 20000 });
  t.match(await page.textContent('#events'), /gap of .*camera unreachable/, 'the last events tell the story');
  await page.screenshot({ path: join(shots, '3-yard-back.png'), fullPage: true });

  mark('a redacted snapshot');
  // --- a redacted snapshot, through the egress gate, audited with the logged-in user
  await page.fill('section.camera[data-camera="front"] input[name=reason]', 'checking the entrance');
  // the manager looks away (focus elsewhere) while the overview refreshes (every 2 s): the reason stays
  await page.evaluate(() => { (document.activeElement as HTMLElement | null)?.blur(); (document.querySelector('section.camera[data-camera="front"]') as HTMLElement).setAttribute('data-before-refresh', '1'); });
  await page.waitForFunction(() => !document.querySelector('section.camera[data-camera="front"]')?.hasAttribute('data-before-refresh'), null, { timeout: 10000 });
  t.equal(await page.inputValue('section.camera[data-camera="front"] input[name=reason]'), 'checking the entrance', 'a typed reason outlives the refresh of the overview');
  await Promise.all([page.waitForURL(/\/snapshots\/[A-Za-z0-9-]+$/, { timeout: 90000 }), page.click('section.camera[data-camera="front"] form.snap button')]);
  await page.waitForFunction(() => (document.querySelector('img.snapshot') as HTMLImageElement | null)?.naturalWidth === 640, null, { timeout: 10000 });
  const image = await ctx.request.get(`${page.url()}.jpg`);
  t.equal(image.status(), 200);
  t.same([...(await image.body()).subarray(0, 3)], [0xff, 0xd8, 0xff], 'the snapshot is a JPEG');
  await page.screenshot({ path: join(shots, '4-snapshot.png'), fullPage: true });
  const audit = JSON.parse((await runCli(['audit', '--data', join(dir, 'data'), '--json'])).stdout) as { entries: AuditRow[] } | AuditRow[];
  const rows = Array.isArray(audit) ? audit : audit.entries;
  const snap = rows.find((r) => r.action === 'snapshot');
  t.match(snap, { actor: 'maria', camera: 'front', reason: 'status page: checking the entrance' }, 'the snapshot is audited with maria as requester');
  t.ok(rows.some((r) => r.action === 'web.login' && r.actor === 'maria'), 'her login is audited');
  t.ok(rows.some((r) => r.action === 'web.login.failed' && r.actor === 'maria'), 'so is the failed one');

  mark('no original video');
  // --- no original video: nothing serves recordings or the catalog
  for (const path of ['/recordings', '/data/catalog.db', '/exports', `/snapshots/${snap ? 'x' : ''}`]) {
    t.equal((await ctx.request.get(`${url}${path}`)).status(), 404, `${path}: not found, even logged in`);
  }

  // --- forms must carry their token
  const noToken = await ctx.request.post(`${url}/cameras/front/snapshot`, { form: { reason: 'no token' } });
  t.equal(noToken.status(), 403, 'a POST without the CSRF token is refused');

  mark('a viewer sees');
  // --- a viewer sees the overview but may take no snapshot
  const viewerCtx = await browser.newContext();
  const v = await viewerCtx.newPage();
  await v.goto(`${url}/login`);
  await v.fill('#user', 'otto');
  await v.fill('#password', 'otto-has-a-long-password');
  await Promise.all([v.waitForURL(`${url}/`), v.click('button[type=submit]')]);
  await v.waitForSelector('section.camera[data-camera="front"]');
  t.equal(await v.locator('form.snap').count(), 0, 'no snapshot form for a viewer');
  t.equal((await viewerCtx.request.get(`${page.url()}.jpg`)).status(), 404, 'maria\'s snapshot is hers: otto cannot open it');
  // her snapshot's file removed from the exports folder: gone (410), not a server error
  const exports = join(dir, 'data', 'exports');
  const files = readdirSync(exports).filter((f) => f.endsWith('-snapshot-web-maria.jpg'));
  t.equal(files.length, 1, 'one snapshot file of hers');
  for (const f of files) rmSync(join(exports, f));
  t.equal((await ctx.request.get(`${page.url()}.jpg`)).status(), 410, 'a snapshot whose file was removed: 410 Gone');
  t.equal((await ctx.request.get(page.url())).status(), 404, 'and then no longer listed as hers');
  const csrf = await v.getAttribute('form[action="/logout"] input[name=csrf]', 'value');
  const refused = await viewerCtx.request.post(`${url}/cameras/front/snapshot`, { form: { reason: 'curious', csrf: csrf! }, headers: { Origin: url } });
  t.equal(refused.status(), 403, 'a viewer\'s snapshot request is refused');

  mark('logging out');
  // --- logging out ends the session
  await Promise.all([page.waitForURL(`${url}/login`), page.goto(`${url}/`).then(() => page.click('form[action="/logout"] button'))]);
  t.equal((await ctx.request.get(`${url}/overview`)).status(), 401, 'after logout the session is gone');

  t.notMatch(daemon.output, /maria-has-a-long-password|not-her-password|otto-has-a-long-password/, 'no password in the log');
  t.notMatch(daemon.output, new RegExp(cookie.value), 'no session token in the log');
  t.equal((await daemon.stop()).code, 0);
});
