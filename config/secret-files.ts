/**
 * The files a config points at that hold secrets (camera and broker passwords, the command
 * secret, the TLS client key, upload bearer tokens) or that the MQTT connection reads (CA, client certificate), and
 * the rules for their permissions. `edge-nvr run` refuses to start, and a reload is refused, on
 * an error here; `edge-nvr check` fails on errors and warns on warnings (docs/config.md#secrets).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_FILE } from '../common/box-key.js';
import type { Config } from './schema.js';

/** The shortest command secret accepted: 32 characters (`openssl rand -hex 32` writes 64). */
export const MIN_HMAC_SECRET_LENGTH = 32;

export interface ConfigFile {
  /** where the config names it, e.g. `cameras[0].source.password_file` */
  setting: string;
  /** the same with a camera's id for its index (`cameras[gate].source.password_file`): stable when cameras move in the list */
  key: string;
  path: string;
  /** a secret: its permissions are checked */
  secret: boolean;
}

/** Every file the config names whose contents the daemon reads at start (and again on reload). */
export function configFiles(config: Config): ConfigFile[] {
  const files: ConfigFile[] = [];
  config.cameras.forEach((cam, i) => {
    const src = cam.source;
    if (src.type !== 'test' && src.password_file) {
      files.push({ setting: `cameras[${i}].source.password_file`, key: `cameras[${cam.id}].source.password_file`, path: src.password_file, secret: true });
    }
  });
  const m = config.mqtt;
  const add = (setting: string, path: string | undefined, secret: boolean) => { if (path) files.push({ setting, key: setting, path, secret }); };
  if (m) {
    add('mqtt.password_file', m.password_file, true);
    add('mqtt.key_file', m.key_file, true);
    add('mqtt.cert_file', m.cert_file, false);
    add('mqtt.ca_file', m.ca_file, false);
    add('mqtt.commands.hmac_secret_file', m.commands?.hmac_secret_file, true);
  }
  add('http.key_file', config.http?.key_file, true);
  add('http.cert_file', config.http?.cert_file, false);
  config.uploads?.bearer_tokens.forEach((b, i) => add(`uploads.bearer_tokens[${i}].token_file`, b.token_file, true));
  add('uploads.ca_file', config.uploads?.ca_file, false);
  return files;
}

/** A digest of each file's contents (or of why it cannot be read), by `key`: what a reload compares. */
export function fileDigests(files: ConfigFile[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) {
    let digest: string;
    try {
      digest = createHash('sha256').update(readFileSync(f.path)).digest('hex');
    } catch (err) {
      digest = `unreadable: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
    }
    out.set(f.key, digest);
  }
  return out;
}

export interface FileIssues {
  /** refuse to start (or to reload) */
  errors: string[];
  /** start, but say so (log, `check`) */
  warnings: string[];
}

/**
 * Permissions of a secret: readable or writable by other users, or writable by its group, is an
 * error; readable by a group other than the service's own (its primary group, as `edge-nvr`
 * under systemd) is a warning. 0600, and 0640 with the service's group (what scripts/install
 * sets), pass. A file that cannot be stat'ed is left to whatever reads it (it says why).
 */
export function modeIssue(setting: string, path: string, serviceGid = process.getgid?.() ?? -1): { level: 'error' | 'warning'; text: string } | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  const mode = st.mode & 0o777;
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  const fix = `chmod 0600 ${path} (or 0640 with the service's group)`;
  if (mode & 0o007) return { level: 'error', text: `${setting}: ${path} is ${mode & 0o004 ? 'readable' : 'accessible'} by every local user (mode ${octal}); expected ${fix}` };
  if (mode & 0o020) return { level: 'error', text: `${setting}: ${path} is writable by its group (mode ${octal}); expected ${fix}` };
  if (mode & 0o040 && st.gid !== serviceGid) return { level: 'warning', text: `${setting}: ${path} is readable by group ${st.gid}, not the service's own (mode ${octal}); other members can read it: ${fix}` };
  return undefined;
}

/** Every secret the config names, the command secret's length, and the box's signing key. */
export function secretFileIssues(config: Config, dataDir: string): FileIssues {
  const issues: FileIssues = { errors: [], warnings: [] };
  const files = configFiles(config).filter((f) => f.secret);
  files.push({ setting: 'the box signing key', key: 'box key', path: join(dataDir, KEY_FILE), secret: true });
  for (const f of files) {
    const issue = modeIssue(f.setting, f.path);
    if (issue) (issue.level === 'error' ? issues.errors : issues.warnings).push(issue.text);
  }
  const hmacFile = config.mqtt?.commands?.hmac_secret_file;
  if (hmacFile) {
    let length: number | undefined;
    try {
      length = readFileSync(hmacFile, 'utf8').replace(/\r?\n$/, '').length;
    } catch {
      // unreadable: the daemon's own read names the reason
    }
    if (length !== undefined && length < MIN_HMAC_SECRET_LENGTH) {
      issues.errors.push(`mqtt.commands.hmac_secret_file: the secret in ${hmacFile} is ${length} characters; expected at least ${MIN_HMAC_SECRET_LENGTH} (e.g. openssl rand -hex 32 > ${hmacFile})`);
    }
  }
  return issues;
}
