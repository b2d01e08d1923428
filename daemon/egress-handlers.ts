import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EgressResult } from '../redaction/egress.js';
import type { Daemon } from './daemon.js';
import type { EgressHandlers } from './mqtt/commands.js';

/** Request ids come from outside: only a safe slice of one goes into a file name. */
export function exportPath(dataDir: string, kind: string, requestId: string, ext: string): string {
  const dir = join(dataDir, 'exports');
  mkdirSync(dir, { recursive: true });
  const safeId = requestId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 48) || 'request';
  return join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${kind}-${safeId}.${ext}`);
}

const reply = (r: EgressResult) => ({ ...r });

/**
 * The egress gate loads ONNX Runtime and its models: about 30 MB the daemon does not carry
 * until the first snapshot or export asks for it.
 */
const gate = () => import('../redaction/egress.js');

/**
 * The MQTT `snapshot` and `export` commands go through the same egress gate as the CLI: the
 * redacted file and its signed manifest are written under `<data>/exports/`, and the reply
 * names them with their hashes. The gate audits each one; the command is audited besides.
 */
export function egressHandlers(daemon: Daemon, config: Config, log: Logger): Pick<EgressHandlers, 'snapshot' | 'export'> {
  const ctx = () => ({ catalog: daemon.catalog!, dataDir: daemon.dataDir, config, log });
  return {
    snapshot: async (r) => {
      if (r.at_ms !== undefined) throw new Error('at_ms: snapshots of the past are not built yet; leave it out for the newest recording');
      const { takeSnapshot } = await gate();
      return reply(await takeSnapshot(ctx(), {
        camera: r.camera, reason: r.reason, requester: r.actor, out: exportPath(daemon.dataDir, 'snapshot', r.request_id, 'jpg'),
      }));
    },
    export: async (r) => {
      const { exportClip } = await gate();
      return reply(await exportClip(ctx(), {
        camera: r.camera, fromMs: r.from_ms, toMs: r.to_ms, reason: r.reason, requester: r.actor,
        out: exportPath(daemon.dataDir, 'export', r.request_id, 'mp4'),
      }));
    },
  };
}
