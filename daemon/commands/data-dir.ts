import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_TIME_MS } from '../../common/human.js';
import { permissionDenied } from '../../common/read-file.js';
import { Catalog, CATALOG_FILE, unreadableCatalog } from '../../recorder/catalog/catalog.js';
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
  return (await dataDirAndCameras(values)).dataDir;
}

/** The data dir as dataDirFrom finds it, and the cameras the config names (none with --data, where the catalog is the only word). */
export async function dataDirAndCameras(values: { config?: string; data?: string }): Promise<{ dataDir: string; configured: string[] }> {
  // these commands read nothing from a config but its storage.path and cameras: with both, one
  // would be ignored without a word (an operator checking a copy of the data could be shown the live one)
  if (values.data !== undefined && values.config !== undefined) {
    throw new UsageError(`--config and --data are both given: give one (--data names the data dir; --config reads its storage.path)`);
  }
  if (values.data !== undefined) return { dataDir: resolve(values.data), configured: [] };
  const { loadConfig } = await import('../../config/load.js');
  const config = loadConfig(values.config ?? DEFAULT_CONFIG);
  return { dataDir: resolve(config.storage.path), configured: config.cameras.map((c) => c.id) };
}

/**
 * The catalog of a data dir the daemon made, for commands that only read it. A mistyped --data
 * must not leave an empty catalog (or directory) behind that later reads as "no recordings": it
 * is refused, and nothing is created.
 */
export function openCatalogReadOnly(dataDir: string): Catalog {
  const noData = (why: string) => new UsageError(`no edge-nvr data in ${dataDir} (${why}); check --data or the config's storage.path`);
  try {
    statSync(join(dataDir, CATALOG_FILE));
  } catch (err) {
    // existsSync says "no" to a directory this user may not look into: the data is there, and an
    // operator told "no catalog.db" would look for it elsewhere
    if ((err as NodeJS.ErrnoException).code === 'EACCES') {
      throw permissionDenied(dataDir);
    }
    throw noData(`no ${CATALOG_FILE}`);
  }
  try {
    return Catalog.openReadOnly(dataDir);
  } catch (err) {
    const msg = (err as Error).message;
    const code = (err as { code?: string }).code ?? '';
    const unreadable = unreadableCatalog(err);
    if (unreadable === 'not-a-database' || /no such table/i.test(msg)) throw noData(`${CATALOG_FILE} is not an edge-nvr catalog`);
    // the right directory, and the catalog is in trouble: a runtime failure (exit 1), not bad usage
    if (unreadable === 'damaged') {
      throw new Error(`${join(dataDir, CATALOG_FILE)} is damaged (${msg}); nothing was read or changed: keep the file as it is for an investigation, and restore the catalog from a backup or a copy`);
    }
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) {
      // a WAL catalog is read through catalog.db-shm beside it, made by the first reader when the
      // daemon is not running: a read-only disk or a user who may not write there cannot make it
      throw new Error(`cannot read ${join(dataDir, CATALOG_FILE)} (${msg}): SQLite must create ${CATALOG_FILE}-shm beside it and cannot in ${dataDir}; run the command as the service user or root, or on a copy of the data dir in a writable place`);
    }
    throw noData(`${CATALOG_FILE} cannot be read: ${msg}`);
  }
}

/** The catalog of an existing data dir, for the commands that add to it (hold): never a new one. */
export function openCatalogForWriting(dataDir: string): Catalog {
  openCatalogReadOnly(dataDir).close();
  return Catalog.open(dataDir);
}

/** a date, or a date and time, with an optional offset (without one, the box's local time) */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** The date's day exists in its month, and its hours and minutes on a clock: Date.parse rolls
 * 2026-02-30 over into 2 March (a hold from "February 30" began a day late, silently). */
function realDate(text: string): boolean {
  const [, y, m, d, hh, mm, ss] = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/i.exec(text)!;
  const day = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  const dateOk = day.getUTCFullYear() === Number(y) && day.getUTCMonth() === Number(m) - 1 && day.getUTCDate() === Number(d);
  return dateOk && Number(hh ?? 0) < 24 && Number(mm ?? 0) < 60 && Number(ss ?? 0) < 60;
}

/** ISO 8601 or epoch milliseconds. */
export function parseTime(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // Date.parse alone reads nearly anything as some time ("camera 1" and "5" as 2001): only the two
  // documented forms are let through it
  const text = value.trim();
  // Date.parse reads a date alone as UTC but a date and time without an offset as local: a hold
  // from 2026-10-20 to 2026-10-20T23:59 began at UTC midnight and ended at local midnight (an
  // outside probe). Both are local: a date alone is local midnight
  const local = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00` : text;
  const ms = /^(0|\d{10,})$/.test(value) ? Number(value) : ISO_8601.test(text) && realDate(text) ? Date.parse(local) : NaN;
  // past what a Date holds (year 275760) a time cannot be printed or compared as one: a hold to
  // such a "time" was written and then the command failed printing it
  if (Number.isNaN(ms) || ms > MAX_TIME_MS) throw new UsageError(`--${option}: expected an ISO 8601 time (2026-11-23T08:00:00Z) or epoch milliseconds, got "${value}"`);
  return ms;
}
