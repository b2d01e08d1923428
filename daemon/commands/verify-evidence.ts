/** `edge-nvr verify-evidence`: the offline verifier (evidence/verify-cli.ts), the same code a
 * laptop runs with `node dist/evidence/verify-cli.js`. It reads no config and no data dir. */
import { verifyEvidenceMain } from '../../evidence/verify-cli.js';
import { print, printError } from '../args.js';

export async function run(argv: string[]): Promise<number> {
  return verifyEvidenceMain(argv, print, printError);
}
