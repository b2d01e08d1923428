/**
 * Every MQTT payload the box publishes or accepts, as TypeBox schemas: one source for the
 * TypeScript types, the runtime validation of commands, and the published JSON Schemas
 * (docs/mqtt/*.schema.json, written by `node dist/daemon/mqtt/publish-schemas.js`).
 *
 * Versioning: every payload carries `schema` = `edge-nvr/<kind>@<major>`. Fields may be added
 * within a major version (consumers must ignore unknown fields); renaming, removing or changing
 * the meaning of a field bumps the major.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MAX_TIME_MS } from '../../common/human.js';
import { TAMPER_KINDS } from '../../watchdog/tamper-monitor.js';
import type { CommandName } from './command-names.js';

const Id = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'a box or camera id' });
// at most the latest time a JavaScript Date holds: a larger one was accepted into a hold that
// `hold list` could then not print
const Ms = Type.Integer({ minimum: 0, maximum: MAX_TIME_MS, description: 'milliseconds since the Unix epoch' });
const NullableMs = Type.Union([Ms, Type.Null()]);
const Num = Type.Number();
const NullableNum = Type.Union([Type.Number(), Type.Null()]);

/** The envelope every published payload starts with. */
const envelope = (kind: string, major = 1) => ({
  schema: Type.Literal(`edge-nvr/${kind}@${major}`, { description: 'payload kind and major version' }),
  box: Id,
  ts: Type.Integer({ minimum: 0, description: 'when the box published (or, for the last will, registered) it, ms since the epoch' }),
});

const obj = <T extends Record<string, TSchema>>(props: T, extra: Record<string, unknown> = {}) =>
  Type.Object(props, { additionalProperties: false, ...extra });

export const StatusPayload = obj(
  {
    ...envelope('status'),
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    reason: Type.Optional(Type.Union([Type.Literal('connected'), Type.Literal('clean_stop'), Type.Literal('connection_lost')], {
      description: 'connection_lost: the last will (crash, kill, power or network loss)',
    })),
    version: Type.String({ description: 'edge-nvr version' }),
    started_ms: Ms,
  },
  { $id: 'https://edge-nvr.org/schema/mqtt/status.json', title: '<prefix>/status (retained)' },
);

const TamperKind = Type.Union(TAMPER_KINDS.map((k) => Type.Literal(k)));

/** The camera's view (docs/tamper.md): the same object in the camera state, health and `status`. */
const View = obj({
  state: Type.Union(['learning', 'ok', 'tampered', 'unavailable', 'off'].map((s) => Type.Literal(s)), {
    description: 'learning the reference; ok; tampered (see kinds); unavailable: no picture can be analysed (detail says why); off: tamper.enabled is false (detail: the reason)',
  }),
  kinds: Type.Array(TamperKind, { description: 'the tamper kinds active now' }),
  since_ms: Type.Union([Ms, Type.Null()], { description: 'since when the view is in this state (with these kinds)' }),
  reference_ms: Type.Union([Ms, Type.Null()], { description: 'when the reference of the normal view in use was learned' }),
  detail: Type.Union([Type.String(), Type.Null()]),
}, { description: "the camera's view: tamper detection and identity" });

const Stream = Type.Union([
  obj({
    codec: Type.String({ description: 'as recorded: h264, hevc, or the sample entry code' }),
    width: Type.Integer({ minimum: 0 }),
    height: Type.Integer({ minimum: 0 }),
    fps: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'frames per second measured over the last 10 s of recording (not the configured rate)' }),
  }),
  Type.Null(),
], { description: 'the stream as seen in the recording; null before its first fragment' });

export const CameraStatePayload = obj(
  {
    ...envelope('camera-state'),
    camera: Id,
    state: Type.Union(['starting', 'recording', 'down', 'stopped'].map((s) => Type.Literal(s))),
    last_segment_end_ms: NullableMs,
    restarts: Type.Integer({ minimum: 0, description: 'recorder restarts since the daemon started' }),
    view: View,
  },
  { $id: 'https://edge-nvr.org/schema/mqtt/camera-state.json', title: '<prefix>/cameras/<id>/state (retained)' },
);

const HealthCamera = obj({
  camera: Id,
  state: Type.Union(['starting', 'recording', 'down', 'stopped'].map((s) => Type.Literal(s))),
  last_segment_end_ms: NullableMs,
  restarts: Type.Integer({ minimum: 0 }),
  gaps_24h: Type.Integer({ minimum: 0, description: 'gaps overlapping the last 24 h' }),
  gap_ms_24h: Type.Integer({ minimum: 0, description: 'ms of the last 24 h inside gaps' }),
  continuity_24h: Type.Number({ minimum: 0, maximum: 1, description: 'share of the last 24 h (or of the time since the first recording, when later) on record' }),
  bitrate_kbps: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: "the camera's stream as recorded: its newest segment's size over its length; null before the first" }),
  view: View,
  stream: Stream,
});

export const HealthPayload = obj(
  {
    ...envelope('health', 2),
    changed: Type.Array(Type.String(), {
      description: 'why this report was sent: "connect", "refresh" (nothing changed for mqtt.health_refresh_s), or the values that changed since the last one, e.g. "cameras.gate.state", "disks./var/lib/edge-nvr.available_bytes"',
    }),
    uptime_s: Type.Number({ minimum: 0, description: 'system uptime' }),
    daemon_uptime_s: Type.Number({ minimum: 0 }),
    load: Type.Array(Num, { minItems: 3, maxItems: 3, description: '1, 5 and 15 minute load averages' }),
    temperature_c: NullableNum,
    throttled: Type.Union([obj({ now: Type.Boolean(), since_boot: Type.Boolean(), raw: Type.String() }), Type.Null()]),
    clock: obj({ synchronized: Type.Union([Type.Boolean(), Type.Null()]), source: Type.String() }),
    memory: obj({ total_bytes: Type.Integer({ minimum: 0 }), available_bytes: Type.Integer({ minimum: 0 }) }),
    disks: Type.Array(obj({
      path: Type.String(), total_bytes: Type.Integer({ minimum: 0 }), free_bytes: Type.Integer({ minimum: 0 }),
      available_bytes: Type.Integer({ minimum: 0 }), floor_bytes: Type.Integer({ minimum: 0 }),
    })),
    retention: obj({
      oldest_ms: Type.Union([Ms, Type.Null()], { description: 'the oldest recording kept, any camera' }),
      days_held: Type.Number({ minimum: 0, description: 'days the camera with the fewest holds' }),
      forecast_days: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'days the disk holds at the last hour\'s rate; null before there is a rate' }),
      min_required_days: Type.Number({ minimum: 0 }),
      cameras: Type.Array(obj({ camera: Id, oldest_ms: NullableMs, days_held: Type.Number({ minimum: 0 }), min_days: Num, max_days: NullableNum })),
    }),
    cameras: Type.Array(HealthCamera),
    chain_head: obj({ id: Type.Integer({ minimum: 0 }), hash: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
    integrity: obj({
      verify_read_mb_s: Type.Number({ minimum: 0, description: 'the background re-hash rate (integrity.verify_read_mb_s); 0 = off' }),
      last_full_pass_ms: Type.Union([Ms, Type.Null()], { description: 'when the background re-hash last finished a pass over every stored segment; null before the first' }),
      last_full_pass_segments: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
      pass_progress: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], { description: 'share of the segments chain the running pass has covered; null between passes' }),
      violations: Type.Integer({ minimum: 0, description: 'integrity_violation events raised by the background re-hash, and for files found gone at start-up, ever' }),
      last_checkpoint_ms: Type.Union([Ms, Type.Null()], { description: 'when the newest signed checkpoint (<prefix>/checkpoint) was taken' }),
    }, { description: 'background verification and checkpoints' }),
    outbox: obj({ queued: Type.Integer({ minimum: 0 }), dropped: Type.Integer({ minimum: 0, description: 'events dropped (oldest first) because the outbox was full, since the catalog was created' }) }),
    commands: Type.Optional(obj({
      accepted: Type.Integer({ minimum: 0, description: 'signed commands run, since the daemon started' }),
      failed: Type.Integer({ minimum: 0, description: 'signed commands that failed (unknown camera, empty range, ...)' }),
      refused: Type.Integer({ minimum: 0, description: 'commands refused before the sender was known (bad JSON or schema, bad signature, replay): counted, not audited' }),
      unanswered: Type.Integer({ minimum: 0, description: 'of the refused, those past the rate limit: dropped without a reply or a log line' }),
      refused_by_code: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'refused, per error code' }),
      egress_running: Type.Integer({ minimum: 0, description: 'snapshots and exports running now (one at a time)' }),
      egress_queued: Type.Integer({ minimum: 0, description: 'snapshots and exports waiting' }),
    }, { description: 'the command processor since the daemon started (boxes before this field was added leave it out)' })),
  },
  { $id: 'https://edge-nvr.org/schema/mqtt/health.json', title: '<prefix>/health (retained)' },
);

const eventEnvelope = {
  ...envelope('event'),
  id: Type.String({ minLength: 1, description: 'unique message id: deduplicate on it (delivery is at least once)' }),
  event_id: Type.Integer({ minimum: 1, description: 'the event\'s row in the box catalog; increases with every event' }),
  at_ms: Ms,
  camera: Type.Union([Id, Type.Null()]),
};

const HoldEventData = {
  hold_id: Type.Integer({ minimum: 1, description: 'the hold (edge-nvr hold list)' }),
  camera: Type.Union([Id, Type.Null()], { description: 'the camera held; null: every camera' }),
  from_ms: Ms,
  to_ms: Ms,
  reason: Type.String(),
  by: Type.String({ description: 'who: unix:<user> (sudo user when through sudo), optionally "for <name>"; mqtt:<client>' }),
};

const UploadEventData = {
  upload: Type.Integer({ minimum: 1, description: 'the upload, as the command reply named it (result.upload.id)' }),
  kind: Type.Union(['evidence', 'export', 'snapshot'].map((k) => Type.Literal(k))),
  destination: Type.String({ description: 'https://host[:port]/path of the target: never its query (a pre-signed signature)' }),
  host: Type.String({ description: 'host[:port], as compared with uploads.allowed_hosts' }),
  source: Type.String({ description: 'the export file or bundle directory, relative to the data dir' }),
  attempts: Type.Integer({ minimum: 0 }),
  requested_by: Type.String({ description: 'mqtt:<client>' }),
  request_id: Type.Union([Type.String(), Type.Null()], { description: 'the id of the command that asked for it' }),
};

/** Event types whose `data` has a fixed shape (the others: see docs/mqtt.md). */
export const TYPED_EVENTS = ['hold_added', 'hold_released', 'integrity_violation', 'upload_done', 'upload_retrying', 'upload_failed'] as const;

export const EventPayload = Type.Union(
  [
    obj({ ...eventEnvelope, type: Type.Literal('hold_added'), data: obj({ ...HoldEventData, created_ms: Ms }) }),
    obj({ ...eventEnvelope, type: Type.Literal('hold_released'), data: obj({ ...HoldEventData, released_ms: Ms }) }),
    obj({
      ...eventEnvelope, type: Type.Literal('integrity_violation'),
      data: obj({
        what: Type.Union(['modified', 'missing', 'chain'].map((w) => Type.Literal(w)), { description: 'the file changed, the file is gone, or the catalog row no longer fits the chain' }),
        segment: Type.Integer({ minimum: 1 }),
        path: Type.String({ description: 'relative to the data dir' }),
        detail: Type.String(),
      }),
    }),
    obj({
      ...eventEnvelope, type: Type.Literal('upload_done'),
      data: obj({
        ...UploadEventData,
        bytes: Type.Integer({ minimum: 0, description: 'the object delivered (a tar archive)' }),
        sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'of the object delivered, as sent' }),
        files: Type.Integer({ minimum: 1, description: 'files in the archive' }),
        status: Type.Integer({ description: 'the HTTP status the server answered (2xx)' }),
      }),
    }),
    obj({
      ...eventEnvelope, type: Type.Literal('upload_retrying'),
      data: obj({
        ...UploadEventData,
        error: Type.String({ description: 'why this attempt failed (never the URL\'s query or the server\'s answer body)' }),
        retry_at_ms: Type.Integer({ description: 'when the next attempt is due (box clock, ms since the epoch)' }),
      }),
    }),
    obj({
      ...eventEnvelope, type: Type.Literal('upload_failed'),
      data: obj({ ...UploadEventData, error: Type.String({ description: 'why it was given up' }) }),
    }),
    obj({
      ...eventEnvelope,
      type: Type.String({
        not: { enum: [...TYPED_EVENTS] },
        description: 'camera_offline, camera_online, gap, stall_detected, watchdog_restart, disk_low, disk_unwritable, disk_ok, disk_filled_externally, retention_at_risk, retention_deletion, retention_paused, retention_resumed, segment_quarantined, clock_jump, clock_unsynced, tamper_suspected, tamper_cleared, ...',
      }),
      data: Type.Record(Type.String(), Type.Unknown()),
    }),
  ],
  { $id: 'https://edge-nvr.org/schema/mqtt/event.json', title: '<prefix>/events (QoS 1, not retained)' },
);

const Head = obj({ length: Type.Integer({ minimum: 0, description: 'entries in the chain (the newest one\'s id)' }), head: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'the newest entry\'s hash (64 zeros when empty)' }) });

/** A signed checkpoint (recorder/catalog/checkpoint.ts): the one payload without `ts`, its time is
 * the signed `at_ms`. Keep every one received: they are the anchors `edge-nvr verify --anchors` takes. */
export const CheckpointPayload = obj(
  {
    schema: Type.Literal('edge-nvr/checkpoint@1', { description: 'payload kind and major version' }),
    box: Id,
    at_ms: Type.Integer({ minimum: 0, description: 'when the box signed it, ms since the epoch' }),
    public_key: Type.String({ description: 'the box\'s Ed25519 public key, PEM (SPKI)' }),
    chains: obj({ segments: Head, ledger: Head, audit: Head }),
    signature: Type.String({ description: 'base64 Ed25519 signature over the canonical JSON (keys sorted, no spaces) of the payload without `signature`' }),
  },
  { $id: 'https://edge-nvr.org/schema/mqtt/checkpoint.json', title: '<prefix>/checkpoint (retained)' },
);

/* ------------------------------------------------------------------ commands */

// three characters or more besides the spaces around them, as the CLI's --reason: "   " was taken as a reason
const Reason = Type.String({ minLength: 3, maxLength: 500, pattern: '\\S[\\s\\S]+\\S', description: 'why (registered in the audit log): three characters or more, spaces around them not counted' });
const Destination = Type.String({ minLength: 1, maxLength: 500, description: 'where the result goes (registered in the audit log)' });
const UploadUrl = Type.String({
  minLength: 9, maxLength: 4096,
  description: 'optional: deliver the result by HTTPS PUT to this URL (a pre-signed PUT URL, or a host with a bearer token configured on the box); its host must be in the box\'s uploads.allowed_hosts. The reply names the queued upload (result.upload); upload_done or upload_failed follows',
});

export const CommandArgs = {
  hold: obj({ camera: Type.Union([Id, Type.Null()]), from_ms: Ms, to_ms: Ms, reason: Reason }),
  reload: obj({}),
  snapshot: obj({ camera: Id, at_ms: Type.Optional(Ms), reason: Reason, destination: Type.Optional(Destination), upload_url: Type.Optional(UploadUrl) }),
  export: obj({ camera: Id, from_ms: Ms, to_ms: Ms, reason: Reason, destination: Type.Optional(Destination), upload_url: Type.Optional(UploadUrl) }),
  evidence: obj({
    camera: Id, from_ms: Ms, to_ms: Ms,
    agency: Type.String({ minLength: 2, maxLength: 200, description: 'the requesting agency' }),
    officers: Type.Array(obj({ name: Type.String({ minLength: 2, maxLength: 200 }), id: Type.String({ minLength: 1, maxLength: 100, description: 'the officer\'s ID number' }) }), {
      minItems: 2, maxItems: 20, description: 'the officers receiving the copy: at least two, with different ID numbers',
    }),
    approval: Type.String({ minLength: 2, maxLength: 500, description: 'the approving document or reference' }),
    reason: Reason,
    destination: Type.String({ minLength: 2, maxLength: 500, description: 'where the copy goes (registered in the audit log)' }),
    upload_url: Type.Optional(UploadUrl),
  }, { description: 'an evidence bundle of the ORIGINAL recordings, written under <data>/exports/ (docs/evidence.md); places a legal hold on the range' }),
} satisfies Record<CommandName, TSchema>;

export type HoldArgs = Static<typeof CommandArgs.hold>;
export type SnapshotArgs = Static<typeof CommandArgs.snapshot>;
export type ExportArgs = Static<typeof CommandArgs.export>;
export type EvidenceArgs = Static<typeof CommandArgs.evidence>;

export const CommandRequest = obj(
  {
    id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'request id, echoed in the reply and written to the audit log: no control characters' }),
    client: Type.String({ pattern: '^[A-Za-z0-9._:@-]{1,128}$', description: 'the sender\'s identity (checked against mqtt.commands.allowed_clients)' }),
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$', description: 'unique per command; a nonce seen before is a replay' }),
    ts: Type.Integer({ minimum: 0, description: 'when it was sent, ms since the epoch; must be within mqtt.commands.replay_window_s of the box clock (either way); the nonce is remembered until then' }),
    args: Type.Record(Type.String(), Type.Unknown(), { description: 'per command: see the args schemas (hold, reload, snapshot, export, evidence)' }),
    hmac: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: 'hex HMAC-SHA256 with the shared secret over "edge-nvr-cmd\\n<box id>\\n<topic>\\n" + canonical JSON of the request without hmac (keys sorted at every level, no whitespace); required: the box refuses unsigned commands' })),
  },
  { $id: 'https://edge-nvr.org/schema/mqtt/command.json', title: '<prefix>/cmd/<name> (in)' },
);
export type CommandRequest = Static<typeof CommandRequest>;

export const ERROR_CODES = [
  'too_large', 'bad_json', 'invalid', 'unknown_command', 'unauthorized', 'replay', 'disabled', 'unavailable', 'failed',
] as const;

export const CommandReply = obj(
  {
    ...envelope('cmd-reply', 2),
    command: Type.Union([Type.String(), Type.Null()], { description: 'the command name, null when the topic named none valid' }),
    id: Type.Union([Type.String(), Type.Null()], { description: 'the request id, null when the request could not be read' }),
    request_sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'hex sha256 of the request payload\'s bytes as the box received them: take as the answer to a request only a reply carrying the digest of what was sent' }),
    ok: Type.Boolean(),
    error: Type.Optional(obj({ code: Type.Union(ERROR_CODES.map((c) => Type.Literal(c))), message: Type.String() })),
    result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    key_id: Type.String({ pattern: '^[0-9a-f]{16}$', description: 'the signing key\'s fingerprint: the first 16 hex digits of the sha256 of the box public key\'s DER (SPKI), the key of its checkpoints' }),
    signature: Type.String({ description: 'base64 Ed25519 signature with the box key over the canonical JSON of the reply without signature (keys sorted at every level, no whitespace): as checkpoints are signed' }),
  },
  { $id: 'https://edge-nvr.org/schema/mqtt/cmd-reply.json', title: '<prefix>/cmd/<name>/reply (and the MQTT 5 response topic)' },
);

export type StatusPayload = Static<typeof StatusPayload>;
export type CameraStatePayload = Static<typeof CameraStatePayload>;
export type HealthPayload = Static<typeof HealthPayload>;
export type EventPayload = Static<typeof EventPayload>;
export type CheckpointPayload = Static<typeof CheckpointPayload>;
export type CommandReply = Static<typeof CommandReply>;

/** file name (under docs/mqtt/) -> schema */
export const PUBLISHED_SCHEMAS: Record<string, TSchema> = {
  'status.schema.json': StatusPayload,
  'health.schema.json': HealthPayload,
  'event.schema.json': EventPayload,
  'checkpoint.schema.json': CheckpointPayload,
  'camera-state.schema.json': CameraStatePayload,
  'command.schema.json': CommandRequest,
  'cmd-reply.schema.json': CommandReply,
  'cmd-hold-args.schema.json': { ...CommandArgs.hold, $id: 'https://edge-nvr.org/schema/mqtt/cmd-hold-args.json' },
  'cmd-reload-args.schema.json': { ...CommandArgs.reload, $id: 'https://edge-nvr.org/schema/mqtt/cmd-reload-args.json' },
  'cmd-snapshot-args.schema.json': { ...CommandArgs.snapshot, $id: 'https://edge-nvr.org/schema/mqtt/cmd-snapshot-args.json' },
  'cmd-export-args.schema.json': { ...CommandArgs.export, $id: 'https://edge-nvr.org/schema/mqtt/cmd-export-args.json' },
  'cmd-evidence-args.schema.json': { ...CommandArgs.evidence, $id: 'https://edge-nvr.org/schema/mqtt/cmd-evidence-args.json' },
};

/** The published text of a schema: draft-07, JSON round-trip (drops TypeBox's symbols), 2 spaces. */
export function schemaJson(schema: TSchema): string {
  return JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(schema)) }, null, 2) + '\n';
}

