/**
 * What the daemon itself puts in the chained audit log: its start and clean stop, config
 * reloads (a summary of what changed: section and camera names, never values, so no secret
 * gets in), cameras added, removed, enabled or disabled, retention overrides in force
 * (`below_legal_minimum_reason`), and the first-boot provisioning `scripts/provision` recorded.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { canonicalJson } from '../common/canonical-json.js';
import { appendAudit } from '../recorder/catalog/audit-log.js';
import type { Catalog } from '../recorder/catalog/catalog.js';

/** The person behind a CLI command, from the system: the sudo user when run through sudo, else
 * the unix user; a free-text `--by` is kept beside it, never instead of it. */
export function cliActor(onBehalfOf?: string): string {
  const sudo = process.env.SUDO_USER && process.getuid?.() === 0 ? process.env.SUDO_USER : undefined;
  let user: string;
  try { user = userInfo().username; } catch { user = `uid ${process.getuid?.() ?? '?'}`; }
  const who = sudo ? `unix:${sudo} (sudo)` : `unix:${user}`;
  return onBehalfOf && onBehalfOf.trim() ? `${who} for ${onBehalfOf.trim()}` : who;
}

export const DAEMON_ACTOR = 'edge-nvr';

export function auditStart(catalog: Catalog, config: Config, version: string): void {
  appendAudit(catalog, {
    actor: DAEMON_ACTOR, action: 'daemon.start',
    details: { version, pid: process.pid, box: config.box.id, cameras: config.cameras.filter((c) => c.enabled).map((c) => c.id) },
  });
}

export function auditStop(catalog: Catalog, why: string): void {
  appendAudit(catalog, { actor: DAEMON_ACTOR, action: 'daemon.stop', details: { pid: process.pid, why } });
}

/** The reload's audit entry, and one per camera added, removed, enabled or disabled. */
export function auditReload(catalog: Catalog, before: Config, after: Config, outcome: { added: string[]; removed: string[]; restarted: string[] }, actor: string): void {
  const was = new Map(before.cameras.map((c) => [c.id, c]));
  const enabled = after.cameras.filter((c) => was.has(c.id) && !was.get(c.id)!.enabled && c.enabled).map((c) => c.id);
  const disabled = after.cameras.filter((c) => was.has(c.id) && was.get(c.id)!.enabled && !c.enabled).map((c) => c.id);
  const sections = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    .filter((k) => canonicalJson((before as Record<string, unknown>)[k]) !== canonicalJson((after as Record<string, unknown>)[k]));
  catalog.durably(() => catalog.db.transaction(() => {
    appendAudit(catalog, {
      actor, action: 'config.reload',
      details: { changed_sections: sections, added: outcome.added, removed: outcome.removed, restarted: outcome.restarted, enabled, disabled },
    });
    for (const [action, ids] of [['camera.added', outcome.added], ['camera.removed', outcome.removed], ['camera.enabled', enabled], ['camera.disabled', disabled]] as const) {
      for (const id of ids) appendAudit(catalog, { actor, action, camera: id, details: { via: 'config.reload' } });
    }
  }).immediate());
}

export function auditReloadRefused(catalog: Catalog, error: string, actor: string): void {
  appendAudit(catalog, { actor, action: 'config.reload_refused', details: { error } });
}

const OVERRIDES_META = 'audit.retention_overrides';

/** Retention under the legal minimum, with the reason the config gives: audited when it changes
 * (its bounds too: a reload from 20 to 3 days under the same reason left no entry). */
export function auditRetentionOverrides(catalog: Catalog, config: Config, actor: string): void {
  const overrides = [
    ...(config.storage.retention.below_legal_minimum_reason
      ? [{ scope: 'storage.retention', min_days: config.storage.retention.min_days ?? null, max_days: config.storage.retention.max_days ?? null, reason: config.storage.retention.below_legal_minimum_reason }] : []),
    ...config.cameras.flatMap((c, i) => (c.retention?.below_legal_minimum_reason
      ? [{ scope: `cameras[${i}] (${c.id})`, min_days: c.retention.min_days ?? null, max_days: c.retention.max_days ?? null, reason: c.retention.below_legal_minimum_reason }] : [])),
  ];
  const text = canonicalJson(overrides);
  if ((catalog.getMeta(OVERRIDES_META) ?? '[]') === text) return;
  catalog.durably(() => catalog.db.transaction(() => {
    appendAudit(catalog, { actor, action: 'retention.override', reason: overrides.map((o) => o.reason).join('; ') || null, details: { overrides } });
    catalog.setMeta(OVERRIDES_META, text);
  }).immediate());
}

/** Next to the config: one JSON line per provisioning `scripts/provision` did. */
export const PROVISION_LOG = 'provisioned.jsonl';
const PROVISION_META = 'audit.provision_seen';

/** Lines of the provisioning record not yet in the audit log become `provision` entries. */
export function importProvisioning(catalog: Catalog, configPath: string | undefined): number {
  if (!configPath) return 0;
  let lines: string[];
  try {
    lines = readFileSync(join(dirname(configPath), PROVISION_LOG), 'utf8').split('\n').filter((l) => l.trim());
  } catch {
    return 0;
  }
  const seen = new Set(JSON.parse(catalog.getMeta(PROVISION_META) ?? '[]') as string[]);
  let added = 0;
  for (const line of lines) {
    const id = createHash('sha256').update(line).digest('hex');
    if (seen.has(id)) continue;
    let details: Record<string, unknown>;
    try { details = JSON.parse(line) as Record<string, unknown>; } catch { details = { unreadable: line.slice(0, 500) }; }
    catalog.durably(() => catalog.db.transaction(() => {
      appendAudit(catalog, { actor: 'provision (boot partition)', action: 'provision', destination: typeof details.installed === 'string' ? details.installed : null, details });
      seen.add(id);
      catalog.setMeta(PROVISION_META, JSON.stringify([...seen]));
    }).immediate());
    added++;
  }
  return added;
}
