import { isoTime } from '../../common/human.js';
import { shownUpload, UploadQueue, type ShownUpload } from '../../recorder/catalog/uploads.js';
import { EXIT, parseCommand, print, printJson } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

const SHOWN = 1000;

export const spec = {
  name: 'uploads',
  summary: 'List the deliveries to a platform that MQTT commands asked for (upload_url), newest first: state (pending, sending, done, failed), attempts, '
    + 'the next attempt or the last error, and the destination without its query (a pre-signed signature is never shown).',
  usage: 'uploads [--all] [--json] [--config FILE | --data DIR]',
  options: { all: { type: 'boolean' }, json: { type: 'boolean' }, ...dataDirOptions.options },
  help: { all: `every upload (without it: those not finished and the newest ${SHOWN} others)`, json: 'print JSON', ...dataDirOptions.help },
} as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const catalog = openCatalogReadOnly(await dataDirFrom(args.values));
  let uploads: ShownUpload[] = [];
  let leftOut = 0;
  try {
    if (catalog.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'uploads'").get()) {
      const listed = new UploadQueue(catalog).list(args.values.all ? null : SHOWN);
      uploads = listed.rows.map(shownUpload);
      leftOut = listed.leftOut;
    }
  } finally {
    catalog.close();
  }
  if (args.values.json) {
    printJson({ uploads, left_out: leftOut }, 2);
    return EXIT.ok;
  }
  if (!uploads.length) {
    print('no uploads asked for\n');
    return EXIT.ok;
  }
  for (const u of uploads) {
    const detail = u.state === 'pending' ? `next ${isoTime(u.next_attempt_ms)}${u.last_error ? `; last error: ${u.last_error}` : ''}`
      : u.state === 'done' ? `${u.bytes} B sha256 ${u.sha256}` : u.state === 'failed' ? `given up: ${u.last_error}` : 'under way';
    print(`#${u.id} ${u.state.padEnd(8)} ${u.kind.padEnd(9)} ${isoTime(u.created_ms)} by ${u.requested_by}, ${u.attempts} attempt(s) -> ${u.destination}\n    ${u.source}: ${detail}\n`);
  }
  if (leftOut) print(`${leftOut} older finished upload(s) not shown: --all lists every one\n`);
  return EXIT.ok;
}
