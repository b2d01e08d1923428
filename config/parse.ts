/**
 * Config text to data: YAML (with line and column in every error), then the schema with its
 * defaults filled in. What does not fit becomes issues; the rules that a schema cannot say are
 * in rules.ts.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './errors.js';
import { closest, describe, show, tagOf, type Issue, type Segment } from './issues.js';
import { isObject, type Json } from './json-value.js';
import { validate as generatedValidator } from './validate.generated.js';

export function parseYaml(text: string, source: string): unknown {
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
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // aliases of aliases that would expand past what any config holds (a "billion laughs"): a
    // bad config (exit 2, the old config kept on reload), not a runtime failure without a file name
    throw new ConfigError(source, [`(top level): ${(err as Error).message.replace(/[.:]\s*$/, '')}; expected at most 100 uses of anchors (*name) in all, each expanded`]);
  }
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

