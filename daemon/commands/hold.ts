import { liftHold, placeHold } from '../../recorder/catalog/holds.js';
import { isoTime } from '../../common/human.js';
import { EXIT, parseCommand, parseReason, UsageError, print, printJson } from '../args.js';
import { cliActor } from '../audit-trail.js';
import { dataDirAndCameras, dataDirOptions, openCatalogForWriting, openCatalogReadOnly, parseTime } from './data-dir.js';

export const spec = {
  name: 'hold',
  summary: 'Legal holds: recordings under an active hold are never deleted, by age or for space, until the hold is released.',
  usage: 'hold add --camera ID|--all-cameras --from TIME --to TIME --reason TEXT [--by NAME] | hold list [--all] [--json] | hold release ID [--by NAME]',
  options: {
    camera: { type: 'string' }, 'all-cameras': { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' },
    reason: { type: 'string' }, by: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' }, ...dataDirOptions.options,
  },
  help: {
    camera: 'the camera held', 'all-cameras': 'hold every camera', from: 'start of the held range (ISO 8601 or epoch ms)', to: 'end of the held range',
    reason: 'why (case number, request): kept with the hold', by: 'on whose behalf (kept beside the unix user running the command, or the sudo user)',
    all: 'list released holds too', json: 'print JSON', ...dataDirOptions.help,
  },
  positionals: 2,
} as const;


export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  const [action, id] = args.positionals;
  // a mistyped action is answered as such, before the config (maybe not at its default path) is read
  const unknownAction = () => new UsageError(`unknown action "${action}"; expected add, list or release`);
  if (action !== undefined && !['add', 'release', 'list'].includes(action)) throw unknownAction();
  const { dataDir, configured } = await dataDirAndCameras(v);
  switch (action) {
    case 'add': {
      if (!v.camera === !v['all-cameras']) throw new UsageError('hold add: give --camera ID or --all-cameras');
      const from = parseTime('from', v.from);
      const to = parseTime('to', v.to);
      if (from === undefined || to === undefined) throw new UsageError('hold add: --from and --to are required');
      if (to <= from) throw new UsageError('hold add: --to must be after --from');
      const reason = parseReason('hold add', v.reason, 'a case number or request reference');
      const catalog = openCatalogForWriting(dataDir);
      try {
        // a mistyped camera would be held in name only while retention deletes the recordings
        // meant: a camera counts if the config names it or the catalog has anything of it (one
        // removed from the config keeps its recordings), as for a hold asked over MQTT
        if (v.camera !== undefined && !configured.includes(v.camera) && !catalog.knowsCamera(v.camera)) {
          const known = [...new Set([...configured, ...catalog.knownCameras()])].sort();
          throw new UsageError(`hold add: no camera "${v.camera}" on this box (${known.length ? `cameras: ${known.join(', ')}` : 'none configured or recorded yet'}); check --camera`);
        }
        const hold = placeHold(catalog, { camera: v.camera ?? null, from_ms: from, to_ms: to, reason }, cliActor(v.by));
        if (v.json) printJson(hold);
        else print(`hold ${hold.id} added: ${hold.camera ?? 'all cameras'} ${isoTime(from)} .. ${isoTime(to)}\n`);
        return EXIT.ok;
      } finally {
        catalog.close();
      }
    }
    case 'release': {
      if (!id || !/^\d+$/.test(id)) throw new UsageError('hold release: give the hold id (see `edge-nvr hold list`)');
      const catalog = openCatalogForWriting(dataDir);
      try {
        const before = catalog.holds(true).find((h) => h.id === Number(id));
        if (!before) throw new UsageError(`hold release: there is no hold ${id}`);
        if (before.released_ms !== null) throw new UsageError(`hold release: hold ${id} was already released at ${isoTime(before.released_ms)}`);
        const hold = liftHold(catalog, Number(id), cliActor(v.by))!;
        if (v.json) printJson(hold);
        else print(`hold ${id} released; its recordings follow normal retention again\n`);
        return EXIT.ok;
      } finally {
        catalog.close();
      }
    }
    case 'list':
    case undefined: {
      const catalog = openCatalogReadOnly(dataDir);
      try {
        const holds = catalog.holds(v.all ?? false);
        if (v.json) {
          printJson({ holds }, 2);
        } else {
          print(holds.length === 0 ? 'no active holds\n' : holds.map((h) =>
            `${String(h.id).padStart(4)}  ${(h.camera ?? '(all)').padEnd(12)} ${isoTime(h.from_ms)} .. ${isoTime(h.to_ms)}  by ${h.created_by}  ${h.released_ms ? `released ${isoTime(h.released_ms)}` : 'active'}  ${h.reason}`).join('\n') + '\n');
        }
        return EXIT.ok;
      } finally {
        catalog.close();
      }
    }
    default:
      throw unknownAction();
  }
}
