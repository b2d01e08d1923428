/**
 * Reading a config: YAML -> schema validation with defaults (parse.ts) -> the rules a schema
 * cannot say (rules.ts) -> typed Config. Every problem becomes one line naming the path
 * (`cameras[2].source.url`) and what is expected (issues.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { render } from './issues.js';
import { parseYaml, schemaIssues } from './parse.js';
import { semanticIssues } from './rules.js';
import { legalMinimumDays } from './legal-minimum.js';
import { osReason, readConfigFile } from './secret-files.js';
import type { CameraConfig, Config } from './schema.js';

/** Parses and validates a config text; `source` names it in errors (a file path or "<inline>"). */
export function parseConfig(text: string, source: string): Config {
  const data = parseYaml(text, source);
  const issues = [...schemaIssues(data), ...semanticIssues(data)];
  if (issues.length > 0) throw new ConfigError(source, render(issues));
  return data as Config;
}

/** Reads and validates the config file at `path`. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readCapped(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(path, [`cannot read the config file (${osReason(err)}); expected a readable YAML file`]);
  }
  return parseConfig(text, path);
}

/** A config holds a few kilobytes; a larger file is a mistake (a video, a log, /dev/zero), not a config. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * The file's text, read only up to MAX_CONFIG_BYTES: a device or a huge file must not fill the
 * memory of the box (or of a reload) before it is refused.
 */
function readCapped(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, MAX_CONFIG_BYTES + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > MAX_CONFIG_BYTES) {
        throw new ConfigError(path, [`the config file is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB; expected a YAML config of a few kilobytes (is this the right file?)`]);
      }
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * The secret of a camera source or of mqtt: the inline `password`, or the content of
 * `password_file` without its trailing newline. `path` is where the holder sits in the config
 * (e.g. `cameras[0].source`), so that errors point at the right line; the secret itself never
 * appears in an error.
 */
export function readSecret(
  holder: { password?: string; password_file?: string },
  path: string,
  source = 'config',
): string | undefined {
  if (holder.password !== undefined) return holder.password;
  if (holder.password_file === undefined) return undefined;
  // a command's own option (`--password-file`) is named as typed, not as a config path under it
  const where = path.startsWith('--') ? path : `${path}.password_file`;
  let secret: string;
  try {
    secret = readConfigFile(holder.password_file).toString('utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(source, [
      `${where}: cannot read ${holder.password_file} (${(err as Error).message}); expected a file readable by the edge-nvr service`,
    ]);
  }
  if (secret.length === 0) {
    throw new ConfigError(source, [`${where}: ${holder.password_file} is empty; expected the secret on its first line`]);
  }
  return secret;
}

/** How long a camera's recordings are kept: its own retention over storage.retention. */
export function effectiveRetention(config: Config, camera: CameraConfig): { minDays: number; maxDays: number | null } {
  const own = camera.retention ?? {};
  const box = config.storage.retention ?? {};
  return {
    minDays: own.min_days ?? box.min_days ?? legalMinimumDays(config),
    maxDays: own.max_days ?? box.max_days ?? null,
  };
}

