/**
 * `edge-nvr tamper reset --camera C --reason R`: the camera's view as it is now becomes normal.
 * Its reference is retired and its identity pins (device, stream) forgotten, so the running
 * daemon learns the view again and pins what it sees next; what view analysis had raised is
 * cleared. Audited: who, when, why. `tamper show` prints what the box knows of each view.
 */
import { Catalog } from '../../recorder/catalog/catalog.js';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { EXIT, parseCommand, parseReason, UsageError, print, printJson } from '../args.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

export const spec = {
  name: 'tamper',
  summary: "Camera tamper detection: reset a camera's reference of its normal view and identity (audited), or show what the box knows.",
  usage: 'tamper reset --camera ID --reason TEXT [--by NAME] [--json] | tamper show [--camera ID] [--json]',
  options: { camera: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, json: { type: 'boolean' }, ...dataDirOptions.options },
  help: {
    camera: 'the camera', reason: 'why its view or device changed on purpose (re-aimed, replaced, new lens): kept in the audit log',
    by: 'who (default: $SUDO_USER or $USER)', json: 'print JSON', ...dataDirOptions.help,
  },
  positionals: 1,
} as const;

const who = (by?: string) => by ?? process.env.SUDO_USER ?? process.env.USER ?? 'unknown';
const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString());

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  const [action] = args.positionals;
  const dataDir = await dataDirFrom(v);
  switch (action) {
    case 'reset': {
      if (!v.camera) throw new UsageError('tamper reset: --camera is required');
      const reason = parseReason('tamper reset', v.reason, 'why the view or the device changed on purpose');
      openCatalogReadOnly(dataDir).close(); // a clear error when there is no catalog at all
      const catalog = Catalog.open(dataDir);
      try {
        if (!catalog.knowsCamera(v.camera)) throw new UsageError(`tamper reset: no camera "${v.camera}" in ${dataDir} (see edge-nvr status)`);
        const before = catalog.activeViewReference(v.camera);
        const pins = catalog.cameraIdentity(v.camera);
        const by = who(v.by);
        const retired = catalog.retireViewReferences(v.camera, by, reason);
        const cleared = catalog.clearIdentity(v.camera);
        appendAudit(catalog, {
          actor: by, action: 'tamper.reset', camera: v.camera, reason,
          details: { retired_reference: before ? { id: before.id, created_ms: before.created_ms } : null, forgotten_identity: pins ?? null },
        });
        const result = { camera: v.camera, retired_references: retired, reference_learned_ms: before?.created_ms ?? null, identity_cleared: cleared, identity: pins ?? null };
        if (v.json) printJson(result);
        else print(`${v.camera}: ${retired ? `reference of ${iso(before?.created_ms)} retired` : 'no reference to retire'}; ${cleared ? 'identity pins forgotten' : 'no identity pinned'}. `
            + 'The daemon learns the normal view again (tamper.learn_s) and pins the device and stream it sees next.\n');
        return EXIT.ok;
      } finally {
        catalog.close();
      }
    }
    case 'show':
    case undefined: {
      const catalog = openCatalogReadOnly(dataDir);
      try {
        // read-only: a catalog written by an edge-nvr older than tamper detection has no such tables
        if (!catalog.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'camera_view'").get()) {
          if (v.json) printJson({ cameras: [] });
          else print('no camera view watched yet (the catalog predates tamper detection)\n');
          return EXIT.ok;
        }
        // a mistyped camera read as one still learning its view, exit 0: answered as reset answers it
        if (v.camera && !catalog.knowsCamera(v.camera)) throw new UsageError(`tamper show: no camera "${v.camera}" in ${dataDir} (see edge-nvr status)`);
        const cameras = v.camera ? [v.camera] : (catalog.db.prepare(`SELECT camera FROM camera_view UNION SELECT camera FROM view_references
          UNION SELECT camera FROM camera_identity ORDER BY camera`).all() as Array<{ camera: string }>).map((r) => r.camera);
        const rows = cameras.map((camera) => {
          const view = catalog.cameraView(camera);
          const ref = catalog.activeViewReference(camera);
          return {
            camera,
            view: view ? JSON.parse(view.view) as Record<string, unknown> : null,
            stream: view?.stream ? JSON.parse(view.stream) as Record<string, unknown> : null,
            reference: ref ? { id: ref.id, learned_ms: ref.created_ms } : null,
            identity: catalog.cameraIdentity(camera) ?? null,
          };
        });
        if (v.json) printJson({ cameras: rows }, 2);
        else {
          print(rows.length === 0 ? 'no camera view watched yet\n' : rows.map((r) => [
            `${r.camera}: view ${r.view ? `${String(r.view.state)}${(r.view.kinds as string[]).length ? ` (${(r.view.kinds as string[]).join(', ')})` : ''}` : 'unknown'}`
              + `; reference ${r.reference ? `learned ${iso(r.reference.learned_ms)}` : 'none (learning)'}`,
            `  identity: ${r.identity ? `serial ${r.identity.serial ?? '-'}, hardware ${r.identity.hardware_id ?? '-'}, ${r.identity.manufacturer ?? '-'} ${r.identity.model ?? '-'}; `
              + `stream ${r.identity.codec ?? '-'} ${r.identity.width ?? '-'}x${r.identity.height ?? '-'} (pinned ${iso(r.identity.pinned_ms)})` : 'nothing pinned'}`,
          ].join('\n')).join('\n') + '\n');
        }
        return EXIT.ok;
      } finally {
        catalog.close();
      }
    }
    default:
      throw new UsageError(`tamper: unknown action "${action}"; expected reset or show`);
  }
}
