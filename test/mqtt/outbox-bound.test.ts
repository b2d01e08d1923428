import t from 'tap';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { Outbox, STAT_DROPPED, STAT_LAST_EVENT_ID } from '../../daemon/mqtt/outbox.js';

t.test('the outbox is fed from the events table, keeps its place, and drops the oldest past its bound', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  for (let i = 0; i < 250; i++) catalog.addEvent('gap', 'cam1', { n: i });
  const outbox = new Outbox(catalog, 'edge-nvr/b/events', 'b', 100);
  t.equal(outbox.feed(), 250);
  t.equal(outbox.feed(), 0, 'nothing is copied twice');
  t.equal(outbox.size(), 100, 'bounded');
  t.equal(outbox.stat(STAT_DROPPED), 150, 'drops are counted');
  t.equal(outbox.stat(STAT_LAST_EVENT_ID), 250);
  const rows = outbox.next(1000);
  t.same(rows.map((r) => JSON.parse(r.payload).data.n), Array.from({ length: 100 }, (_, i) => 150 + i), 'the newest are kept, in order');
  t.equal(new Set(rows.map((r) => r.message_id)).size, 100, 'each with a unique id');
  outbox.acknowledged(rows[0]!.id);
  t.equal(outbox.size(), 99, 'an acknowledged row goes');
  // a new Outbox on the same catalog (a restart) goes on where the last one stopped
  catalog.addEvent('camera_online', 'cam1', {});
  t.equal(new Outbox(catalog, 'edge-nvr/b/events', 'b', 100).feed(), 1);
});
