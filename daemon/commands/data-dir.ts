import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { Catalog, CATALOG_FILE } from '../../recorder/catalog/catalog.js';
import { DEFAULT_CONFIG, UsageError } from '../args.js';

export const dataDirOptions = {
  options: { config: { type: 'string' }, data: { type: 'string' } },
  help: { config: `config file whose storage.path to read (default ${DEFAULT_CONFIG})`, data: 'data dir, instead of reading the config' },
} as const;

/** The data dir a read-only command looks at: --data, else the config's storage.path. */
export function dataDirFrom(values: { config?: string; data?: string }): string {
  return resolve(values.data ?? loadConfig(values.config ?? DEFAULT_CONFIG).storage.path);
}

export function openCatalogReadOnly(dataDir: string): Catalog {
  if (!existsSync(join(dataDir, CATALOG_FILE))) throw new UsageError(`no catalog in ${dataDir}: nothing has been recorded there (wrong --data or --config?)`);
  return Catalog.openReadOnly(dataDir);
}

/** ISO 8601 or epoch milliseconds. */
export function parseTime(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{10,}$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${option}: expected an ISO 8601 time (2026-11-23T08:00:00Z) or epoch milliseconds, got "${value}"`);
  return ms;
}
