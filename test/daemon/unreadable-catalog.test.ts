import t from 'tap';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProcess, within, writeConfig } from '../support/daemon.js';

// A catalog SQLite cannot read: another program's file in its place, or a damaged header.
for (const [name, bytes] of [
  ['not a database', Buffer.from('these are not the pages of an SQLite database\n'.repeat(200))],
  ['a damaged header', Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080, 0xee)])],
] as Array<[string, Buffer]>) {
  t.test(`a catalog that is ${name}: the daemon names it and what to do, and changes nothing`, async (t) => {
    const dir = t.testdir();
    const config = writeConfig(dir, [{ id: 'cam', url: 'rtsp://127.0.0.1:9/none' }]);
    const data = join(dir, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'catalog.db'), bytes);
    const daemon = new DaemonProcess(config).start();
    t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
    const exit = await within(daemon.exit(), 60000);
    t.equal(exit?.code, 3, 'it exits with status 3, which systemd does not restart');
    t.match(daemon.output, /catalog\.db is not a readable edge-nvr catalog \(.+\); nothing was changed, and nothing is recorded until it is dealt with: keep the file .*restore the catalog from a backup, or move the file aside/);
    t.notMatch(daemon.output, /SqliteError|at Catalog\.open/, 'the catalog is named with what to do, not SQLite\'s exception');
    t.notMatch(daemon.output, /recorder started/, 'nothing recorded');
    t.ok(readFileSync(join(data, 'catalog.db')).equals(bytes), 'the file is byte for byte what it was');
    t.same(readdirSync(data).filter((f) => f.startsWith('catalog.db')), ['catalog.db'], 'no WAL or journal made beside it');
  });
}
