/** A box with recorded history for evidence tests, and an evidence request as the CLI takes it. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { takeCheckpoint } from '../../recorder/catalog/checkpoint.js';
import { DAY_MS } from '../../watchdog/retention.js';
import { backdate, makeClip } from './backdate.js';

const officers = ['--officer', 'Anna Berg:PB-1041', '--officer', 'Jonas Ek:PB-2210'];
export const evidenceRequest = (data: string, from: number, to: number, out: string) => [
  'evidence', '--data', data, '--camera', 'cam1', '--from', String(from), '--to', String(to), '--agency', 'City Police, District 4',
  ...officers, '--approval', 'Prosecutor order 2026/118', '--reason', 'burglary investigation, case 2026-5521', '--destination', 'police evidence server, case file 5521',
  '--out', out, '--json',
];

/**
 * a box with history: cam1 records 3 segments, a gap, 2 more (the last deleted by retention), cam2
 * in between; `newer`: more cam1 segments after those, starting these many ms after the first
 * (recorded before the box's checkpoint, as a box records them: verify names a row added after a
 * checkpoint with a time before it)
 */
export async function evidenceBox(dir: string, boxId: string, newer: number[] = []) {
  const data = join(dir, 'data');
  const clip = makeClip(join(dir, 'clip.mp4'));
  const t0 = Date.now() - 3 * DAY_MS;
  const catalog = Catalog.open(data);
  catalog.setMeta('box.id', boxId);
  const a = await backdate(data, catalog, clip, 'cam1', [t0, t0 + 60_000, t0 + 120_000]);
  await backdate(data, catalog, clip, 'cam2', [t0]);
  catalog.addGap('cam1', t0 + 180_000, t0 + 240_000, 'camera_offline', 'connection refused');
  const b = await backdate(data, catalog, clip, 'cam1', [t0 + 240_000, t0 + 300_000]);
  const doomed = b[1]!;
  catalog.markDeleted('cam1', [doomed], {
    rule: 'space_floor', note: 'retention: disk below the free-space floor', policy: { min_days: null, max_days: null }, holds_checked: [], clock: null,
  });
  rmSync(join(data, doomed.path));
  const c = await backdate(data, catalog, clip, 'cam1', newer.map((ms) => t0 + ms));
  takeCheckpoint(catalog, data, boxId, 'interval');
  catalog.close();
  return { data, t0, segments: [...a, ...b, ...c], doomed };
}
