import { EXIT } from '../args.js';

/** Not built yet: see the open issue that owns `edge-nvr audit`. */
export async function run(): Promise<number> {
  process.stderr.write('edge-nvr audit: not available in this build yet\n');
  return EXIT.failure;
}
