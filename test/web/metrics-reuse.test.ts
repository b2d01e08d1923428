/**
 * The metrics endpoint has no login: 20 clients scraping in a loop kept a core busy reading the
 * catalog (an outside probe). Scrapes at once share one reading, a reading under a second old
 * is served again, and a failed reading is not kept.
 */
import t from 'tap';
import { BoxMetrics } from '../../web/metrics.js';
import type { BoxState } from '../../web/box-state.js';

/** The parts of the box state a scrape reads, counting the readings of the catalog. */
function boxState(failFirst: boolean) {
  const reads = { health: 0, totals: 0 };
  const state = {
    boxId: 'box', site: null, version: '0', startedMs: 0,
    health: async () => {
      reads.health++;
      if (failFirst && reads.health === 1) throw new Error('the catalog is busy');
      return {
        cameras: [{ camera: 'door', state: 'recording', gap_ms_24h: 0, continuity_24h: 1, last_segment_end_ms: Date.now(), restarts: 0 }],
        retention: { cameras: [], forecast_days: null, min_required_days: 30 }, disks: [], outbox: { queued: 0, dropped: 0 },
        clock: { synchronized: true }, temperature_c: null,
      };
    },
    totals: () => {
      reads.totals++;
      return { cameras: [{ camera: 'door', segments: reads.totals, bytes: 0, gaps: 0, closed_gap_ms: 0 }], events: [], egress: [] };
    },
    activeHolds: () => 0, mqtt: () => null, verification: () => null,
  } as unknown as BoxState;
  return { state, reads };
}

t.test('scrapes at once share one reading; a reading under a second old is served again', async (t) => {
  const { state, reads } = boxState(false);
  const metrics = new BoxMetrics(state);
  const texts = await Promise.all(Array.from({ length: 20 }, () => metrics.scrape()));
  t.equal(reads.totals, 1, '20 scrapes at once, one reading');
  t.match(texts[0], /edge_nvr_camera_segments_recorded_total\{camera="door"\} 1/);
  await metrics.scrape();
  t.equal(reads.totals, 1, 'a scrape right after gets the same reading');
  await new Promise((r) => setTimeout(r, 1100));
  t.match(await metrics.scrape(), /edge_nvr_camera_segments_recorded_total\{camera="door"\} 2/, 'a second later, a new reading');
  t.equal(reads.totals, 2);
});

t.test('a failed reading is not served again', async (t) => {
  const { state, reads } = boxState(true);
  const metrics = new BoxMetrics(state);
  await t.rejects(metrics.scrape(), /the catalog is busy/);
  t.match(await metrics.scrape(), /edge_nvr_camera_up\{camera="door"\} 1/, 'the next scrape reads again');
  t.equal(reads.health, 2);
});
