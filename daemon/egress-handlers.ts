import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { exportClip, takeSnapshot, type EgressResult } from '../redaction/egress.js';
import type { Daemon } from './daemon.js';
import { writeEvidenceBundle } from '../evidence/write-bundle.js';
import type { EgressHandlers } from './mqtt/commands.js';

/** Request ids come from outside: only a safe slice of one goes into a file name. */
export function exportPath(dataDir: string, kind: string, requestId: string, ext: string): string {
  const dir = join(dataDir, 'exports');
  mkdirSync(dir, { recursive: true });
  const safeId = requestId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 48) || 'request';
  return join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${kind}-${safeId}.${ext}`);
}

const reply = (r: EgressResult) => ({ ...r });

/** An evidence bundle's directory under `<data>/exports/`, named like the other exports. */
export function evidencePath(dataDir: string, requestId: string): string {
  return exportPath(dataDir, 'evidence', requestId, 'evidence');
}

/**
 * The MQTT `snapshot` and `export` commands go through the same egress gate as the CLI: the
 * redacted file and its signed manifest are written under `<data>/exports/`, and the reply
 * names them with their hashes. The gate audits each one; the command is audited besides.
 */
export function egressHandlers(daemon: Daemon, config: Config, log: Logger): Pick<EgressHandlers, 'snapshot' | 'export' | 'evidence'> {
  const ctx = () => ({ catalog: daemon.catalog!, dataDir: daemon.dataDir, config, log });
  return {
    snapshot: async (r) => {
      if (r.at_ms !== undefined) throw new Error('at_ms: snapshots of the past are not built yet; leave it out for the newest recording');
      return reply(await takeSnapshot(ctx(), {
        camera: r.camera, reason: r.reason, requester: r.actor, out: exportPath(daemon.dataDir, 'snapshot', r.request_id, 'jpg'),
      }));
    },
    export: async (r) => reply(await exportClip(ctx(), {
      camera: r.camera, fromMs: r.from_ms, toMs: r.to_ms, reason: r.reason, requester: r.actor,
      out: exportPath(daemon.dataDir, 'export', r.request_id, 'mp4'),
    })),
    evidence: async (r) => {
      const result = await writeEvidenceBundle(daemon.catalog!, daemon.dataDir, {
        camera: r.camera, fromMs: r.from_ms, toMs: r.to_ms, actor: r.actor, out: evidencePath(daemon.dataDir, r.request_id), boxId: config.box.id, via: 'mqtt',
        request: { agency: r.agency, officers: r.officers, approval: r.approval, reason: r.reason, destination: r.destination },
      }, (type, camera, data) => daemon.raise(type, camera, { ...data }));
      log.info({ out: result.out, bundle_id: result.bundle_id, segments: result.segments }, 'evidence bundle written');
      return { ...result };
    },
  };
}
