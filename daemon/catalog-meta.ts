/**
 * Keys of the catalog's `meta` table that the daemon writes and the `--data` commands read. They
 * live apart from daemon.ts so that a command reading them does not load the whole daemon.
 */

/** meta key of the box id, for commands run with `--data` only (checkpoints, verify) */
export const BOX_ID_META = 'box.id';

/**
 * `meta` key of the policy the daemon runs with, written at every start and reload, so that
 * `edge-nvr status --data DIR` knows the days each camera must hold without the config file.
 */
export const META_POLICY = 'box.policy';

export interface StoredPolicy {
  box_id: string;
  at_ms: number;
  floor_bytes: number;
  cameras: Array<{ camera: string; enabled: boolean; min_days: number; max_days: number | null; segment_seconds: number }>;
}
