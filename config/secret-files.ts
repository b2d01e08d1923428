/**
 * The files a config points at that hold secrets (camera and broker passwords, the command
 * secret, the TLS client key, upload bearer tokens) or that the MQTT connection reads (CA, client certificate), the
 * one way they are read, and the rules for their permissions and contents. `edge-nvr run` refuses
 * to start, and a reload is refused, on an error here; `edge-nvr check` fails on errors and warns
 * on warnings (docs/config.md#secrets): all three ask configFileIssues.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { KEY_FILE } from '../common/box-key.js';
import { splitCredentials } from '../common/credentials.js';
import { readRegularFile } from '../common/read-file.js';
import { ConfigError } from './errors.js';
import type { Config } from './schema.js';

/** The shortest command secret accepted: 32 characters (`openssl rand -hex 32` writes 64). */
export const MIN_HMAC_SECRET_LENGTH = 32;
/** ...of at least this many different characters: 32 random hex digits hold 10 or more but once in millions */
const MIN_HMAC_SECRET_DISTINCT = 8;

export interface ConfigFile {
  /** where the config names it, e.g. `cameras[0].source.password_file` */
  setting: string;
  /** the same with a camera's id for its index (`cameras[gate].source.password_file`): stable when cameras move in the list */
  key: string;
  path: string;
  /** a secret: its permissions are checked */
  secret: boolean;
  /** what it must hold: a secret on one line, a PEM private key, PEM certificates; null: checked where it is used (the page's pair) */
  holds: 'text' | 'key' | 'certificate' | null;
}

/** A file a config names is read only as a plain file of at most this size. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** Why a file a config names cannot be used, in words (`ENOENT: no such file`, `a FIFO, not a file`). */
export class ConfigFileUnreadable extends Error {}

/**
 * The one way the files a config names are read: a plain file (a FIFO blocked the daemon, its
 * reload never answered and recording stalled; /dev/zero filled `check`'s memory: an outside
 * probe), whole, up to MAX_CONFIG_FILE_BYTES, through common/read-file.ts. Links are followed
 * (secret managers use them).
 */
export function readConfigFile(path: string): Buffer {
  try {
    return readRegularFile(path, MAX_CONFIG_FILE_BYTES, 'not a secret or certificate file');
  } catch (err) {
    throw new ConfigFileUnreadable((err as Error).message);
  }
}

/** Every file the config names whose contents the daemon reads at start (and again on reload). */
export function configFiles(config: Config): ConfigFile[] {
  const files: ConfigFile[] = [];
  config.cameras.forEach((cam, i) => {
    const src = cam.source;
    if (src.type !== 'test' && src.password_file) {
      files.push({ setting: `cameras[${i}].source.password_file`, key: `cameras[${cam.id}].source.password_file`, path: src.password_file, secret: true, holds: 'text' });
    }
  });
  const m = config.mqtt;
  const add = (setting: string, path: string | undefined, secret: boolean, holds: ConfigFile['holds']) => { if (path) files.push({ setting, key: setting, path, secret, holds }); };
  if (m) {
    add('mqtt.password_file', m.password_file, true, 'text');
    add('mqtt.key_file', m.key_file, true, 'key');
    add('mqtt.cert_file', m.cert_file, false, 'certificate');
    add('mqtt.ca_file', m.ca_file, false, 'certificate');
    add('mqtt.commands.hmac_secret_file', m.commands?.hmac_secret_file, true, 'text');
  }
  // the page's certificate and key are checked as a pair by web/tls-files.ts, where they are used
  add('http.key_file', config.http?.key_file, true, null);
  add('http.cert_file', config.http?.cert_file, false, null);
  config.uploads?.bearer_tokens.forEach((b, i) => add(`uploads.bearer_tokens[${i}].token_file`, b.token_file, true, 'text'));
  add('uploads.ca_file', config.uploads?.ca_file, false, 'certificate');
  return files;
}

/** A digest of each file's contents (or of why it cannot be read), by `key`: what a reload compares. */
export function fileDigests(files: ConfigFile[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) {
    let digest: string;
    try {
      digest = createHash('sha256').update(readConfigFile(f.path)).digest('hex');
    } catch (err) {
      digest = `unreadable: ${(err as Error).message}`;
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
  // a directory or a device is no secret file: what reads it says so (its mode sent people to chmod)
  if (!st.isFile()) return undefined;
  const mode = st.mode & 0o777;
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  const fix = `chmod 0600 ${path} (or 0640 with the service's group)`;
  if (mode & 0o007) return { level: 'error', text: `${setting}: ${path} is ${mode & 0o004 ? 'readable' : 'accessible'} by every local user (mode ${octal}); expected ${fix}` };
  if (mode & 0o020) return { level: 'error', text: `${setting}: ${path} is writable by its group (mode ${octal}); expected ${fix}` };
  if (mode & 0o040 && st.gid !== serviceGid) return { level: 'warning', text: `${setting}: ${path} is readable by group ${st.gid}, not the service's own (mode ${octal}); other members can read it: ${fix}` };
  return undefined;
}

/**
 * Every file the config names, before anything uses it: each a plain file that can be read, each
 * secret's permissions (and the box's signing key's), a secret file holding one line of UTF-8
 * text (the command secret at least MIN_HMAC_SECRET_LENGTH long), a key file a PEM private key,
 * a certificate or CA file PEM certificates, the broker's client key that of its certificate.
 * `run` had started with a command secret or a CA file missing and crashed with a stack trace
 * (a restart loop under systemd), and a reload had taken a client key that was no PEM and left
 * MQTT down for good, while `check` passed them and a reload refused some (an outside probe).
 */
export function configFileIssues(config: Config, dataDir: string, configPath?: string): FileIssues {
  const issues: FileIssues = { errors: [], warnings: [] };
  const inline = inlineSecrets(config);
  // the config's own mode matters once it holds a secret itself (check said "secrets readable by
  // the service only" of a 0644 config holding the broker's password: an outside probe). A
  // warning, not a refusal: a config is often made readable on purpose, and password_file is the fix.
  const own = configPath && inline.length ? modeIssue(`the config, holding ${inline.join(', ')} inline`, configPath) : undefined;
  if (own) issues.warnings.push(`${own.text}; or move ${inline.length > 1 ? 'them' : 'it'} to password_file`);
  const files = configFiles(config);
  for (const f of [...files.filter((x) => x.secret), { setting: 'the box signing key', path: join(dataDir, KEY_FILE) }]) {
    const issue = modeIssue(f.setting, f.path);
    if (issue) (issue.level === 'error' ? issues.errors : issues.warnings).push(issue.text);
  }
  const held = new Map<string, Buffer>();
  for (const f of files) {
    let buf: Buffer;
    try {
      buf = readConfigFile(f.path);
    } catch (err) {
      issues.errors.push(`${f.setting}: cannot read ${f.path} (${(err as Error).message}); expected a file readable by the edge-nvr service`);
      continue;
    }
    const problem = f.holds && contentProblem(f, buf);
    if (problem) issues.errors.push(`${f.setting}: ${f.path} ${problem}`);
    else held.set(f.setting, buf);
  }
  const [cert, key] = [held.get('mqtt.cert_file'), held.get('mqtt.key_file')];
  if (cert && key) {
    try {
      createSecureContext({ cert, key });
    } catch {
      issues.errors.push(`mqtt.key_file: ${config.mqtt!.key_file} is not the key of the certificate in ${config.mqtt!.cert_file}; expected the client certificate's own key`);
    }
  }
  return issues;
}

/** The settings that hold a password in the config itself: `password`, or one in a URL's userinfo. */
function inlineSecrets(config: Config): string[] {
  const found: string[] = [];
  const inUrl = (url: string) => splitCredentials(url).password !== undefined;
  config.cameras.forEach((c, i) => {
    const src = c.source;
    if ('password' in src && src.password !== undefined) found.push(`cameras[${i}].source.password`);
    if (src.type === 'rtsp' && inUrl(src.url)) found.push(`cameras[${i}].source.url's password`);
  });
  if (config.mqtt?.password !== undefined) found.push('mqtt.password');
  if (config.mqtt && inUrl(config.mqtt.url)) found.push('mqtt.url\'s password');
  return found;
}

/**
 * The secret a one-line text file holds, without its trailing newline, or what is wrong with it
 * as the rest of a sentence after its path. The one rule for every secret file: the config's
 * `password_file`s, `--password-file`, and what `check` and `run` check before starting.
 */
export function secretText(buf: Buffer): string | { problem: string } {
  const text = buf.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buf)) return { problem: 'is not UTF-8 text; expected the secret on one line' };
  const secret = text.replace(/\r?\n$/, '');
  if (secret.length === 0) return { problem: 'is empty; expected the secret on its first line' };
  if (/[\r\n]/.test(secret)) return { problem: 'holds more than one line; expected the secret on one line (a trailing newline is fine)' };
  return secret;
}

/**
 * The files a config names, checked before `run` or a reload uses it: a file that cannot be used
 * throws (ConfigError, every such file named), and what is only to be logged is returned. The
 * status page's own files (`http.*`) keep only the page from starting, logged as errors:
 * recording matters more than the page, and a certificate renewal that removed the key for a
 * moment stopped every recorder at the next restart (an outside probe; docs/web.md). The page's
 * start refuses those files itself.
 */
export function filesBeforeUse(config: Config, dataDir: string, source: string): Array<{ level: 'warn' | 'error'; text: string }> {
  const issues = configFileIssues(config, dataDir, source);
  const page = issues.errors.filter((e) => e.startsWith('http.'));
  const fatal = issues.errors.filter((e) => !page.includes(e));
  if (fatal.length) throw new ConfigError(source, fatal);
  return [
    ...issues.warnings.map((text) => ({ level: 'warn' as const, text })),
    ...page.map((e) => ({ level: 'error' as const, text: `the status page cannot use its files: ${e}` })),
  ];
}

/** What is wrong with what a file holds, as the rest of a sentence after its path; undefined when nothing is. */
function contentProblem(f: ConfigFile, buf: Buffer): string | undefined {
  if (f.holds === 'text') {
    const secret = secretText(buf);
    if (typeof secret !== 'string') return secret.problem;
    if (f.setting === 'mqtt.commands.hmac_secret_file' && secret.length < MIN_HMAC_SECRET_LENGTH) {
      return `is a secret of ${secret.length} characters; expected at least ${MIN_HMAC_SECRET_LENGTH} (e.g. openssl rand -hex 32 > ${f.path})`;
    }
    // 40 spaces were taken (an outside probe): long, and guessed at the first try
    const distinct = new Set(secret.replace(/\s/g, '')).size;
    if (f.setting === 'mqtt.commands.hmac_secret_file' && distinct < MIN_HMAC_SECRET_DISTINCT) {
      return `is a secret of only ${distinct} different characters besides spaces; expected a random one (e.g. openssl rand -hex 32 > ${f.path})`;
    }
    return undefined;
  }
  try {
    if (f.holds === 'key') createPrivateKey(buf);
    else new X509Certificate(buf);
    return undefined;
  } catch {
    return f.holds === 'key'
      ? 'holds no usable PEM private key (damaged, or protected by a passphrase); expected the key unencrypted, "-----BEGIN PRIVATE KEY-----"'
      : 'holds no PEM certificate; expected "-----BEGIN CERTIFICATE-----" (a CA file may hold several)';
  }
}
