/**
 * The legal minimum retention, apart from schema.ts so that the loader and the daemon do not
 * build the TypeBox schema at run time just to read one rule (they import only its types).
 */
import type { Config } from './schema.js';

/** The legal minimum for a box: 30 days, 90 for designated sites. */
export function legalMinimumDays(config: Pick<Config, 'box'>): number {
  return config.box.designated_site ? 90 : 30;
}
