/**
 * A broker whose ACL does not let the box publish its events answers each with a refusing
 * PUBACK (reason 135). The events stay in the outbox, the box says so in one log line a minute
 * (before: nothing, while it sent the same 64 events again every 250 ms, 2560 refusals in 10 s),
 * waits longer between tries, and delivers everything once the ACL is fixed.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { DaemonProcess, sleep, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';
const OPEN = 'topic readwrite edge-nvr/#\n';

t.test('events the broker refuses: kept, said once, tried again less often, delivered once allowed', async (t) => {
  const box = await mqttBox(t, { broker: { acl: `topic deny ${PREFIX}/events\n${OPEN}` } });
  const daemon = new DaemonProcess(box.config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/mqtt connected/, 30_000);
  for (const reason of ['case one', 'case two', 'case three']) {
    const r = await runCli(['hold', 'add', '--data', box.data, '--camera', 'cam1', '--from', String(Date.now() - 60_000), '--to', String(Date.now()), '--reason', reason]);
    t.equal(r.code, 0, r.stderr);
  }
  await daemon.waitForLog(/the broker refused an event \(reason 135[^)]*\): check that the broker's ACL lets the box publish on edge-nvr\/test-box\/events/, 15_000);
  await sleep(8000);
  t.equal(daemon.countLog(/the broker refused an event/), 1, 'said once, not at every try');
  const queued = () => {
    const db = new Database(join(box.data, 'catalog.db'), { readonly: true });
    try { return (db.prepare('SELECT count(*) AS n FROM mqtt_outbox').get() as { n: number }).n; } finally { db.close(); }
  };
  t.ok(queued() >= 3, 'the refused events stay in the outbox');

  const sub = await new Subscriber(box.broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  await box.broker.reloadAcl(OPEN);
  for (const reason of ['case one', 'case two', 'case three']) {
    await sub.waitFor((m) => m.topic === `${PREFIX}/events` && m.text.includes(reason), 45_000, `the event of "${reason}" once the ACL allows it`);
  }
  await until(() => queued() === 0, 10_000, 'the outbox empty');
  t.equal(daemon.proc!.exitCode, null, 'the daemon recorded through it');
});
