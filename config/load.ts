/**
 * Reading a config: YAML -> schema validation with defaults -> semantic rules -> typed Config.
 * Every problem becomes one line naming the path (`cameras[2].source.url`) and what is expected,
 * because the person reading it is an installer with a YAML file open, not a developer.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { scrubCredentials } from '../recorder/sources/url.js';
import { ConfigError } from './errors.js';
import { isLoopback, parseListen, type ListenAddress } from './listen.js';
import { Config, legalMinimumDays, type CameraConfig } from './schema.js';

type Json = Record<string, unknown>;
type Segment = string | number;

interface Issue {
  path: Segment[];
  text: string;
}

/* ------------------------------------------------------------------ public API */

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
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the config file (${osReason(err)}); expected a readable YAML file`]);
  }
  return parseConfig(text, path);
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
  const where = `${path}.password_file`;
  let secret: string;
  try {
    secret = readFileSync(holder.password_file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(source, [
      `${where}: cannot read ${holder.password_file} (${osReason(err)}); expected a file readable by the edge-nvr service`,
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

/* ------------------------------------------------------------------ YAML */

function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  // prettyErrors would add multi-line source excerpts; issues must be single lines
  // merge keys (`<<: *defaults`) let a site share settings between many cameras
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      const what =
        e.code === 'MULTIPLE_DOCS'
          ? 'the file holds more than one YAML document'
          : e.message.replace(/\s+/g, ' ').replace(/[.:]\s*$/, '');
      return `line ${line}, column ${col}: ${what}; expected valid YAML (check indentation and quoting)`;
    });
    throw new ConfigError(source, [...new Set(lines)]);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/* ------------------------------------------------------------------ schema validation */

/**
 * Ajv sees a rewritten copy of the schema:
 * - unions of literals become `enum`, so a wrong value gives one error, not one per literal;
 * - unions of objects tagged by `type` (camera sources) or `format` (detector outputs) become
 *   `oneOf` + `discriminator`, so Ajv validates only the branch the tag names (and fills that
 *   branch's defaults, which it never does inside `anyOf`).
 * The published JSON Schema stays the plain TypeBox one.
 */
function forValidation(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forValidation);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = forValidation(v);
  const branches = out.anyOf;
  if (Array.isArray(branches) && branches.every(isObject)) {
    if (branches.every((b) => 'const' in b)) {
      delete out.anyOf;
      out.enum = branches.map((b) => b.const);
    } else {
      const tag = TAGS.find((t) => branches.every((b) => tagOf(b, t) !== undefined));
      if (tag) {
        delete out.anyOf;
        out.type = 'object';
        out.oneOf = branches;
        out.discriminator = { propertyName: tag };
      }
    }
  }
  return out;
}

const TAGS = ['type', 'format'];

/** The literal `tag` an object branch requires, if it is a branch tagged by it. */
function tagOf(branch: Json, tag: string): string | undefined {
  const props = branch.properties;
  const required = branch.required;
  if (!isObject(props) || !Array.isArray(required) || !required.includes(tag)) return undefined;
  const value = props[tag];
  return isObject(value) && typeof value.const === 'string' ? value.const : undefined;
}

let validator: ValidateFunction | undefined;

function validate(data: unknown): ErrorObject[] {
  validator ??= new Ajv({
    allErrors: true,
    useDefaults: true,
    discriminator: true,
    verbose: true, // errors carry parentSchema and data, which the messages are built from
    strict: false, // TypeBox keeps its own hints in the schema
  }).compile(forValidation(JSON.parse(JSON.stringify(Config))) as object);
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

function schemaIssues(data: unknown): Issue[] {
  const errors = validate(data);
  // anything under a failed anyOf/oneOf is a branch's complaint; the union speaks for itself
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath + '/');
  const issues: Issue[] = [];
  for (const e of errors) {
    if (unions.some((u) => e.schemaPath.startsWith(u))) continue;
    const issue = describeError(e, data);
    if (issue) issues.push(issue);
  }
  return issues;
}

function describeError(e: ErrorObject, root: unknown): Issue | undefined {
  const path = pointerToPath(e.instancePath, root);
  const parent = (e.parentSchema ?? {}) as Json;
  const got = () => show(e.data, path);
  switch (e.keyword) {
    case 'required': {
      const name = String(e.params.missingProperty);
      const props = (isObject(parent.properties) ? parent.properties : {}) as Json;
      return { path: [...path, name], text: `missing; expected ${describe(props[name])}` };
    }
    case 'additionalProperties': {
      const name = String(e.params.additionalProperty);
      const allowed = Object.keys(isObject(parent.properties) ? parent.properties : {});
      const near = closest(name, allowed);
      const hint = near ? ` (did you mean ${near}?)` : '';
      return { path: [...path, name], text: `unknown field${hint}; allowed: ${allowed.join(', ')}` };
    }
    case 'discriminator': {
      const tag = String(e.params.tag);
      const tags = (Array.isArray(parent.oneOf) ? parent.oneOf : []).map((b) => tagOf(b as Json, tag)).join(', ');
      const value = isObject(e.data) ? e.data[tag] : undefined;
      const text = value === undefined ? `missing; expected one of ${tags}` : `expected one of ${tags}, got ${show(value, [tag])}`;
      return { path: [...path, tag], text };
    }
    case 'if':
    case 'not':
      return { path, text: e.message ?? 'invalid' };
    case 'type':
      if (path.length === 0) {
        const sections = Object.keys(isObject(parent.properties) ? parent.properties : {}).join(', ');
        const what = e.data === null || e.data === undefined ? 'the file holds no settings' : `got ${got()}`;
        return { path, text: `${what}; expected a YAML mapping with the sections ${sections}` };
      }
      return { path, text: `expected ${describe(parent)}, got ${got()}` };
    default:
      // pattern, bounds, enum, const, minItems, anyOf, ...: the schema says what is wanted
      return { path, text: `expected ${describe(parent)}, got ${got()}` };
  }
}

/** What a schema wants, in words an installer can act on. */
function describe(schema: unknown): string {
  if (!isObject(schema)) return 'a value';
  const note = typeof schema.description === 'string' ? schema.description : undefined;
  const withNote = (base: string) => (note ? `${base} (${note})` : base);
  if (Array.isArray(schema.oneOf) && isObject(schema.discriminator)) {
    const tag = String(schema.discriminator.propertyName);
    return `an object with ${tag} ${orList(schema.oneOf.map((b) => String(tagOf(b as Json, tag))))}`;
  }
  if (Array.isArray(schema.anyOf)) return withNote(orList(schema.anyOf.map(describe)));
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map(String).join(', ')}`;
  if ('const' in schema) return withNote(JSON.stringify(schema.const));
  switch (schema.type) {
    case 'string':
      if (typeof schema.pattern === 'string') return note ?? `text matching /${schema.pattern}/`;
      return withNote(Number(schema.minLength ?? 0) > 0 ? 'a non-empty string' : 'a string');
    case 'integer':
      return `an integer${range(schema)}`;
    case 'number':
      return `a number${range(schema)}`;
    case 'boolean':
      return 'true or false';
    case 'array': {
      const min = Number(schema.minItems ?? 0);
      return withNote(min > 0 ? `a list of at least ${min} ${min === 1 ? 'entry' : 'entries'}` : 'a list');
    }
    case 'object':
      return withNote('an object');
    default:
      return note ?? 'a value';
  }
}

function range(s: Json): string {
  const low = typeof s.minimum === 'number' ? s.minimum : undefined;
  const high = typeof s.maximum === 'number' ? s.maximum : undefined;
  const above = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : undefined;
  const below = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : undefined;
  if (low !== undefined && high !== undefined) return ` from ${low} to ${high}`;
  const parts: string[] = [];
  if (low !== undefined) parts.push(`of at least ${low}`);
  if (above !== undefined) parts.push(`above ${above}`);
  if (high !== undefined) parts.push(`at most ${high}`);
  if (below !== undefined) parts.push(`below ${below}`);
  return parts.length ? ' ' + parts.join(' and ') : '';
}

function orList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** A value as the person wrote it; secrets show their kind only, URLs lose their credentials. */
function show(value: unknown, path: Segment[]): string {
  if (value === null || value === undefined) return 'nothing (an empty value)';
  const kind = Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  if (isSecretPath(path)) return `${kind} (not shown)`;
  if (typeof value === 'string') {
    const text = scrubCredentials(value);
    return JSON.stringify(text.length > 60 ? text.slice(0, 57) + '...' : text);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  return kind;
}

function isSecretPath(path: Segment[]): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && /^(password|passwd|secret|token)$/i.test(last);
}

/** A suggestion for a misspelt field, only when it is clearly close. */
function closest(name: string, options: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const option of options) {
    const d = editDistance(name.toLowerCase(), option);
    if (d < bestDistance) [best, bestDistance] = [option, d];
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/* ------------------------------------------------------------------ semantic rules */

/**
 * Rules a schema cannot say. They read the data defensively, so that they can run even when the
 * schema found problems elsewhere: an installer should see every problem in one pass.
 */
function semanticIssues(data: unknown): Issue[] {
  if (!isObject(data)) return [];
  const issues: Issue[] = [];
  const box = isObject(data.box) ? data.box : {};
  const legal = legalMinimumDays({ box: { designated_site: box.designated_site === true } } as Config);
  const why = box.designated_site === true ? ' (box.designated_site is true)' : '';
  const storage = isObject(data.storage) ? data.storage : {};
  const boxRetention = isObject(storage.retention) ? storage.retention : {};
  const cameras = Array.isArray(data.cameras) ? data.cameras : [];

  retentionIssues(issues, ['storage', 'retention'], boxRetention, {}, legal, why);
  const seen = new Map<string, number>();
  cameras.forEach((camera, i) => {
    if (!isObject(camera)) return;
    if (typeof camera.id === 'string') {
      const first = seen.get(camera.id);
      if (first === undefined) seen.set(camera.id, i);
      else {
        issues.push({
          path: ['cameras', i, 'id'],
          text: `duplicate camera id ${JSON.stringify(camera.id)} (also cameras[${first}].id); expected an id no other camera uses`,
        });
      }
    }
    if (isObject(camera.retention)) {
      retentionIssues(issues, ['cameras', i, 'retention'], camera.retention, boxRetention, legal, why);
    }
    if (isObject(camera.source)) secretIssues(issues, ['cameras', i, 'source'], camera.source);
  });

  const redaction = isObject(data.redaction) ? data.redaction : {};
  if (Array.isArray(redaction.detectors)) detectorIssues(issues, redaction.detectors);

  if (isObject(data.mqtt)) {
    const mqtt = data.mqtt;
    secretIssues(issues, ['mqtt'], mqtt);
    if (mqtt.cert_file !== undefined && mqtt.key_file === undefined) {
      issues.push({ path: ['mqtt', 'key_file'], text: 'missing while cert_file is set; expected both cert_file and key_file for a client certificate, or neither' });
    }
    if (mqtt.key_file !== undefined && mqtt.cert_file === undefined) {
      issues.push({ path: ['mqtt', 'cert_file'], text: 'missing while key_file is set; expected both cert_file and key_file for a client certificate, or neither' });
    }
  }
  if (isObject(data.http)) httpIssues(issues, data.http);
  return issues;
}

/**
 * The page and the metrics are for people and scrapers on the site, never for the whole
 * network by accident: plain HTTP binds to loopback unless the config says why it may not.
 */
function httpIssues(issues: Issue[], http: Json): void {
  const tls = http.cert_file !== undefined && http.key_file !== undefined;
  if (http.cert_file !== undefined && http.key_file === undefined) {
    issues.push({ path: ['http', 'key_file'], text: 'missing while cert_file is set; expected both cert_file and key_file for HTTPS, or neither' });
  }
  if (http.key_file !== undefined && http.cert_file === undefined) {
    issues.push({ path: ['http', 'cert_file'], text: 'missing while key_file is set; expected both cert_file and key_file for HTTPS, or neither' });
  }
  const excused = typeof http.plain_http_reason === 'string' && http.plain_http_reason.trim() !== '';
  const seen = new Map<string, string>();
  for (const key of ['listen', 'metrics_listen']) {
    if (typeof http[key] !== 'string') continue;
    let at: ListenAddress;
    try {
      at = parseListen(http[key] as string);
    } catch {
      continue; // the schema's pattern already said so
    }
    if (at.port > 65535) {
      issues.push({ path: ['http', key], text: `port ${at.port} does not exist; expected a port from 1 to 65535 (0: any free port)` });
      continue;
    }
    if (!tls && !excused && !isLoopback(at.host)) {
      issues.push({ path: ['http', key], text: `${at.host} is reachable from the network and there is no TLS; expected a loopback address (127.0.0.1), cert_file and key_file for HTTPS, or http.plain_http_reason saying why plain HTTP is acceptable here` });
    }
    const id = `${at.host}:${at.port}`;
    if (at.port !== 0 && seen.has(id)) {
      issues.push({ path: ['http', key], text: `the same address as http.${seen.get(id)}; expected another port for the metrics` });
    }
    seen.set(id, key);
  }
}

const BUILT_IN_DETECTORS = ['blazeface', 'ppocr-det'];

/** Names identify detectors in manifests and schedules; a boxes output must say where its score is. */
function detectorIssues(issues: Issue[], detectors: unknown[]): void {
  const seen = new Map<string, number>();
  detectors.forEach((d, i) => {
    if (!isObject(d)) return;
    const at: Segment[] = ['redaction', 'detectors', i];
    if (typeof d.name === 'string') {
      const first = seen.get(d.name);
      if (BUILT_IN_DETECTORS.includes(d.name)) {
        issues.push({ path: [...at, 'name'], text: `${JSON.stringify(d.name)} is a built-in detector (switch it with redaction.faces or redaction.plates); expected another name` });
      } else if (first !== undefined) {
        issues.push({ path: [...at, 'name'], text: `duplicate detector name ${JSON.stringify(d.name)} (also redaction.detectors[${first}].name); expected a name no other detector uses` });
      } else seen.set(d.name, i);
    }
    const out = isObject(d.output) ? d.output : undefined;
    if (out?.format !== 'boxes') return;
    if (out.score_at === undefined && out.classes_at === undefined) {
      issues.push({ path: [...at, 'output', 'score_at'], text: 'missing; expected the row index of the score, or classes_at for per-class scores (or both: objectness times class score)' });
    }
    if (out.labels !== undefined && out.classes_at === undefined) {
      issues.push({ path: [...at, 'output', 'labels'], text: 'set without classes_at; expected classes_at (the row index of the first class score), or label instead of labels for a one-class model' });
    }
  });
}

/**
 * The law asks for at least 30 days (90 on designated sites). Going below is sometimes right
 * (a camera on a private area, a site under another rule), but only on purpose and on record:
 * `below_legal_minimum_reason` is that record, and the only way past this check.
 */
function retentionIssues(issues: Issue[], at: Segment[], own: Json, inherited: Json, legal: number, why: string): void {
  const where = formatPath(at);
  const excused = typeof own.below_legal_minimum_reason === 'string' && own.below_legal_minimum_reason.trim() !== '';
  const fix = `expected at least ${legal}, or set ${where}.below_legal_minimum_reason to record why`;
  const min = num(own.min_days);
  const max = num(own.max_days);
  if (min !== undefined && min < legal && !excused) {
    issues.push({ path: [...at, 'min_days'], text: `${min} days is below the legal minimum of ${legal} days${why}; ${fix}` });
  }
  if (max !== undefined && max < legal && !excused) {
    issues.push({
      path: [...at, 'max_days'],
      text: `${max} days is below the legal minimum of ${legal} days${why}: recordings would be deleted too early; ${fix}`,
    });
  }
  // a camera may set only one bound; compare with what it inherits from storage.retention
  const effMin = min ?? num(inherited.min_days);
  const effMax = max ?? num(inherited.max_days);
  if (effMin !== undefined && effMax !== undefined && effMin > effMax && (min !== undefined || max !== undefined)) {
    const maxFrom = max !== undefined ? 'max_days' : 'max_days from storage.retention';
    const minFrom = min !== undefined ? '' : ' (from storage.retention)';
    issues.push({
      path: [...at, min !== undefined ? 'min_days' : 'max_days'],
      text: `min_days ${effMin}${minFrom} is more than ${maxFrom} ${effMax}; expected min_days <= max_days`,
    });
  }
}

function secretIssues(issues: Issue[], at: Segment[], holder: Json): void {
  if (holder.password !== undefined && holder.password_file !== undefined) {
    issues.push({ path: [...at, 'password'], text: 'both password and password_file are set; expected only one of them (prefer password_file)' });
  }
}

/* ------------------------------------------------------------------ paths and output */

/** `/cameras/2/source/url` -> ['cameras', 2, 'source', 'url'], indexes only where data is a list. */
function pointerToPath(pointer: string, root: unknown): Segment[] {
  if (pointer === '') return [];
  const path: Segment[] = [];
  let node = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(key)) {
      path.push(Number(key));
      node = node[Number(key)];
    } else {
      path.push(key);
      node = isObject(node) ? node[key] : undefined;
    }
  }
  return path;
}

export function formatPath(path: Segment[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((s, i) => {
      if (typeof s === 'number') return `[${s}]`;
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) return `[${JSON.stringify(s)}]`;
      return i === 0 ? s : `.${s}`;
    })
    .join('');
}

function comparePaths(a: Segment[], b: Segment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

/** Ordered by path (stable, so a path's issues keep their order), one line each, no repeats. */
function render(issues: Issue[]): string[] {
  const sorted = [...issues].sort((a, b) => comparePaths(a.path, b.path));
  return [...new Set(sorted.map((i) => `${formatPath(i.path)}: ${i.text}`.replace(/\s*\n\s*/g, ' ')))];
}

/* ------------------------------------------------------------------ small helpers */

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a parent is not a directory',
  };
  return e.code ? `${e.code}: ${reasons[e.code] ?? e.message}` : String(e.message ?? err);
}
