import { EXIT } from '../args.js';

/** Not built yet: see the open issue that owns `edge-nvr probe`. */
export async function run(): Promise<number> {
  process.stderr.write('edge-nvr probe: not available in this build yet\n');
  return EXIT.failure;
}
