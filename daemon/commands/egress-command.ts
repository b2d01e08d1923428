import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { EgressRequestError, type EgressContext, type EgressResult } from '../../redaction/egress.js';
import { exportsDir } from '../../evidence/exports-dir.js';
import { DEFAULT_CONFIG, EXIT, outInExistingDir, UsageError, print, printError, printJson } from '../args.js';
import { cancelOnSignals } from './cancel-on-signals.js';

/** The options every egress command takes besides its own. */
export const egressOptions = {
  options: { json: { type: 'boolean' }, config: { type: 'string' }, data: { type: 'string' } },
  help: {
    json: 'print the result as JSON',
    config: `config: redaction settings, privacy masks, box id, data dir (default ${DEFAULT_CONFIG})`,
    data: 'data dir for the audit log and the box key, with default redaction settings',
  },
} as const;

/**
 * --data alone: default redaction settings; otherwise the config's settings and storage.path.
 * A command on files alone (`redact IN OUT`) also runs where there is no config at all (a laptop,
 * a box not set up yet): default settings, and the audit log and box key in the user's own data
 * dir, said on stderr. A config that exists but cannot be read is still an error.
 */
export function egressTarget(values: { config?: string; data?: string }, filesAlone = false): { config?: Config; dataDir: string } {
  if (values.data && !values.config) return { dataDir: resolve(values.data) };
  if (filesAlone && !values.config && !existsSync(DEFAULT_CONFIG)) {
    const dataDir = userDataDir();
    printError(`no config at ${DEFAULT_CONFIG}: default redaction settings; audit log and box key in ${dataDir} (--config or --data to choose)\n`);
    return { dataDir };
  }
  const config = loadConfig(values.config ?? DEFAULT_CONFIG);
  return { config, dataDir: resolve(values.data ?? config.storage.path) };
}

/** $XDG_DATA_HOME/edge-nvr, or ~/.local/share/edge-nvr. */
function userDataDir(): string {
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'edge-nvr');
}

/**
 * What `redact`, `export` and `snapshot` share around the egress gate: the catalog opened for
 * the audit log, one line (or JSON) about what was written, and a request that is wrong rather
 * than failed (unknown camera, empty range) reported as bad usage.
 */
export async function runEgress(
  values: { config?: string; data?: string; json?: boolean }, go: (ctx: EgressContext) => Promise<EgressResult>,
  out: { option: string; path: string; mustExist: boolean }, filesAlone = false,
): Promise<number> {
  const { config, dataDir } = egressTarget(values, filesAlone);
  // a clip or still a person takes away (`export`, `snapshot`); a file redacted on a laptop may make its folder
  outInExistingDir(out.option, out.path, exportsDir(dataDir), out.mustExist);
  const catalog = Catalog.open(dataDir);
  // the job kills its decoder and encoder and removes its partial file
  const cancel = cancelOnSignals();
  try {
    const r = await go({ catalog, dataDir, config, signal: cancel.signal });
    if (values.json) printJson(r);
    else print(`${r.out}: ${r.frames} frame${r.frames === 1 ? '' : 's'}${r.blanked_frames ? `, ${r.blanked_frames} blanked (fail closed)` : ''}, manifest ${r.manifest}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof EgressRequestError) throw new UsageError(err.message);
    throw err;
  } finally {
    cancel.release();
    catalog.close();
  }
}
