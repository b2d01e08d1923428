import { EXIT } from '../args.js';

/** Not built yet: see the open issue that owns `edge-nvr snapshot`. */
export async function run(): Promise<number> {
  process.stderr.write('edge-nvr snapshot: not available in this build yet\n');
  return EXIT.failure;
}
