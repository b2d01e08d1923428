/**
 * Config problems for people: each one a path (`cameras[2].source.url`) and one line saying what
 * is wrong and what is expected, because the person reading it is an installer with a YAML file
 * open, not a developer. Schema errors and rule violations are both rendered here.
 */
import { scrubCredentials } from '../common/credentials.js';
import { isObject, type Json } from './json-value.js';

export type Segment = string | number;

export interface Issue {
  path: Segment[];
  text: string;
}

/** The literal `tag` an object branch requires, if it is a branch tagged by it. */
export function tagOf(branch: Json, tag: string): string | undefined {
  const props = branch.properties;
  const required = branch.required;
  if (!isObject(props) || !Array.isArray(required) || !required.includes(tag)) return undefined;
  const value = props[tag];
  return isObject(value) && typeof value.const === 'string' ? value.const : undefined;
}

/** What a schema wants, in words an installer can act on. */
export function describe(schema: unknown): string {
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
      return withNote((Number(schema.minLength ?? 0) > 0 ? 'a non-empty string' : 'a string') + (typeof schema.maxLength === 'number' ? ` of at most ${schema.maxLength} characters` : ''));
    case 'integer':
      return `${schema.multipleOf === 2 ? 'an even integer' : 'an integer'}${range(schema)}`;
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
export function show(value: unknown, path: Segment[]): string {
  if (value === null || value === undefined) return 'nothing (an empty value)';
  const kind = Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  if (isSecretPath(path)) return `${kind} (not shown)`;
  if (typeof value === 'string') {
    const text = hideUserinfo(scrubCredentials(value));
    return JSON.stringify(text.length > 60 ? text.slice(0, 57) + '...' : text);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  return kind;
}

/**
 * A value a config refuses is often a URL gone wrong, and a URL gone wrong may still carry a
 * password: `admin:pw@10.0.0.5`, `rtsp:/admin:pw@cam`, `rtsp://admin:pa/ss@cam`, a password with a
 * space. scrubCredentials needs a well-formed `scheme://`; here everything before the last `@` goes,
 * the scheme kept: `rtsp:/***@cam`.
 */
function hideUserinfo(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const scheme = /^[a-z][a-z0-9+.-]*:\/+/i.exec(text)?.[0] ?? '';
  return `${scheme}***${text.slice(at)}`;
}

function isSecretPath(path: Segment[]): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && /^(password|passwd|secret|token)$/i.test(last);
}

/** A suggestion for a misspelt field, only when it is clearly close. */
export function closest(name: string, options: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const option of options) {
    const d = editDistance(name.toLowerCase(), option);
    if (d < bestDistance) [best, bestDistance] = [option, d];
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 4)) ? best : undefined;
}

/** Edits between two names, two neighbours swapped counting as one ("recrod" is 1 from "record": optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
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
export function render(issues: Issue[]): string[] {
  const sorted = [...issues].sort((a, b) => comparePaths(a.path, b.path));
  return [...new Set(sorted.map((i) => `${formatPath(i.path)}: ${i.text}`.replace(/\s*\n\s*/g, ' ')))];
}

