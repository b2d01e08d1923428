import { createHmac, timingSafeEqual } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import type { Catalog } from '../../recorder/catalog/catalog.js';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { placeHold } from '../../recorder/catalog/holds.js';
import { canonicalJson } from '../../common/canonical-json.js';
import type { Daemon } from '../daemon.js';
import {
  CommandArgs, CommandRequest, COMMAND_NAMES, type CommandName, type CommandReply, type ERROR_CODES,
  type EvidenceArgs, type ExportArgs, type HoldArgs, type SnapshotArgs,
} from './payloads.js';
import { requestProblems } from '../../evidence/bundle-format.js';
import type { Topics } from './topics.js';

/**
 * What serves `snapshot` and `export`: the redaction egress gate. Wiring it is one line where
 * the reporter is started, e.g. `{ snapshot: (r) => takeSnapshot(daemon, r), export: (r) => exportClip(daemon, r) }`.
 * A handler returns what goes into the reply's `result` (paths, hashes, manifest); it throws to
 * fail the command (the message goes into the reply).
 */
export interface EgressHandlers {
  snapshot?: (req: SnapshotArgs & { actor: string; request_id: string }) => Promise<Record<string, unknown>>;
  export?: (req: ExportArgs & { actor: string; request_id: string }) => Promise<Record<string, unknown>>;
  /** writes an evidence bundle of originals (evidence/write-bundle.ts) under <data>/exports/ */
  evidence?: (req: EvidenceArgs & { actor: string; request_id: string }) => Promise<Record<string, unknown>>;
  /** reads the config file again and applies it (what SIGHUP does), audited for `actor`; the outcome is read from meta `last_reload` */
  reload?: (actor: string) => Promise<unknown>;
}

export interface CommandSettings {
  hmacSecret?: string;
  allowedClients: string[];
  maxPayloadBytes: number;
  replayWindowMs: number;
}

type ErrorCode = (typeof ERROR_CODES)[number];

class CommandError extends Error {
  constructor(readonly code: ErrorCode, message: string) { super(message); }
}

const NONCES_META = 'mqtt.cmd_nonces';
const MAX_NONCES = 10_000;

export interface CommandOutcome {
  /** where the reply goes (besides an MQTT 5 response topic) */
  replyTopic: string;
  reply: CommandReply;
}

/**
 * Checks and runs commands, in this order, each failure answered with an error and nothing
 * changed: size, topic name, JSON, request schema, the command's argument schema, the sender
 * (allowed client and/or HMAC), replay (timestamp window, nonce never seen), then the command.
 * Every command, accepted or not, is written to the audit log (`cmd.<name>` or `cmd.rejected`).
 */
export class CommandProcessor {
  private readonly ajv = new Ajv({ allErrors: false, strict: false });
  private readonly validateRequest: ValidateFunction;
  private readonly validateArgs: Record<CommandName, ValidateFunction>;
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly daemon: Daemon,
    private readonly box: string,
    private readonly topics: Topics,
    private readonly settings: CommandSettings,
    private readonly handlers: EgressHandlers,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.validateRequest = this.ajv.compile(CommandRequest);
    this.validateArgs = Object.fromEntries(COMMAND_NAMES.map((n) => [n, this.ajv.compile(CommandArgs[n])])) as Record<CommandName, ValidateFunction>;
    try {
      const saved = JSON.parse(this.catalog.getMeta(NONCES_META) ?? '{}') as Record<string, number>;
      for (const [n, t] of Object.entries(saved)) if (typeof t === 'number') this.nonces.set(n, t);
    } catch {
      // a damaged list: start empty (the timestamp window still bounds replays)
    }
  }

  private get catalog(): Catalog {
    return this.daemon.catalog!;
  }

  get enabled(): boolean {
    return this.settings.hmacSecret !== undefined || this.settings.allowedClients.length > 0;
  }

  /** Never throws: every outcome is a reply. */
  async handle(topic: string, payload: Buffer): Promise<CommandOutcome | undefined> {
    const parsed = this.topics.parseCommandTopic(topic);
    if (parsed.kind === 'reply') return undefined;
    const name = parsed.kind === 'command' || parsed.kind === 'unknown' ? parsed.name : null;
    const replyTopic = this.topics.reply(name);
    let requestId: string | null = null;
    let client: string | null = null;
    try {
      if (payload.length > this.settings.maxPayloadBytes) {
        throw new CommandError('too_large', `payload of ${payload.length} bytes; at most ${this.settings.maxPayloadBytes}`);
      }
      if (parsed.kind === 'invalid') throw new CommandError('unknown_command', 'the topic names no valid command (one level of a-z, 0-9, "_", "-")');
      let body: unknown;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        throw new CommandError('bad_json', 'the payload is not JSON');
      }
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
        const b = body as Record<string, unknown>;
        if (typeof b.id === 'string' && b.id.length <= 128) requestId = b.id;
        if (typeof b.client === 'string' && /^[A-Za-z0-9._:@-]{1,128}$/.test(b.client)) client = b.client;
      }
      if (parsed.kind === 'unknown') throw new CommandError('unknown_command', `unknown command "${parsed.name}"; expected one of ${COMMAND_NAMES.join(', ')}`);
      const cmd = parsed.name;
      if (!this.validateRequest(body)) throw new CommandError('invalid', `request: ${this.ajv.errorsText(this.validateRequest.errors, { dataVar: 'request' })}`);
      const req = body as CommandRequest;
      if (!this.validateArgs[cmd](req.args)) throw new CommandError('invalid', `args: ${this.ajv.errorsText(this.validateArgs[cmd].errors, { dataVar: 'args' })}`);
      this.authorize(cmd, req);
      this.checkReplay(req);
      const result = await this.run(cmd, req);
      const reply = this.reply(cmd, req.id, true, undefined, result);
      this.audit(`cmd.${cmd}`, req.client, cmd, req, { request_id: req.id, ok: true, result });
      return { replyTopic, reply };
    } catch (err) {
      const e = err instanceof CommandError ? err : new CommandError('failed', (err as Error).message ?? String(err));
      const accepted = e.code === 'failed' || e.code === 'unavailable';
      this.log.warn({ topic: topic.slice(0, 200), code: e.code, error: e.message, request: requestId }, accepted ? 'command failed' : 'command refused');
      try {
        this.audit(accepted ? `cmd.${name}` : 'cmd.rejected', client, name, undefined, {
          topic: topic.slice(0, 200), bytes: payload.length, request_id: requestId, ok: false, code: e.code, error: e.message,
        });
      } catch (auditErr) {
        this.log.error({ err: auditErr }, 'cannot audit a command');
      }
      return { replyTopic, reply: this.reply(name, requestId, false, { code: e.code, message: e.message }) };
    }
  }

  private authorize(cmd: CommandName, req: CommandRequest): void {
    if (!this.enabled) throw new CommandError('disabled', 'commands are disabled on this box (set mqtt.commands.hmac_secret_file or allowed_clients)');
    if (this.settings.allowedClients.length && !this.settings.allowedClients.includes(req.client)) {
      throw new CommandError('unauthorized', `client "${req.client}" is not allowed to send commands`);
    }
    if (this.settings.hmacSecret !== undefined) {
      if (!req.hmac) throw new CommandError('unauthorized', 'hmac missing');
      const expected = commandHmac(this.settings.hmacSecret, cmd, req);
      if (!timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(req.hmac, 'hex'))) throw new CommandError('unauthorized', 'hmac does not match');
    }
  }

  private checkReplay(req: CommandRequest): void {
    const now = this.now();
    const window = this.settings.replayWindowMs;
    if (Math.abs(now - req.ts) > window) throw new CommandError('replay', `timestamp ${req.ts} is more than ${window / 1000} s from the box clock`);
    for (const [n, t] of this.nonces) if (now - t > window) this.nonces.delete(n);
    if (this.nonces.has(req.nonce)) throw new CommandError('replay', 'nonce already used');
    this.nonces.set(req.nonce, now);
    while (this.nonces.size > MAX_NONCES) this.nonces.delete(this.nonces.keys().next().value!);
    this.catalog.setMeta(NONCES_META, JSON.stringify(Object.fromEntries(this.nonces)));
  }

  private async run(cmd: CommandName, req: CommandRequest): Promise<Record<string, unknown>> {
    const actor = `mqtt:${req.client}`;
    switch (cmd) {
      case 'hold': {
        const a = req.args as HoldArgs;
        if (a.to_ms <= a.from_ms) throw new CommandError('invalid', 'args: to_ms must be after from_ms');
        if (a.camera !== null) this.knownCamera(a.camera);
        const hold = placeHold(this.catalog, { camera: a.camera, from_ms: a.from_ms, to_ms: a.to_ms, reason: a.reason }, actor,
          (type, camera, data) => this.daemon.raise(type, camera, { ...data }), 'mqtt');
        return { hold_id: hold.id };
      }
      case 'reload': {
        // the same path as SIGHUP (lifecycle passes it): read the config file again and apply it
        if (!this.handlers.reload) throw new CommandError('unavailable', 'reload not available');
        await this.handlers.reload(actor);
        let outcome: Record<string, unknown> = {};
        try {
          outcome = JSON.parse(this.catalog.getMeta('last_reload') ?? '{}') as Record<string, unknown>;
        } catch {
          // no outcome recorded
        }
        if (outcome.ok === false) throw new CommandError('failed', `reload refused: ${typeof outcome.error === 'string' ? outcome.error : 'see the box log'}`);
        return outcome;
      }
      case 'snapshot': {
        this.knownCamera((req.args as { camera: string }).camera);
        if (!this.handlers.snapshot) throw new CommandError('unavailable', 'redaction egress not available in this build');
        return this.handlers.snapshot({ ...(req.args as SnapshotArgs), actor, request_id: req.id });
      }
      case 'export': {
        const a = req.args as ExportArgs;
        if (a.to_ms <= a.from_ms) throw new CommandError('invalid', 'args: to_ms must be after from_ms');
        this.knownCamera((req.args as { camera: string }).camera);
        if (!this.handlers.export) throw new CommandError('unavailable', 'redaction egress not available in this build');
        return this.handlers.export({ ...a, actor, request_id: req.id });
      }
      case 'evidence':
        return this.evidence(req.args as EvidenceArgs, actor, req.id);
    }
  }

  /** The same required fields as `edge-nvr evidence`, checked before anything is held or copied. */
  private async evidence(a: EvidenceArgs, actor: string, requestId: string): Promise<Record<string, unknown>> {
    const problems = requestProblems(a);
    if (a.to_ms <= a.from_ms) problems.push('to_ms must be after from_ms');
    if (problems.length) throw new CommandError('invalid', `args: ${problems.join('; ')}`);
    this.knownCamera(a.camera);
    if (!this.handlers.evidence) throw new CommandError('unavailable', 'evidence export not available in this build');
    return this.handlers.evidence({ ...a, actor, request_id: requestId });
  }

  private knownCamera(camera: string): void {
    if (this.daemon.config.cameras.some((c) => c.id === camera) || this.catalog.cameras().includes(camera)) return;
    throw new CommandError('invalid', `args: unknown camera "${camera}"`);
  }

  private audit(action: string, client: string | null, cmd: string | null, req: CommandRequest | undefined, details: Record<string, unknown>): void {
    const a = (req?.args ?? {}) as Partial<HoldArgs & ExportArgs & SnapshotArgs>;
    appendAudit(this.catalog, {
      actor: client ? `mqtt:${client}` : 'mqtt:unknown',
      action,
      camera: typeof a.camera === 'string' ? a.camera : null,
      from_ms: a.from_ms ?? a.at_ms ?? null,
      to_ms: a.to_ms ?? null,
      reason: a.reason ?? null,
      destination: a.destination ?? (cmd ? `mqtt:${this.topics.reply(cmd)}` : null),
      details,
    });
  }

  private reply(command: string | null, id: string | null, ok: boolean, error?: { code: ErrorCode; message: string }, result?: Record<string, unknown>): CommandReply {
    return {
      schema: 'edge-nvr/cmd-reply@1', box: this.box, ts: this.now(), command, id, ok,
      ...(error ? { error } : {}), ...(result ? { result } : {}),
    };
  }
}

/** hex HMAC-SHA256(secret, "<name>\n" + canonical JSON of the request without `hmac`) */
export function commandHmac(secret: string, name: string, req: Record<string, unknown>): string {
  const { hmac: _drop, ...rest } = req;
  void _drop;
  return createHmac('sha256', secret).update(`${name}\n${canonicalJson(rest)}`).digest('hex');
}
