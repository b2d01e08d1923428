/**
 * A signed hold with `to_ms: 1e300` (an integer to JSON Schema) was placed, and from then on
 * `edge-nvr hold list` failed with "Invalid time value". A time in a command is now at most what a
 * JavaScript Date holds, refused as `invalid` before anything is written.
 */
import t from 'tap';
import { DaemonProcess, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { runCli } from '../support/cli.js';
import { Platform } from './platform.js';
import { Subscriber } from './subscriber.js';

const PREFIX = 'edge-nvr/test-box';

t.test('a command time past what a Date holds is refused, nothing is held, and the box still answers', async (t) => {
  const { data, broker, secret, config } = await mqttBox(t);
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await sub.waitFor((m) => m.topic === `${PREFIX}/status` && (m.json as { state: string }).state === 'online', 30000, 'online');
  const platform = new Platform(sub, PREFIX, 'test-box', secret);

  for (const [name, args] of [
    ['hold', { camera: 'cam1', from_ms: 0, to_ms: 1e300, reason: 'incident 12' }],
    ['hold', { camera: null, from_ms: 8.64e15 + 1, to_ms: 9e15, reason: 'incident 12' }],
    ['export', { camera: 'cam1', from_ms: 0, to_ms: 1e20, reason: 'incident 12' }],
    ['snapshot', { camera: 'cam1', at_ms: 1e300, reason: 'incident 12' }],
  ] as const) {
    const r = await platform.one(name, platform.request(name, args));
    t.equal(r.error?.code, 'invalid', `${name} ${JSON.stringify(args)}: invalid`);
    t.match(r.error?.message, /must be <= 8640000000000000/, 'naming the bound');
  }
  const good = await platform.one('hold', platform.request('hold', { camera: 'cam1', from_ms: 0, to_ms: 8.64e15, reason: 'incident 12' }));
  t.equal(good.ok, true, `the latest time a Date holds is a time: ${JSON.stringify(good.error)}`);
  const list = await runCli(['hold', 'list', '--data', data]);
  t.equal(list.code, 0, list.stderr);
  t.equal(list.stdout.trim().split('\n').length, 1, 'one hold, the good one');
  t.match(list.stdout, '1970-01-01T00:00:00Z .. +275760-09-13T00:00:00Z');
  await until(() => daemon.proc?.exitCode === null, 1000, 'the daemon still running');
});
