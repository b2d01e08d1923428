import { createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import type { Catalog } from '../../recorder/catalog/catalog.js';
import { appendAudit } from '../../recorder/catalog/audit-log.js';
import { placeHold } from '../../recorder/catalog/holds.js';
import { NonceStore } from '../../recorder/catalog/nonces.js';
import { boxKey, keyFingerprint } from '../../common/box-key.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { signJson } from '../../common/signed-json.js';
import { hasLoneSurrogate } from '../../common/well-formed-text.js';
import { duplicateKey } from '../../common/json-duplicate-key.js';
import type { Daemon } from '../daemon.js';
import type { ReloadResult } from '../reload-outcome.js';
import type {
  CommandReply, CommandRequest, ERROR_CODES, EvidenceArgs, ExportArgs, HoldArgs, SnapshotArgs,
} from './payloads.js';
import { COMMAND_NAMES, type CommandName } from './command-names.js';
// compiled ahead of time from payloads.ts (`npm run schema`): no TypeBox and no ajv at start
import * as validators from './command-validators.generated.js';
import { RefusalLimiter, type CommandCounts } from './refusals.js';
import { requestProblems } from '../../evidence/bundle-format.js';
import { hasControl, visibleLength } from '../../common/visible-text.js';
import type { Topics } from './topics.js';
import type { UploadKind } from '../../recorder/catalog/uploads.js';
import { TargetError, type UploadTarget } from '../../uploads/target.js';
import { settleWithin } from '../../common/deadlines.js';

/** What every egress request carries besides its arguments. */
export interface EgressCall {
  actor: string;
  request_id: string;
  /** aborted when the daemon stops: the job stops, removes what it wrote and throws */
  signal: AbortSignal;
}

/**
 * What serves `snapshot` and `export` (the redaction egress gate, `daemon/egress-handlers.ts`)
 * and `reload` (the daemon). A handler returns what goes into the reply's `result` (paths,
 * hashes, manifest); it throws to fail the command (the message goes into the reply).
 */
export interface EgressHandlers {
  snapshot?: (req: SnapshotArgs & EgressCall) => Promise<Record<string, unknown>>;
  export?: (req: ExportArgs & EgressCall) => Promise<Record<string, unknown>>;
  /** reads the config file again and applies it (what SIGHUP does), audited for `actor` */
  reload?: (actor: string) => Promise<ReloadResult>;
  /** writes an evidence bundle of originals (evidence/write-bundle.ts) under <data>/exports/ */
  evidence?: (req: EvidenceArgs & { actor: string; request_id: string }) => Promise<Record<string, unknown>>;
}

export interface CommandSettings {
  hmacSecret?: string;
  allowedClients: string[];
  maxPayloadBytes: number;
  replayWindowMs: number;
  /** the longest range one `export` may ask for */
  maxExportMs: number;
  /** kept across reporters (reloads); new ones when not given */
  counts?: CommandCounts;
}

type ErrorCode = (typeof ERROR_CODES)[number];

/** ajv's `errorsText`, which lives on an Ajv instance the ahead-of-time validators do without */
function errorsText(errors: ErrorObject[] | null | undefined, dataVar: string): string {
  return errors?.length ? errors.map((e) => `${dataVar}${e.instancePath} ${e.message}`).join(', ') : 'No errors';
}

/** throws (a TypeError) on bytes that are not UTF-8, where toString('utf8') would replace them */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Whether a parsed JSON value holds an unpaired surrogate in any string or key (iterative: any depth). */
function holdsLoneSurrogate(value: unknown): boolean {
  const stack = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (hasLoneSurrogate(v)) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (hasLoneSurrogate(k)) return true;
        stack.push(x);
      }
    }
  }
  return false;
}

class CommandError extends Error {
  constructor(readonly code: ErrorCode, message: string) { super(message); }
}

/** Nonces held at most; past it (a valid signer sending faster than the window drains) commands wait. */
const MAX_NONCES = 10_000;
/** snapshots, exports and evidence bundles waiting behind the running one; more are refused (`unavailable`) */
const MAX_QUEUED_EGRESS = 4;
/** how long stop() waits for a cancelled egress job to clean up */
const EGRESS_STOP_MS = 5000;
/** at most one summary line a minute about refusals dropped unanswered */
const DROPPED_SUMMARY_MS = 60_000;

export interface CommandOutcome {
  /** where the reply goes (besides an MQTT 5 response topic) */
  replyTopic: string;
  reply: CommandReply;
  /** the request passed the signature and replay checks: only then is its response topic used */
  signed: boolean;
}

export interface CommandStats {
  accepted: number;
  failed: number;
  refused: number;
  unanswered: number;
  refused_by_code: Record<string, number>;
  egress_running: number;
  egress_queued: number;
}

/** A request's id, where it can be echoed in the reply as it was sent (a string of one line); else null. */
function echoableId(body: unknown): string | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const id = (body as Record<string, unknown>).id;
  return typeof id === 'string' && id.length <= 128 && !hasLoneSurrogate(id) && !hasControl(id) ? id : null;
}

/**
 * Checks and runs commands (docs/mqtt.md#commands). First what says nothing about the sender,
 * each failure a refusal: size, topic name, JSON, request schema, the command's argument schema,
 * the signature (HMAC over the box id, the topic and the request) and the allowed client, replay
 * (timestamp window, nonce never seen). Refusals are counted and rate-limited (RefusalLimiter),
 * never audited. A command that passes them came from a holder of the secret: it is audited
 * (`cmd.<name>`, ok or not) and run. Snapshots and exports run one at a time off the message
 * path, so holds and reloads are answered while an export runs, and stop() cancels them.
 */
export class CommandProcessor {
  private readonly validateRequest = validators.request as ValidateFunction;
  private readonly validateArgs = Object.fromEntries(COMMAND_NAMES.map((n) => [n, validators[`${n}Args`]])) as Record<CommandName, ValidateFunction>;
  private readonly nonces: NonceStore;
  readonly refusals: RefusalLimiter;
  private egressTail: Promise<unknown> = Promise.resolve();
  private egressRunning = 0;
  private egressQueued = 0;
  private readonly cancel = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly summaryTimer: NodeJS.Timeout;
  /** every reply is signed with the box key (the checkpoints' key): a broker client cannot forge one */
  private readonly signer: { privateKey: KeyObject; keyId: string };

  constructor(
    private readonly daemon: Daemon,
    private readonly box: string,
    private readonly topics: Topics,
    private readonly settings: CommandSettings,
    private readonly handlers: EgressHandlers,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.refusals = new RefusalLimiter(settings.counts);
    this.nonces = new NonceStore(this.catalog, MAX_NONCES);
    const key = boxKey(daemon.dataDir);
    this.signer = { privateKey: key.privateKey, keyId: keyFingerprint(key.publicPem) };
    this.summaryTimer = setInterval(() => {
      const dropped = this.refusals.takeDropped();
      if (dropped) this.log.warn({ dropped, refused_total: this.refusals.counts.refused }, `${dropped} refused commands dropped without a reply (rate limit)`);
    }, DROPPED_SUMMARY_MS);
    this.summaryTimer.unref();
  }

  private get catalog(): Catalog {
    return this.daemon.catalog!;
  }

  stats(): CommandStats {
    const { accepted, failed, refused, unanswered, by_code } = this.refusals.counts;
    return {
      accepted, failed, refused, unanswered, refused_by_code: { ...by_code },
      egress_running: this.egressRunning, egress_queued: this.egressQueued,
    };
  }

  /**
   * Never throws: every outcome is a reply, or undefined (the box's own replies, and refusals
   * past the rate limit, which go unanswered).
   */
  handle(topic: string, payload: Buffer): Promise<CommandOutcome | undefined> {
    const p = this.handleNow(topic, payload);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /** Cancels running and queued snapshots and exports, and waits (bounded) for them to clean up. */
  async stop(why = 'the daemon is stopping'): Promise<void> {
    clearInterval(this.summaryTimer);
    this.cancel.abort(new Error(why));
    await settleWithin(Promise.allSettled([...this.inflight]), EGRESS_STOP_MS, undefined);
  }

  private async handleNow(topic: string, payload: Buffer): Promise<CommandOutcome | undefined> {
    const parsed = this.topics.parseCommandTopic(topic);
    if (parsed.kind === 'reply') return undefined;
    const name = parsed.kind === 'command' || parsed.kind === 'unknown' ? parsed.name : null;
    const replyTopic = this.topics.reply(name);
    // the reply names the exact bytes it answers: a platform takes as its answer only a signed
    // reply carrying the digest of what it sent (not a refusal of a copy someone altered)
    const request = createHash('sha256').update(payload).digest('hex');
    let requestId: string | null = null;
    let req: CommandRequest;
    let cmd: CommandName;
    try {
      if (payload.length > this.settings.maxPayloadBytes) {
        throw new CommandError('too_large', `payload of ${payload.length} bytes; at most ${this.settings.maxPayloadBytes}`);
      }
      if (parsed.kind === 'invalid') {
        // the topic is checked first, but a readable request still gets its id back (it was null)
        try { requestId = echoableId(JSON.parse(UTF8.decode(payload))); } catch { /* not readable: null, as documented */ }
        throw new CommandError('unknown_command', 'the topic names no valid command (one level of a-z, 0-9, "_", "-")');
      }
      let body: unknown;
      let text: string;
      try {
        text = UTF8.decode(payload);
        body = JSON.parse(text);
      } catch (err) {
        throw new CommandError('bad_json', err instanceof TypeError ? 'the payload is not UTF-8' : 'the payload is not JSON');
      }
      const repeated = duplicateKey(text);
      if (repeated !== null) throw new CommandError('bad_json', `the payload repeats the key ${JSON.stringify(repeated.slice(0, 64))} in one object: which of its values was signed cannot be told`);
      requestId = echoableId(body);
      // "\ud800" is valid JSON but no text: stored (SQLite, UTF-8) it would differ from what was
      // signed and hashed into the audit chain, which would read as altered from then on
      if (holdsLoneSurrogate(body)) throw new CommandError('bad_json', 'the payload holds a lone UTF-16 surrogate escape (\\ud800-\\udfff unpaired): not text');
      if (parsed.kind === 'unknown') throw new CommandError('unknown_command', `unknown command "${parsed.name}"; expected one of ${COMMAND_NAMES.join(', ')}`);
      cmd = parsed.name;
      if (!this.validateRequest(body)) throw new CommandError('invalid', `request: ${errorsText(this.validateRequest.errors, 'request')}`);
      req = body as CommandRequest;
      if (!this.validateArgs[cmd](req.args)) throw new CommandError('invalid', `args: ${errorsText(this.validateArgs[cmd].errors, 'args')}`);
      const reason = (req.args as { reason?: unknown }).reason;
      // the CLI's --reason rule (daemon/args.ts parseReason), which a schema pattern cannot say:
      // a line break forged a second row in `hold list`, zero-width characters a reason nobody sees
      if (typeof reason === 'string' && (hasControl(reason) || visibleLength(reason) < 3)) {
        throw new CommandError('invalid', 'args.reason: one line of text with 3 characters or more that show (no control characters; spaces and invisible characters not counted)');
      }
      // what the schema's patterns do not say (C1 controls, U+2028): the id is echoed in replies
      // and the audit log, the destination registered there (an outside probe sent both)
      if (hasControl(req.id)) throw new CommandError('invalid', 'request.id: one line of text, without control characters');
      const destination = (req.args as { destination?: unknown }).destination;
      if (typeof destination === 'string' && hasControl(destination)) throw new CommandError('invalid', 'args.destination: one line of text, without control characters');
      this.authorize(topic, req);
      this.checkReplay(req);
    } catch (err) {
      // anything else (the catalog failing under the nonce store) is the box's fault, not the sender's
      const e = err instanceof CommandError ? err : new CommandError('unavailable', `cannot check the request now: ${(err as Error).message}`);
      if (!this.refusals.admit(e.code)) return undefined;
      this.log.warn({ topic: topic.slice(0, 200), code: e.code, error: e.message, request: requestId }, 'command refused');
      return { replyTopic, reply: this.reply(request, name, requestId, false, { code: e.code, message: e.message }), signed: false };
    }
    // From here on the sender holds the secret: what happens is audited, ok or not.
    try {
      const result = await this.run(cmd, req);
      this.refusals.counts.accepted++;
      this.audit(`cmd.${cmd}`, req, cmd, { request_id: req.id, ok: true, result });
      return { replyTopic, reply: this.reply(request, cmd, req.id, true, undefined, result), signed: true };
    } catch (err) {
      const e = err instanceof CommandError ? err : new CommandError('failed', (err as Error).message ?? String(err));
      this.refusals.counts.failed++;
      this.log.warn({ command: cmd, code: e.code, error: e.message, request: req.id, client: req.client }, 'command failed');
      try {
        this.audit(`cmd.${cmd}`, req, cmd, { request_id: req.id, ok: false, code: e.code, error: e.message });
      } catch (auditErr) {
        this.log.error({ err: auditErr }, 'cannot audit a command');
      }
      return { replyTopic, reply: this.reply(request, cmd, req.id, false, { code: e.code, message: e.message }), signed: true };
    }
  }

  /**
   * One answer for every way of failing it (no secret, wrong signature, a client not allowed),
   * and the HMAC is checked whatever the client: a refusal says nothing about which names exist.
   */
  private authorize(topic: string, req: CommandRequest): void {
    const secret = this.settings.hmacSecret;
    if (secret === undefined) throw new CommandError('disabled', 'commands are disabled on this box (set mqtt.commands.hmac_secret_file)');
    const expected = Buffer.from(commandHmac(secret, this.box, topic, req), 'hex');
    const signed = req.hmac !== undefined && timingSafeEqual(expected, Buffer.from(req.hmac, 'hex'));
    const allowed = this.settings.allowedClients.length === 0 || this.settings.allowedClients.includes(req.client);
    if (!signed || !allowed) throw new CommandError('unauthorized', 'not authorized: the request must be signed with this box\'s command secret, for this box and topic, by an allowed client');
  }

  /**
   * A request is accepted while its timestamp is within the window of the box clock, in either
   * direction; its nonce is kept until then (ts + window), durably, before the command runs.
   */
  private checkReplay(req: CommandRequest): void {
    const now = this.now();
    const window = this.settings.replayWindowMs;
    if (Math.abs(now - req.ts) > window) throw new CommandError('replay', `timestamp ${req.ts} is more than ${window / 1000} s from the box clock`);
    const kept = this.nonces.remember(req.nonce, req.ts + window, now);
    if (kept === 'seen') throw new CommandError('replay', 'nonce already used');
    if (kept === 'full') throw new CommandError('replay', `${this.nonces.maxNonces} commands inside the replay window already; send again later`);
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
        // the same path as SIGHUP: read the config file again and apply it
        if (!this.handlers.reload) throw new CommandError('unavailable', 'reload not available');
        const outcome = await this.handlers.reload(actor);
        if (!outcome.ok) throw new CommandError('failed', `reload refused: ${outcome.error ?? 'see the box log'}`);
        return { ...outcome };
      }
      case 'snapshot': {
        const a = req.args as SnapshotArgs;
        this.knownCamera(a.camera);
        const target = this.uploadTarget(a.upload_url);
        const handler = this.handlers.snapshot;
        if (!handler) throw new CommandError('unavailable', 'redaction egress not available in this build');
        return this.delivered(await this.egress((signal) => handler({ ...a, actor, request_id: req.id, signal })), target, 'snapshot', a.camera, actor, req.id);
      }
      case 'export': {
        const a = req.args as ExportArgs;
        if (a.to_ms <= a.from_ms) throw new CommandError('invalid', 'args: to_ms must be after from_ms');
        const max = this.settings.maxExportMs;
        if (a.to_ms - a.from_ms > max) {
          throw new CommandError('invalid', `args: the range is ${Math.ceil((a.to_ms - a.from_ms) / 1000)} s; at most ${max / 1000} s (mqtt.commands.max_export_s): split it`);
        }
        this.knownCamera(a.camera);
        const target = this.uploadTarget(a.upload_url);
        const handler = this.handlers.export;
        if (!handler) throw new CommandError('unavailable', 'redaction egress not available in this build');
        return this.delivered(await this.egress((signal) => handler({ ...a, actor, request_id: req.id, signal })), target, 'export', a.camera, actor, req.id);
      }
      case 'evidence':
        return this.evidence(req.args as EvidenceArgs, actor, req.id);
    }
  }

  /** An upload target is checked before anything is exported: one not allowed is refused whole. */
  private uploadTarget(url: string | undefined): UploadTarget | undefined {
    if (url === undefined) return undefined;
    const uploads = this.daemon.uploads;
    if (!uploads) throw new CommandError('unavailable', 'uploads are not running on this box');
    try {
      return uploads.check(url);
    } catch (err) {
      if (err instanceof TargetError) throw new CommandError('invalid', `args.upload_url: ${err.message}`);
      throw err;
    }
  }

  /** The result as written, and the upload of it queued (its id in the reply; events follow). */
  private delivered(result: Record<string, unknown>, target: UploadTarget | undefined, kind: UploadKind, camera: string, actor: string, requestId: string): Record<string, unknown> {
    if (!target) return result;
    const upload = this.daemon.uploads!.enqueue(target, { kind, camera, source: String(result.out), requested_by: actor, request_id: requestId });
    return { ...result, upload };
  }

  /** Snapshots, exports and evidence bundles: one at a time (each takes the CPU or the disk), a few waiting, cancelled by stop(). */
  private egress(job: (signal: AbortSignal) => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
    if (this.cancel.signal.aborted) throw new CommandError('unavailable', (this.cancel.signal.reason as Error).message);
    // the one about to start counts as running, not waiting: a burst had 4 places, not 1 + 4 (an outside probe)
    const waiting = this.egressQueued + this.egressRunning - 1;
    if (waiting >= MAX_QUEUED_EGRESS) throw new CommandError('unavailable', `one snapshot, export or evidence bundle is running and ${waiting} are waiting already; send again later`);
    this.egressQueued++;
    const run = this.egressTail.then(async () => {
      this.egressQueued--;
      this.cancel.signal.throwIfAborted();
      this.egressRunning++;
      try {
        return await job(this.cancel.signal);
      } finally {
        this.egressRunning--;
      }
    });
    this.egressTail = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      if (this.cancel.signal.aborted) throw new CommandError('failed', `cancelled: ${(this.cancel.signal.reason as Error).message}; nothing was written`);
      throw err;
    });
  }

  /** The same required fields as `edge-nvr evidence`, checked before anything is held or copied. */
  private async evidence(a: EvidenceArgs, actor: string, requestId: string): Promise<Record<string, unknown>> {
    const problems = requestProblems(a);
    if (a.to_ms <= a.from_ms) problems.push('to_ms must be after from_ms');
    if (problems.length) throw new CommandError('invalid', `args: ${problems.join('; ')}`);
    this.knownCamera(a.camera);
    const target = this.uploadTarget(a.upload_url);
    const write = this.handlers.evidence;
    if (!write) throw new CommandError('unavailable', 'evidence export not available in this build');
    // in the egress line: each copies and hashes originals for seconds to minutes, and a sender
    // with the secret could otherwise start any number at once
    return this.egress(async () => this.delivered(await write({ ...a, actor, request_id: requestId }), target, 'evidence', a.camera, actor, requestId));
  }

  private knownCamera(camera: string): void {
    // configured now, or known to the catalog (a camera removed from the config keeps its recordings)
    if (this.daemon.config.cameras.some((c) => c.id === camera) || this.catalog.knowsCamera(camera)) return;
    throw new CommandError('invalid', `args: unknown camera "${camera}"`);
  }

  private audit(action: string, req: CommandRequest, cmd: CommandName, details: Record<string, unknown>): void {
    const a = req.args as Partial<HoldArgs & ExportArgs & SnapshotArgs>;
    appendAudit(this.catalog, {
      actor: `mqtt:${req.client}`,
      action,
      camera: typeof a.camera === 'string' ? a.camera : null,
      from_ms: a.from_ms ?? a.at_ms ?? null,
      to_ms: a.to_ms ?? null,
      reason: a.reason ?? null,
      destination: a.destination ?? `mqtt:${this.topics.reply(cmd)}`,
      details,
    });
  }

  private reply(requestSha256: string, command: string | null, id: string | null, ok: boolean, error?: { code: ErrorCode; message: string }, result?: Record<string, unknown>): CommandReply {
    return signJson({
      schema: 'edge-nvr/cmd-reply@2' as const, box: this.box, ts: this.now(), command, id, request_sha256: requestSha256, ok,
      ...(error ? { error } : {}), ...(result ? { result } : {}), key_id: this.signer.keyId,
    }, this.signer.privateKey);
  }
}

/**
 * The signature of a command (docs/mqtt.md#signing): hex HMAC-SHA256 with the shared secret over
 * `edge-nvr-cmd\n<box id>\n<topic>\n` and the canonical JSON of the request without `hmac`. The
 * box id and the full topic are in it, so a command signed for one box, or for one command, is
 * refused by every other box sharing the secret and on every other topic.
 */
export function commandHmac(secret: string, box: string, topic: string, req: Record<string, unknown>): string {
  const { hmac: _drop, ...rest } = req;
  void _drop;
  return createHmac('sha256', secret).update(`edge-nvr-cmd\n${box}\n${topic}\n${canonicalJson(rest)}`).digest('hex');
}
