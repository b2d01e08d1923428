/**
 * Config text to data: YAML (with line and column in every error), then the schema with its
 * defaults filled in. What does not fit becomes issues; the rules that a schema cannot say are
 * in rules.ts.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ConfigError } from './errors.js';
import { closest, describe, render, show, tagOf, type Issue, type Segment } from './issues.js';
import { isObject, type Json } from './json-value.js';
import { validate as generatedValidator } from './validate.generated.js';

export function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  // prettyErrors would add multi-line source excerpts; issues must be single lines
  // merge keys (`<<: *defaults`) let a site share settings between many cameras
  // resolveKnownTags: false: `!!binary`, `!!set`, `!!omap`, `!!timestamp` would make values no
  // setting takes (an omap's settings were silently dropped); they become unknown tags, refused
  // logLevel 'error': the library's own warnings would print extra lines on stderr
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, resolveKnownTags: false, logLevel: 'error' });
  const at = (pos: number) => {
    const { line, col } = lineCounter.linePos(pos);
    return `line ${line}, column ${col}`;
  };
  if (doc.errors.length > 0) {
    // one mistake often trips several checks at the same place: the first says it best; a
    // nesting too deep for the reader overflows at every level it unwinds: once is enough
    const overflow = doc.errors.find((e) => /call stack/i.test(e.message));
    const seen = new Set<number>();
    const lines: string[] = [];
    for (const e of overflow ? [overflow] : doc.errors) {
      if (seen.has(e.pos[0])) continue;
      seen.add(e.pos[0]);
      lines.push(`${at(e.pos[0])}: ${yamlErrorText(e.code, e.message)}`);
    }
    throw new ConfigError(source, [...new Set(lines)]);
  }
  // a tag the library does not know (`!!js/function`, `!!binary`, `!secret`) would be read as
  // plain text or dropped: refused, so that nothing in the file means something it does not say
  const tags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tags.length > 0) {
    throw new ConfigError(
      source,
      // The tag itself is never shown: a password that starts with "!" is read as a tag, and its
      // text went into the error, and from a reload into the journal, the MQTT reply and the audit log.
      tags.map((w) => `${at(w.pos[0])}: ${UNQUOTED_SIGIL('a YAML tag', '!')}`),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = (err as Error).message.replace(/[.:]\s*$/, '');
    if (/call stack/i.test(message)) throw new ConfigError(source, [`(top level): ${yamlErrorText('', message)}`]);
    if (/alias count/i.test(message)) {
      // aliases of aliases that would expand past what any config holds (a "billion laughs"): a
      // bad config (exit 2, the old config kept on reload), not a runtime failure without a file name
      throw new ConfigError(source, [`(top level): ${message}; expected at most 100 uses of anchors (*name) in all, each expanded`]);
    }
    throw new ConfigError(source, [aliasProblem(doc, at) ?? `(top level): ${message}; expected aliases (*name) that name an anchor (&name) set before them, and merge keys (<<) that merge mappings`]);
  }
  const issues = plainValueIssues(data);
  if (issues.length > 0) throw new ConfigError(source, render(issues));
  return data;
}

/** What a value starting with `sigil` was read as, without its text (it may be a secret), and the fix. */
const UNQUOTED_SIGIL = (what: string, sigil: string) =>
  `${what} (a value starting with "${sigil}") cannot be read here; expected a plain value: quote a value that starts with "${sigil}" (a password, say: '${sigil}...'), or give the setting without the tag or alias`;

/** A YAML syntax error in words: what is wrong and what to do. */
function yamlErrorText(code: string, message: string): string {
  if (code === 'MULTIPLE_DOCS') return 'the file holds more than one YAML document; expected one (remove the second `---`)';
  if (code === 'DUPLICATE_KEY') return 'duplicate key: the same mapping already has it (map keys must be unique); expected each key once: remove or merge the repeated one';
  if (/call stack/i.test(message)) return 'nested too deeply for the YAML reader; expected the few levels a config has (check for runaway indentation, [ or {)';
  return `${message.replace(/\s+/g, ' ').replace(/[.:]\s*$/, '')}; expected valid YAML (check indentation and quoting)`;
}

/** Where an alias names no anchor before it, or a merge key (`<<`) is given something other than a mapping. */
function aliasProblem(doc: Document, at: (pos: number) => string): string | undefined {
  const anchors = new Set<string>();
  let problem: string | undefined;
  visit(doc, {
    Node(_, node) {
      if (problem !== undefined) return visit.BREAK;
      if (isAlias(node)) {
        // its name is never shown: a password that starts with "*" is read as an alias (as for tags)
        if (!anchors.has(node.source)) problem = `${at(node.range?.[0] ?? 0)}: ${UNQUOTED_SIGIL('an alias that names no anchor set before it', '*')}`;
        return undefined;
      }
      if (node.anchor) anchors.add(node.anchor);
      return undefined;
    },
    Pair(_, pair) {
      if (problem !== undefined) return visit.BREAK;
      if (isScalar(pair.key) && pair.key.source === '<<' && !isMap(pair.value) && !isAlias(pair.value) && !isSeq(pair.value)) {
        problem = `${at(pair.key.range?.[0] ?? 0)}: a merge key (<<) takes a mapping; expected <<: *name where &name is on a mapping`;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return problem;
}

/** No setting is deeper than this: below it the schema reports the place, nothing to look for here. */
const MAX_DEPTH = 64;

/**
 * What YAML can hold but no setting takes: numbers too large to be numbers (`1e309` and `.inf`
 * are Infinity, `.nan` is NaN, each passing a bare range check) and a NUL in a text (no path,
 * host or name holds one). Iterative: a deep file must not overflow the stack here either.
 */
function plainValueIssues(data: unknown): Issue[] {
  const issues: Issue[] = [];
  const stack: Array<{ value: unknown; path: Segment[] }> = [{ value: data, path: [] }];
  while (stack.length > 0 && issues.length < 100) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'number' && !Number.isFinite(value)) {
      issues.push({ path, text: `${String(value)} is not a usable number (1e309 and .inf are infinite, .nan is none); expected a finite number` });
    } else if (typeof value === 'string' && value.includes('\0')) {
      issues.push({ path, text: 'contains a NUL character (\\0); expected text without it' });
    } else if (typeof value === 'object' && value !== null) {
      if (path.length >= MAX_DEPTH) continue;
      if (Array.isArray(value)) value.forEach((v, i) => stack.push({ value: v, path: [...path, i] }));
      else for (const [k, v] of Object.entries(value)) stack.push({ value: v, path: [...path, k] });
    }
  }
  return issues;
}

/* ------------------------------------------------------------------ schema validation */

/**
 * The validator is ajv's code compiled ahead of time from schema.ts (`npm run schema`, see
 * compile-validator.ts): it fills defaults and returns ajv's errors (verbose: each carries its
 * parentSchema and data, which the messages are built from). Neither TypeBox nor ajv loads here.
 */
const validator = generatedValidator as unknown as ValidateFunction;

function validate(data: unknown): ErrorObject[] {
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

export function schemaIssues(data: unknown): Issue[] {
  const errors = validate(data);
  // anything under a failed anyOf/oneOf is a branch's complaint; the union speaks for itself,
  // unless the object clearly meant one branch (a mask with `points` is a polygon): then that
  // branch's own complaints say what to fix
  const failedUnions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const meant: Array<{ at: string; branch: string }> = [];
  for (const u of failedUnions) {
    const branch = meantBranch((u.parentSchema as Json | undefined)?.anyOf, u.data);
    if (branch !== undefined) meant.push({ at: u.instancePath, branch: `${u.schemaPath}/${branch}/` });
  }
  const within = (e: ErrorObject, at: string, schemaPrefix: string) =>
    (e.instancePath === at || e.instancePath.startsWith(at + '/')) && e.schemaPath.startsWith(schemaPrefix);
  const issues: Issue[] = [];
  for (const e of errors) {
    const isUnion = e.keyword === 'anyOf' || e.keyword === 'oneOf';
    if (isUnion && meant.some((m) => m.at === e.instancePath && m.branch.startsWith(e.schemaPath + '/'))) continue;
    const inMeant = meant.some((m) => within(e, m.at, m.branch));
    if (!inMeant && failedUnions.some((u) => u !== e && within(e, u.instancePath, u.schemaPath + '/'))) continue;
    const issue = describeError(e, data);
    if (issue) issues.push(issue);
  }
  return issues;
}

/** The one object branch of a union that names the most of the object's fields, if one does. */
function meantBranch(branches: unknown, data: unknown): number | undefined {
  if (!Array.isArray(branches) || !isObject(data)) return undefined;
  const keys = Object.keys(data);
  const scores = branches.map((b) => (isObject(b) && isObject(b.properties) ? keys.filter((k) => k in (b.properties as Json)).length : 0));
  const best = Math.max(0, ...scores);
  return best > 0 && scores.filter((x) => x === best).length === 1 ? scores.indexOf(best) : undefined;
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

