/**
 * A catalog copied in by hand with mode 0644 stayed readable by every local user once the daemon
 * ran on it, pre-signed upload URLs and all (an outside probe): the daemon narrows its own
 * files (the catalog, its journal, the box key) to their owner at start, and says so.
 */
import t from 'tap';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { boxKey, KEY_FILE } from '../../common/box-key.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { DaemonProcess, writeConfig } from '../support/daemon.js';

t.test('a catalog and key others may read are the service\'s alone once the daemon starts', async (t) => {
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/cam1', enabled: false }]);
  const data = join(dir, 'data');
  Catalog.open(data).close();
  boxKey(data);
  // restored from a backup with a shell's umask 022, the key by a careless chmod
  chmodSync(join(data, 'catalog.db'), 0o644);
  chmodSync(join(data, KEY_FILE), 0o640);
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await daemon.waitForLog(/edge-nvr running/, 30000);
  const mode = (f: string) => (statSync(join(data, f)).mode & 0o777).toString(8);
  t.equal(mode('catalog.db'), '600', 'the catalog');
  t.equal(mode(KEY_FILE), '600', 'the box key');
  t.match(daemon.output, /"path":"[^"]*catalog\.db","was":"0644".*other users could read is now the service's alone/);
  t.match(daemon.output, /"was":"0640"/);
  t.equal((await daemon.stop()).code, 0);
});
