import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Catalog, CATALOG_FILE } from '../../recorder/catalog/catalog.js';
import { DEFAULT_CONFIG, UsageError } from '../args.js';

export const dataDirOptions = {
  options: { config: { type: 'string' }, data: { type: 'string' } },
  help: { config: `config file whose storage.path to read (default ${DEFAULT_CONFIG})`, data: 'data dir, instead of reading the config' },
} as const;

/**
 * The data dir a read-only command looks at: --data, else the config's storage.path. The config
 * loader (YAML, the schema and its validator: most of a light command's start-up) is imported
 * only when a config file is read.
 */
export async function dataDirFrom(values: { config?: string; data?: string }): Promise<string> {
  if (values.data !== undefined) return resolve(values.data);
  const { loadConfig } = await import('../../config/load.js');
  return resolve(loadConfig(values.config ?? DEFAULT_CONFIG).storage.path);
}

/**
 * The catalog of a data dir the daemon made, for commands that only read it. A mistyped --data
 * must not leave an empty catalog (or directory) behind that later reads as "no recordings": it
 * is refused, and nothing is created.
 */
export function openCatalogReadOnly(dataDir: string): Catalog {
  const noData = (why: string) => new UsageError(`no edge-nvr data in ${dataDir} (${why}); check --data or the config's storage.path`);
  if (!existsSync(join(dataDir, CATALOG_FILE))) throw noData(`no ${CATALOG_FILE}`);
  try {
    return Catalog.openReadOnly(dataDir);
  } catch (err) {
    const msg = (err as Error).message;
    throw noData(/no such table|not a database/i.test(msg) ? `${CATALOG_FILE} is not an edge-nvr catalog` : `${CATALOG_FILE} cannot be read: ${msg}`);
  }
}

/** The catalog of an existing data dir, for the commands that add to it (hold): never a new one. */
export function openCatalogForWriting(dataDir: string): Catalog {
  openCatalogReadOnly(dataDir).close();
  return Catalog.open(dataDir);
}

/** ISO 8601 or epoch milliseconds. */
export function parseTime(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{10,}$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${option}: expected an ISO 8601 time (2026-11-23T08:00:00Z) or epoch milliseconds, got "${value}"`);
  return ms;
}
