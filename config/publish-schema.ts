/**
 * Writes the JSON Schema of the config (docs/config.schema.json) for editors and platforms that
 * generate configs. Usage: node dist/config/publish-schema.js [out]
 *
 * The output is byte-stable (keywords sorted, fields in declaration order, 2-space JSON, final
 * newline), so a test can compare the committed file with a fresh rendering and catch drift.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Config } from './schema.js';

export const DEFAULT_OUT = 'docs/config.schema.json';

const FIRST = ['$schema', '$id', 'title', 'description', 'type'];
/** keywords whose members are names the author ordered (fields), not schema keywords */
const NAMED = new Set(['properties', 'patternProperties', '$defs', 'definitions']);

function stable(value: unknown, keepOrder = false): unknown {
  if (Array.isArray(value)) return value.map((v) => stable(v));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  if (!keepOrder) {
    const rank = (k: string) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
    entries.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, stable(v, !keepOrder && NAMED.has(k))]));
}

/**
 * TypeBox lists fields with a default as required (they always are, once loaded); a person
 * writing the file may leave them out, so the published schema does not require them.
 */
function optionalDefaults(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(optionalDefaults);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = optionalDefaults(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props) {
    const required = out.required.filter((name: string) => props[name]?.default === undefined);
    if (required.length) out.required = required;
    else delete out.required;
  }
  return out;
}

/** The published schema as text. JSON round-trip drops TypeBox's symbol-keyed hints. */
export function configSchemaJson(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...(JSON.parse(JSON.stringify(Config)) as Record<string, unknown>) };
  return JSON.stringify(stable(optionalDefaults(schema)), null, 2) + '\n';
}

export function publishSchema(out = DEFAULT_OUT): string {
  const path = resolve(out);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, configSchemaJson());
  return path;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.stdout.write(`wrote ${publishSchema(process.argv[2])}\n`);
}
