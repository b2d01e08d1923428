/**
 * `edge-nvr checkpoint`: the newest signed checkpoint as one JSON line, byte for byte the
 * payload the box publishes on `<prefix>/checkpoint`. When the chains moved since the newest
 * stored one, a new one is signed first (that needs write access to the catalog and the key:
 * run it as the service user or root); without it, the newest stored one is printed with a
 * warning that it is older than the chains, and the exit code is 1.
 */
import { Catalog } from '../../recorder/catalog/catalog.js';
import { CHAINS, parseCheckpoint, signatureValid, takeCheckpoint, type Checkpoint } from '../../recorder/catalog/checkpoint.js';
import { isoTime } from '../../common/human.js';
import { EXIT, parseCommand, print, printError } from '../args.js';
import { cliActor } from '../audit-trail.js';
import { BOX_ID_META } from '../catalog-meta.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

export const spec = {
  name: 'checkpoint',
  summary: 'Print the newest signed checkpoint of every chain (one JSON line, the MQTT <prefix>/checkpoint payload), signing a new one when the chains moved. Keep them off the box: they are the anchors of `verify --anchors`.',
  usage: 'checkpoint [--json] [--config FILE | --data DIR]',
  options: { json: { type: 'boolean' }, ...dataDirOptions.options },
  help: { json: 'the output is the JSON line either way (accepted for symmetry with other commands)', ...dataDirOptions.help },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const dataDir = await dataDirFrom(args.values);
  openCatalogReadOnly(dataDir).close(); // a clear error when there is no catalog
  let catalog: Catalog;
  try {
    catalog = Catalog.open(dataDir);
  } catch (err) {
    return printStored(dataDir, `cannot open the catalog for writing (${(err as Error).message})`);
  }
  try {
    const box = catalog.getMeta(BOX_ID_META) ?? 'unconfigured';
    const taken = takeCheckpoint(catalog, dataDir, box, 'cli', cliActor());
    print(taken.line + '\n');
    return EXIT.ok;
  } catch (err) {
    catalog.close();
    return printStored(dataDir, `cannot sign a new checkpoint (${(err as Error).message})`);
  } finally {
    if (catalog.db.open) catalog.close();
  }
}

function printStored(dataDir: string, why: string): number {
  const catalog = openCatalogReadOnly(dataDir);
  try {
    const newest = catalog.newestCheckpoint();
    if (!newest) {
      printError(`edge-nvr checkpoint: ${why}, and no checkpoint is stored yet\n`);
      return EXIT.failure;
    }
    const heads = catalog.chainHeads();
    // printed as an anchor for a platform to keep: only one that holds its signature
    let c: Checkpoint;
    try {
      c = parseCheckpoint(newest.payload);
      if (!signatureValid(c)) throw new Error('its signature does not hold (altered)');
    } catch (err) {
      printError(`edge-nvr checkpoint: ${why}, and the newest stored checkpoint (#${newest.id}) is not one to keep: ${(err as Error).message}; run \`edge-nvr verify\`\n`);
      return EXIT.failure;
    }
    const behind = CHAINS.filter((n) => c.chains[n].length !== heads[n].length || c.chains[n].head !== heads[n].head);
    if (behind.length) printError(`edge-nvr checkpoint: ${why}; printing the newest stored one (${isoTime(c.at_ms)}), which the ${behind.join(', ')} chain(s) moved past\n`);
    print(newest.payload + '\n');
    // still an anchor of what the chains were then, but not of now: a platform's script that
    // keeps what this prints must hear it (it exited 0, and a stale head was anchored for ever
    // while the key could not be read: an outside probe)
    return behind.length ? EXIT.failure : EXIT.ok;
  } finally {
    catalog.close();
  }
}
