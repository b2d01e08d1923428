/**
 * The one source of the config's shape: TypeScript types (Static), validation (Ajv) and the
 * published JSON Schema (docs/config.schema.json, written by `npm run schema`) all come from here.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Id = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
  description: 'lower-case letters, digits, "-" and "_", starting with a letter or digit',
});

const strict = { additionalProperties: false } as const;

/** A secret given inline or, better, read from a file readable by the service only. */
const Secret = {
  password: Type.Optional(Type.String({ description: 'inline secret; prefer password_file' })),
  password_file: Type.Optional(Type.String({ minLength: 1, description: 'file holding the secret' })),
};

export const RtspSource = Type.Object(
  {
    type: Type.Literal('rtsp'),
    url: Type.String({ pattern: '^rtsps?://[^/\\s]+(/.*)?$', description: 'rtsp://host[:port]/path' }),
    username: Type.Optional(Type.String()),
    ...Secret,
  },
  strict,
);

export const OnvifSource = Type.Object(
  {
    type: Type.Literal('onvif'),
    host: Type.String({ minLength: 1, description: 'host or host:port of the ONVIF service' }),
    username: Type.Optional(Type.String()),
    ...Secret,
    profile: Type.Optional(Type.String({ description: 'media profile token; the first one when absent' })),
  },
  strict,
);

/** A synthetic camera: the daemon starts a real RTSP server on loopback and records it. */
export const TestSource = Type.Object(
  {
    type: Type.Literal('test'),
    width: Type.Integer({ minimum: 16, maximum: 3840, default: 640 }),
    height: Type.Integer({ minimum: 16, maximum: 2160, default: 360 }),
    fps: Type.Integer({ minimum: 1, maximum: 60, default: 15 }),
    bitrate_kbps: Type.Integer({ minimum: 50, maximum: 50000, default: 1000 }),
  },
  strict,
);

export const CameraSource = Type.Union([RtspSource, OnvifSource, TestSource], {
  description: 'where the camera is: rtsp, onvif or test',
});

const Retention = (what: string, extra: object = {}) =>
  Type.Object(
    {
      min_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: `days ${what} are kept at least` })),
      max_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: `days after which ${what} are deleted` })),
      below_legal_minimum_reason: Type.Optional(
        Type.String({ minLength: 3, description: 'required to set min_days under the legal 30 (or 90) days' }),
      ),
    },
    { ...strict, ...extra },
  );

const Rect = Type.Object(
  {
    x: Type.Number({ minimum: 0, maximum: 1 }),
    y: Type.Number({ minimum: 0, maximum: 1 }),
    w: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    h: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
  },
  { ...strict, description: 'a rectangle in fractions of the frame' },
);

export const Camera = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String()),
    enabled: Type.Boolean({ default: true }),
    source: CameraSource,
    record: Type.Object(
      {
        backend: Type.Union([Type.Literal('ffmpeg'), Type.Literal('gstreamer')], { default: 'ffmpeg' }),
        segment_seconds: Type.Integer({ minimum: 1, maximum: 600, default: 60 }),
        timeout_seconds: Type.Integer({ minimum: 1, maximum: 120, default: 5 }),
      },
      { ...strict, default: {} },
    ),
    retention: Type.Optional(Retention("this camera's recordings")),
    privacy_masks: Type.Array(Rect, { default: [], description: 'areas blanked in every export' }),
  },
  strict,
);

export const Config = Type.Object(
  {
    box: Type.Object(
      {
        id: Id,
        site: Type.Optional(Type.String()),
        location: Type.Optional(Type.String()),
        designated_site: Type.Boolean({
          default: false,
          description: 'a key counter-terrorism target: the legal minimum becomes 90 days',
        }),
      },
      strict,
    ),
    storage: Type.Object(
      {
        path: Type.String({ minLength: 1, default: '/var/lib/edge-nvr' }),
        free_space_floor_mb: Type.Integer({ minimum: 0, default: 1024 }),
        retention: Retention('recordings', { default: {} }),
      },
      { ...strict, default: {} },
    ),
    cameras: Type.Array(Camera, { minItems: 1 }),
    mqtt: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^(mqtts?|wss?|tcp|ssl)://', description: 'mqtt://host:1883 or mqtts://host:8883' }),
          username: Type.Optional(Type.String()),
          ...Secret,
          ca_file: Type.Optional(Type.String()),
          cert_file: Type.Optional(Type.String()),
          key_file: Type.Optional(Type.String()),
          topic_prefix: Type.Optional(Type.String({ minLength: 1 })),
          health_interval_s: Type.Integer({ minimum: 5, default: 60 }),
          keepalive_s: Type.Integer({ minimum: 2, maximum: 3600, default: 30, description: 'MQTT keepalive; the broker publishes the offline last will within 1.5 times this after the box vanishes' }),
          client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'MQTT client id (default edge-nvr-<box id>)' })),
          commands: Type.Optional(
            Type.Object(
              {
                hmac_secret_file: Type.Optional(Type.String({ minLength: 1, description: 'file holding the shared secret; when set, every command must carry a valid HMAC-SHA256' })),
                allowed_clients: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'client identities whose commands are accepted (the "client" field; enforce who may publish with broker ACLs)' }),
                max_payload_bytes: Type.Integer({ minimum: 256, maximum: 1048576, default: 16384, description: 'larger command payloads are refused unread' }),
                replay_window_s: Type.Integer({ minimum: 10, maximum: 3600, default: 300, description: 'a command whose timestamp is further than this from the box clock is refused; nonces are remembered this long' }),
              },
              { ...strict, description: 'commands on <prefix>/cmd/<name>; refused unless hmac_secret_file or allowed_clients is set' },
            ),
          ),
          home_assistant: Type.Optional(
            Type.Object(
              { discovery_prefix: Type.String({ minLength: 1, default: 'homeassistant' }) },
              { ...strict, description: 'publish Home Assistant MQTT discovery for a few sensors (present = on)' },
            ),
          ),
        },
        strict,
      ),
    ),
    redaction: Type.Object(
      {
        faces: Type.Boolean({ default: true }),
        plates: Type.Boolean({ default: true }),
        method: Type.Union([Type.Literal('pixelate'), Type.Literal('blur'), Type.Literal('fill')], { default: 'pixelate' }),
        fail_closed: Type.Literal(true, { default: true, description: 'cannot be turned off' }),
      },
      { ...strict, default: {} },
    ),
    watchdog: Type.Object(
      {
        stall_timeout_s: Type.Integer({ minimum: 2, default: 10 }),
        backoff_s: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, default: [1, 2, 5, 10, 30, 60] }),
      },
      { ...strict, default: {} },
    ),
    log: Type.Object(
      { level: Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l)), { default: 'info' }) },
      { ...strict, default: {} },
    ),
  },
  { ...strict, $id: 'https://edge-nvr.org/schema/config.json', title: 'edge-nvr configuration' },
);

export type Config = Static<typeof Config>;
export type CameraConfig = Static<typeof Camera>;
export type CameraSourceConfig = Static<typeof CameraSource>;
export type AnySchema = TSchema;

/** The legal minimum for a box: 30 days, 90 for designated sites. */
export function legalMinimumDays(config: Pick<Config, 'box'>): number {
  return config.box.designated_site ? 90 : 30;
}
