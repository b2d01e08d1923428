/**
 * What the egress gate must remember beyond the config in force: which built-in detectors are
 * switched off and why (audited whenever that changes, and written in every manifest), and the
 * privacy masks of every camera the box has recorded, so a camera later removed from the config
 * is still exported with its masks.
 */
import type { Config } from '../config/schema.js';
import { appendAudit } from '../recorder/catalog/audit-log.js';
import type { Catalog } from '../recorder/catalog/catalog.js';

export interface SwitchedOff {
  /** the built-in detector that is off: faces (BlazeFace) or plates (the text detector) */
  detector: 'faces' | 'plates';
  /** the config's written reason (redaction.faces_off_reason / plates_off_reason) */
  reason: string;
}

/** The built-in detectors the config switches off, each with its reason. */
export function switchedOff(config: Config | undefined): SwitchedOff[] {
  const r = config?.redaction;
  if (!r) return [];
  const out: SwitchedOff[] = [];
  if (!r.faces) out.push({ detector: 'faces', reason: r.faces_off_reason ?? '(no reason given)' });
  if (!r.plates) out.push({ detector: 'plates', reason: r.plates_off_reason ?? '(no reason given)' });
  return out;
}

const SWITCHED_OFF_META = 'redaction.switched_off';

/**
 * Writes an audit entry (`redaction.switched_off`, or `redaction.switched_on` when all is back on)
 * when what is switched off, or why, differs from what the last entry said. Called at start and
 * on every reload.
 */
export function auditRedactionSwitches(catalog: Catalog, config: Config, actor: string): boolean {
  const now = switchedOff(config);
  const json = JSON.stringify(now);
  const last = catalog.getMeta(SWITCHED_OFF_META) ?? '[]';
  if (last === json) return false;
  appendAudit(catalog, {
    actor,
    action: now.length ? 'redaction.switched_off' : 'redaction.switched_on',
    reason: now.map((s) => `${s.detector}: ${s.reason}`).join('; ') || null,
    details: { switched_off: now, before: JSON.parse(last) as unknown },
  });
  catalog.setMeta(SWITCHED_OFF_META, json);
  return true;
}

const MASKS_META = 'privacy_masks.';

/** Keeps each configured camera's privacy and capture masks in the catalog (start and reload):
 * what an export without the config burns. Privacy masks alone left recorded footage a camera
 * did not mask in the clear in `export --data` (an outside probe). */
export function rememberPrivacyMasks(catalog: Catalog, config: Config): void {
  for (const cam of config.cameras) {
    const json = JSON.stringify([...cam.privacy_masks, ...cam.capture_masks]);
    if (catalog.getMeta(MASKS_META + cam.id) !== json) catalog.setMeta(MASKS_META + cam.id, json);
  }
}

/** The masks a camera had when the box last ran with it configured; [] when it never had any. */
export function rememberedPrivacyMasks(catalog: Catalog | undefined, camera: string): Config['cameras'][number]['privacy_masks'] {
  try {
    const json = catalog?.getMeta(MASKS_META + camera);
    return json ? (JSON.parse(json) as Config['cameras'][number]['privacy_masks']) : [];
  } catch {
    return [];
  }
}
