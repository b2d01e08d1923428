/**
 * A segment recovered after a crash names the provenance its run recorded under (the capture mask
 * set and where it was enforced): the next daemon indexes what a killed run left in staging before
 * any recorder of its own says anything, and those rows had no provenance at all (an outside probe).
 */
import t from 'tap';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { maskProvenance } from '../../recorder/capture-masks.js';
import { recoverCamera } from '../../recorder/recovery.js';
import { SegmentStore, stagingDir } from '../../recorder/segment-store.js';
import { makeClip } from '../support/backdate.js';

const log = pino({ level: 'silent' });

t.test('a file a killed run left in staging is indexed under that run\'s provenance; a camera without masks stays without', async (t) => {
  const dir = t.testdir();
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'), 1);
  const catalog = Catalog.open(data);
  t.teardown(() => catalog.close());
  const masked = maskProvenance([{ x: 0.25, y: 0.25, w: 0.5, h: 0.5 }], { enforced: 'box', encoder: 'x264enc' });
  const run = Date.now() - 60_000;
  // the daemon that was killed: its recorders ran under these provenances, each left a file open
  const killed = new SegmentStore(data, catalog, log);
  killed.setProvenance('pinpad', masked);
  killed.setProvenance('hall', null);
  for (const camera of ['pinpad', 'hall']) {
    mkdirSync(stagingDir(data, camera), { recursive: true });
    copyFileSync(clip, join(stagingDir(data, camera), `${run}-000000.mp4`));
  }

  // the next daemon, at start-up: recovery before any recorder
  const next = new SegmentStore(data, catalog, log);
  const pinpad = await recoverCamera(data, 'pinpad', catalog, next, log, { orphansPossible: false });
  const hall = await recoverCamera(data, 'hall', catalog, next, log, { orphansPossible: false });
  t.same(pinpad.indexed.map((r) => [r.origin, r.provenance]), [['recovered', masked]], 'pinpad: recovered, under the masks its run recorded under');
  t.same(hall.indexed.map((r) => [r.origin, r.provenance]), [['recovered', null]], 'hall: recovered, no masks');

  // once this daemon's recorder runs under another provenance, that is what its segments say
  next.setProvenance('pinpad', null);
  copyFileSync(clip, join(stagingDir(data, 'pinpad'), `${run + 30_000}-000000.mp4`));
  const later = await recoverCamera(data, 'pinpad', catalog, next, log, { orphansPossible: false });
  t.same(later.indexed.map((r) => r.provenance), [null], 'the provenance set last');
});
