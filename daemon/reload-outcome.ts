import type { Config } from '../config/schema.js';

/**
 * What a reload did (SIGHUP, `edge-nvr reload`, the MQTT `reload` command), kept in
 * `meta.last_reload`: built only by `Daemon.reloadFile`, read back by the CLI.
 */
export interface ReloadResult {
  ok: boolean;
  at_ms: number;
  /** why it was refused (the running config stays) */
  error?: string;
  /** refused because the new config is invalid: each problem, one per line (what `reload` prints, exit 2) */
  config_issues?: string[];
  added: string[];
  removed: string[];
  restarted: string[];
  unchanged: string[];
  /** every setting that changed, as a config path (`mqtt.url`, `cameras[gate].privacy_masks`);
   * a file named by the config whose contents changed reads `<setting> (contents)` */
  changed: string[];
  /** what was applied besides the cameras (`mqtt reconnected`, `log.level debug`, ...) */
  applied: string[];
  /** changes that take effect only after a restart of the service, each with why */
  restart_required: string[];
}

export function reloadOutcome(fields: Partial<ReloadResult> & Pick<ReloadResult, 'ok'>): ReloadResult {
  return { at_ms: Date.now(), added: [], removed: [], restarted: [], unchanged: [], changed: [], applied: [], restart_required: [], ...fields };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The settings that differ between two configs, as paths to the leaves that changed (lists are
 * compared whole; cameras are matched by id, so a camera moved in the list is not a change).
 */
export function configChanges(before: Config, after: Config): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (isObject(a) && isObject(b)) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], path ? `${path}.${k}` : k);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path);
  };
  const { cameras: camsA, ...restA } = before;
  const { cameras: camsB, ...restB } = after;
  walk(restA, restB, '');
  const byId = (cams: Config['cameras']) => new Map(cams.map((c) => [c.id, c]));
  const [a, b] = [byId(camsA), byId(camsB)];
  for (const id of [...new Set([...a.keys(), ...b.keys()])].sort()) walk(a.get(id), b.get(id), `cameras[${id}]`);
  return out;
}
