/**
 * Reading a config: YAML -> schema validation with defaults (parse.ts) -> the rules a schema
 * cannot say (rules.ts) -> typed Config. Every problem becomes one line naming the path
 * (`cameras[2].source.url`) and what is expected (issues.ts).
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { render } from './issues.js';
import { parseYaml, schemaIssues } from './parse.js';
import { semanticIssues } from './rules.js';
import { legalMinimumDays } from './legal-minimum.js';
import { osReason } from '../common/read-file.js';
import { readConfigFile, secretText } from './secret-files.js';
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
  // not blocking: a FIFO in the config's place is refused, not waited on
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
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
    return utf8Text(path, Buffer.concat(chunks));
  } finally {
    closeSync(fd);
  }
}

/**
 * The config's bytes as text, refused when they are not UTF-8: a Latin-1 "é" was read as U+FFFD
 * and the setting silently changed (an outside probe), and UTF-16 was refused for its NUL bytes.
 */
function utf8Text(path: string, bytes: Buffer): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new ConfigError(path, ['the config file is UTF-16 text; expected UTF-8 (save it as UTF-8)']);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const lossy = Buffer.from(bytes.toString('utf8'), 'utf8');
    let at = 0;
    while (at < bytes.length && bytes[at] === lossy[at]) at++;
    const line = bytes.subarray(0, at).toString('latin1').split('\n').length;
    throw new ConfigError(path, [`line ${line}: the config file is not UTF-8 text (a byte no UTF-8 character begins with, such as a Latin-1 "é"); expected UTF-8 (save it as UTF-8)`]);
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
  let secret: ReturnType<typeof secretText>;
  try {
    secret = secretText(readConfigFile(holder.password_file));
  } catch (err) {
    throw new ConfigError(source, [
      `${where}: cannot read ${holder.password_file} (${(err as Error).message}); expected a file readable by the edge-nvr service`,
    ]);
  }
  if (typeof secret !== 'string') throw new ConfigError(source, [`${where}: ${holder.password_file} ${secret.problem}`]);
  return secret;
}

/** How long a camera's recordings are kept: its own retention over storage.retention (the box's alone without a camera). */
export function effectiveRetention(config: Config, camera?: CameraConfig): { minDays: number; maxDays: number | null } {
  const own = camera?.retention ?? {};
  const box = config.storage.retention ?? {};
  const maxDays = own.max_days ?? box.max_days ?? null;
  // the legal default gives way to a max_days set below it on record (below_legal_minimum_reason):
  // the ledger recorded a policy keeping footage 30 days at least and deleting it after 20
  const legal = legalMinimumDays(config);
  return { minDays: own.min_days ?? box.min_days ?? (maxDays === null ? legal : Math.min(legal, maxDays)), maxDays };
}

