/**
 * Compiles the MQTT command validators ahead of time into
 * daemon/mqtt/command-validators.generated.ts (ajv's standalone code for the request envelope and
 * each command's args), so that a daemon with a broker neither builds the TypeBox payload schemas
 * nor runs ajv's compiler at start (about a second on this build machine under load).
 * Usage: node dist/daemon/mqtt/compile-command-validators.js [out]; `npm run schema` runs it.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import { standaloneModule } from '../../config/compile-validator.js';
import { COMMAND_NAMES } from './command-names.js';
import { CommandArgs, CommandRequest } from './payloads.js';

export const DEFAULT_OUT = 'daemon/mqtt/command-validators.generated.ts';

/** The module's source: `request`, and `<name>Args` per command validating its args (`export` is a reserved word). */
export function commandValidatorsModule(): string {
  // the options the command path validated with when it compiled at run time: the first error only
  const ajv = new Ajv({ allErrors: false, strict: false, code: { source: true, esm: true, lines: true } });
  const plain = (schema: object, id: string) => ({ ...JSON.parse(JSON.stringify(schema)) as object, $id: id });
  ajv.addSchema(plain(CommandRequest, 'request'));
  for (const name of COMMAND_NAMES) ajv.addSchema(plain(CommandArgs[name], `args/${name}`));
  const exports = Object.fromEntries([['request', 'request'], ...COMMAND_NAMES.map((n) => [`${n}Args`, `args/${n}`])]) as Record<string, string>;
  return standaloneModule(ajv, exports, { from: 'daemon/mqtt/payloads.ts', by: 'daemon/mqtt/compile-command-validators.ts', test: 'test/mqtt/contract.test.ts' });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = resolve(process.argv[2] ?? DEFAULT_OUT);
  writeFileSync(out, commandValidatorsModule());
  process.stdout.write(`wrote ${out}\n`);
}
