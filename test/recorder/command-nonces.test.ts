import t from 'tap';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { NONCE_GRACE_MS, NonceStore } from '../../recorder/catalog/nonces.js';

const WINDOW = 300_000;
const T = Date.UTC(2026, 11, 4, 12);

// The replay check accepts a timestamp within the window of the box clock: a nonce forgotten as
// soon as its window passed came back into it when the clock was stepped back.
t.test('a clock stepped back does not reopen a replay whose window had passed', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const store = new NonceStore(catalog, 100);
  t.equal(store.remember('first-nonce-000001', T + WINDOW, T), 'ok');
  // an hour later another command: the first one's window is long over
  t.equal(store.remember('second-nonce-00001', T + 3_600_000 + WINDOW, T + 3_600_000), 'ok');
  t.equal(store.remember('third-nonce-000001', T + 86_400_000 + WINDOW, T + 86_400_000), 'ok');
  // the clock goes back to T: the captured first request is inside the window again
  t.equal(store.remember('first-nonce-000001', T + WINDOW, T), 'seen', 'still refused as already used');
  // past the grace it is forgotten (the timestamp check alone refuses it then, unless the clock went back that far)
  const later = T + 3_600_000 + WINDOW + NONCE_GRACE_MS + 1;
  t.equal(store.remember('fourth-nonce-00001', later + WINDOW, later), 'ok');
  const held = (catalog.db.prepare('SELECT nonce FROM command_nonces ORDER BY nonce').all() as Array<{ nonce: string }>).map((r) => r.nonce);
  t.same(held, ['fourth-nonce-00001', 'third-nonce-000001'], 'the first two dropped after the grace, the third not yet');
});

t.test('a full store makes room from expired nonces, oldest first, never a live one', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const store = new NonceStore(catalog, 3);
  t.equal(store.remember('old-a-000000000001', T + WINDOW, T), 'ok');
  t.equal(store.remember('old-b-000000000001', T + 1000 + WINDOW, T + 1000), 'ok');
  const now = T + 2 * WINDOW;
  t.equal(store.remember('live-a-00000000001', now + WINDOW, now), 'ok');
  t.equal(store.remember('live-b-00000000001', now + 1 + WINDOW, now + 1), 'ok', 'the oldest expired one made room');
  t.equal(store.remember('old-b-000000000001', T + 1000 + WINDOW, now + 2), 'seen', 'the younger expired one is still held');
  t.equal(store.remember('live-c-00000000001', now + 3 + WINDOW, now + 3), 'ok', 'the other expired one made room');
  t.equal(store.remember('live-d-00000000001', now + 4 + WINDOW, now + 4), 'full', 'three live ones: none is evicted');
  for (const n of ['live-a-00000000001', 'live-b-00000000001', 'live-c-00000000001']) t.equal(store.remember(n, now + WINDOW, now + 5), 'seen', `${n} kept`);
});
