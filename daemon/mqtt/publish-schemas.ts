/**
 * Writes the JSON Schemas of every MQTT payload (docs/mqtt/*.schema.json) from the TypeBox
 * source in payloads.ts. Usage: node dist/daemon/mqtt/publish-schemas.js [dir]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PUBLISHED_SCHEMAS, schemaJson } from './payloads.js';

export const DEFAULT_DIR = 'docs/mqtt';

export function publishMqttSchemas(dir = DEFAULT_DIR): string[] {
  mkdirSync(resolve(dir), { recursive: true });
  return Object.entries(PUBLISHED_SCHEMAS).map(([name, schema]) => {
    const path = join(resolve(dir), name);
    writeFileSync(path, schemaJson(schema));
    return path;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const p of publishMqttSchemas(process.argv[2])) process.stdout.write(`wrote ${p}\n`);
}
