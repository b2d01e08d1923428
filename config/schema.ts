/**
 * The one source of the config's shape: TypeScript types (Static), validation (Ajv, compiled
 * ahead of time into validate.generated.ts) and the published JSON Schema
 * (docs/config.schema.json) all come from here; `npm run schema` writes both after a change.
 * Only the build imports this module's values: at run time the loader uses its types alone.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CAMERA_HOST } from './listen.js';

const Id = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
  description: 'lower-case letters, digits, "-" and "_", starting with a letter or digit',
});

const strict = { additionalProperties: false } as const;
/** Names, labels and user names, and the reasons a config states, are shown on the page, in
 * health, manifests and the audit log: a 3 MB site name passed `check` (an outside probe). */
const NAME_MAX = 200;
const REASON_MAX = 500;

/** host:port, the host a name, an IPv4 address or a bracketed IPv6 address */
const LISTEN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$';

/** an upload host: a name, an IPv4 address or a bracketed IPv6 address, optionally :port */
const UPLOAD_HOST = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$';


/**
 * MQTT topic levels the box publishes under: no wildcard (+, #), not the broker's own $ topics,
 * and no empty level ("a//b/" had the box publish on a//b//status, which `a/b/#` does not match)
 */
const TOPIC_PREFIX = '^[^$+#/](?:[^+#/]|/(?!/|$))*$';

/** A secret given inline or, better, read from a file readable by the service only. */
const Secret = {
  password: Type.Optional(Type.String({ description: 'inline secret; prefer password_file' })),
  password_file: Type.Optional(Type.String({ minLength: 1, description: 'file holding the secret' })),
};

export const RtspSource = Type.Object(
  {
    type: Type.Literal('rtsp'),
    url: Type.String({ pattern: '^rtsps?://[^/\\s]+(/.*)?$', description: 'rtsp://host[:port]/path' }),
    username: Type.Optional(Type.String({ maxLength: NAME_MAX })),
    ...Secret,
  },
  strict,
);

export const OnvifSource = Type.Object(
  {
    type: Type.Literal('onvif'),
    // a host only: a URL or `user:password@host` here would put the password in every error and log line
    host: Type.String({ pattern: CAMERA_HOST, description: 'host or host:port of the ONVIF service (no scheme, no user:password@; an IPv6 address in brackets)' }),
    username: Type.Optional(Type.String({ maxLength: NAME_MAX })),
    ...Secret,
    profile: Type.Optional(Type.String({ description: 'media profile token; the first one when absent' })),
    allowed_stream_hosts: Type.Optional(Type.Array(Type.String({ pattern: '^[^\\s/@]+$', description: 'a host name or address' }), {
      description: 'other hosts the camera may name in its stream URI (a separate streaming server); by default only its own host is accepted',
    })),
  },
  strict,
);

/** A synthetic camera: the daemon starts a real RTSP server on loopback and records it. */
export const TestSource = Type.Object(
  {
    type: Type.Literal('test'),
    // the simulated camera encodes 4:2:0 (x264): an odd size never recorded ("Server returned 5XX")
    width: Type.Integer({ minimum: 16, maximum: 3840, multipleOf: 2, default: 640 }),
    height: Type.Integer({ minimum: 16, maximum: 2160, multipleOf: 2, default: 360 }),
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
        // three characters besides the spaces around them, as every reason the box registers ("   x   " passed)
        Type.String({ minLength: 3, maxLength: REASON_MAX, pattern: '\\S[\\s\\S]+\\S', description: 'the reason, 3 characters or more besides spaces, required to set min_days under the legal 30 (or 90) days' }),
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

const Point = Type.Array(Type.Number({ minimum: 0, maximum: 1 }), { minItems: 2, maxItems: 2, description: '[x, y] in fractions of the frame' });

const Polygon = Type.Object(
  { points: Type.Array(Point, { minItems: 3, maxItems: 64, description: 'the corners, in order' }) },
  { ...strict, description: 'a polygon in fractions of the frame' },
);

/** A masked area: a rectangle or a polygon, in fractions of the frame (0-1). */
export const Mask = Type.Union([Rect, Polygon], { description: 'a rectangle {x, y, w, h} or a polygon {points: [[x, y], ...]} in fractions of the frame' });
export type Mask = Static<typeof Mask>;

/** Watching the view (docs/tamper.md): on by default; off only with a written reason. */
const Tamper = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'watch this camera\'s view for covering, spraying, defocus, moving and freezing' }),
    reason: Type.Optional(Type.String({ minLength: 3, maxLength: REASON_MAX, description: 'why the view is not watched (required when enabled is false), e.g. "PTZ patrol tour"' })),
    sensitivity: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')], { default: 'medium', description: 'how much of the view must change before it counts' }),
    persistence_s: Type.Number({ minimum: 2, maximum: 600, default: 10, description: 'a change must last this long to be raised, and be gone this long to be cleared' }),
    learn_s: Type.Number({ minimum: 5, maximum: 3600, default: 60, description: 'how long the normal view is watched to learn the reference, at commissioning and after tamper reset' }),
  },
  { ...strict, default: {} },
);

export const Camera = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: NAME_MAX })),
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
    privacy_masks: Type.Array(Mask, { default: [], description: 'areas blanked in every export (the recordings keep them)' }),
    capture_masks: Type.Array(Mask, {
      default: [], maxItems: 32,
      description: 'areas blanked before anything is written: the recordings never hold them; a camera whose masks cannot be enforced is not recorded',
    }),
    capture_masks_on: Type.Union([Type.Literal('auto'), Type.Literal('camera'), Type.Literal('box')], {
      default: 'auto',
      description: 'where capture masks are enforced: camera (ONVIF Media2 privacy masks, read back; an onvif source only), '
        + 'box (decode, blank, encode on the box), auto (the camera when it holds them, else the box)',
    }),
    tamper: Tamper,
  },
  strict,
);

const Rgb = (value: number, what: string) =>
  Type.Array(Type.Number(), { minItems: 3, maxItems: 3, default: [value, value, value], description: what });

/** How frame pixels become the model's input tensor. */
const OnnxInput = Type.Object(
  {
    tensor: Type.Optional(Type.String({ minLength: 1, description: 'input name (default: the model\'s first input)' })),
    width: Type.Integer({ minimum: 8, maximum: 4096 }),
    height: Type.Integer({ minimum: 8, maximum: 4096 }),
    layout: Type.Union([Type.Literal('nchw'), Type.Literal('nhwc')], { default: 'nchw' }),
    channels: Type.Union([Type.Literal('rgb'), Type.Literal('bgr')], { default: 'rgb' }),
    mean: Rgb(0, 'subtracted from each channel scaled to 0..1'),
    std: Rgb(1, 'then divided into it: value = (pixel / 255 - mean) / std'),
    resize: Type.Union([Type.Literal('letterbox'), Type.Literal('stretch')], { default: 'letterbox', description: 'letterbox keeps the aspect (padding right and bottom); stretch fills the input' }),
    pad_value: Type.Union([Type.Number({ minimum: 0, maximum: 255 }), Type.Array(Type.Number({ minimum: 0, maximum: 255 }), { minItems: 3, maxItems: 3 })],
      { default: 0, description: 'pixel value (0-255, or one per channel) of letterbox padding' }),
  },
  strict,
);

/** One row per candidate: box coordinates, a score and optionally per-class scores. */
const BoxesOutput = Type.Object(
  {
    format: Type.Literal('boxes'),
    tensor: Type.Optional(Type.String({ minLength: 1, description: 'output name (default: the first output)' })),
    transposed: Type.Boolean({ default: false, description: 'rows are the last axis ([1, values, candidates], as YOLOv8 writes them)' }),
    box: Type.Union([Type.Literal('xyxy'), Type.Literal('xywh'), Type.Literal('cxcywh')], { default: 'xyxy' }),
    box_at: Type.Integer({ minimum: 0, default: 0, description: 'index of the first box value in a row' }),
    normalized: Type.Boolean({ default: false, description: 'coordinates in 0..1 of the input instead of input pixels' }),
    score_at: Type.Optional(Type.Integer({ minimum: 0, description: 'index of the (objectness) score in a row' })),
    classes_at: Type.Optional(Type.Integer({ minimum: 0, description: 'index of the first per-class score; a row\'s class is the best one' })),
    labels: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'what each class is called (face, plate, person, ...); classes without a label are not hidden' })),
    sigmoid: Type.Boolean({ default: false, description: 'scores are logits' }),
    nms_iou: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.45, description: 'overlapping boxes of one class above this IoU are merged' }),
  },
  strict,
);

/** A per-pixel probability map (DBNet text detectors): regions above the threshold become boxes. */
const HeatmapOutput = Type.Object(
  {
    format: Type.Literal('heatmap'),
    tensor: Type.Optional(Type.String({ minLength: 1, description: 'output name (default: the first output)' })),
    min_area: Type.Integer({ minimum: 1, default: 6, description: 'smaller regions (map pixels) are ignored' }),
    grow: Type.Number({ minimum: 0, default: 1, description: 'each region grows by this many times its thinner side on every side (DBNet shrinks text)' }),
  },
  strict,
);

const OnnxDetector = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'lower-case letters, digits, "-" and "_", starting with a letter or digit (recorded in every manifest; not blazeface or ppocr-det)' }),
    model: Type.String({ minLength: 1, description: 'path of the .onnx file' }),
    sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: 'refuse a model file with any other hash' })),
    label: Type.String({ minLength: 1, default: 'object', description: 'what the boxes are (face, plate, text, ...) when the output has no labels' }),
    threshold: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.5, description: 'score (after sigmoid) above which a candidate or pixel counts' }),
    every_n_frames: Type.Integer({ minimum: 1, default: 1, description: 'run on every n-th frame and on scene changes; tracked in between' }),
    pad: Type.Number({ minimum: 0, maximum: 2, default: 0.1, description: 'share of a box\'s size added on each side before hiding it' }),
    tile: Type.Integer({ minimum: 0, default: 0, description: 'also run on overlapping square tiles of this many frame pixels (small objects); 0 = whole frame only' }),
    input: OnnxInput,
    output: Type.Union([BoxesOutput, HeatmapOutput]),
  },
  { ...strict, description: 'any ONNX detector, by path, with its input and output layout' },
);

export const Config = Type.Object(
  {
    box: Type.Object(
      {
        id: Id,
        site: Type.Optional(Type.String({ maxLength: NAME_MAX })),
        location: Type.Optional(Type.String({ maxLength: NAME_MAX })),
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
        exports_max_days: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()], {
          default: 30,
          description: 'exports, redacted copies and evidence bundles in <storage.path>/exports are deleted after this many days, unless an active hold covers them (null keeps them)',
        }),
      },
      { ...strict, default: {} },
    ),
    integrity: Type.Object(
      {
        checkpoint_interval_s: Type.Integer({ minimum: 10, maximum: 86400, default: 300, description: 'a signed checkpoint of every chain this often (and on every egress and clean stop)' }),
        verify_read_mb_s: Type.Number({ minimum: 0, maximum: 1000, default: 2, description: 'background re-hash of stored segments, MB read per second (0 = off); keep it small on an SD card' }),
        age_deletion_needs_clock_sync: Type.Boolean({
          default: true,
          description: 'age-based deletion waits while the clock is not known to be synchronised; false for a box that can never tell (it still pauses after a forward clock step)',
        }),
      },
      { ...strict, default: {} },
    ),
    cameras: Type.Array(Camera, { minItems: 1 }),
    mqtt: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^(mqtts?|wss?|tcp|ssl)://', description: 'mqtt://host:1883 or mqtts://host:8883' }),
          username: Type.Optional(Type.String({ maxLength: NAME_MAX })),
          ...Secret,
          ca_file: Type.Optional(Type.String()),
          cert_file: Type.Optional(Type.String()),
          key_file: Type.Optional(Type.String()),
          topic_prefix: Type.Optional(Type.String({ pattern: TOPIC_PREFIX, description: 'topic levels, e.g. site/edge-nvr/box1: no + or #, no empty level, not starting with $' })),
          health_interval_s: Type.Integer({ minimum: 5, default: 60, description: 'seconds between health checks; a report is published when something changed since the last one' }),
          health_refresh_s: Type.Integer({ minimum: 5, default: 300, description: 'the longest the box goes without publishing a health report when nothing changed' }),
          keepalive_s: Type.Integer({ minimum: 2, maximum: 3600, default: 30, description: 'MQTT keepalive; the broker publishes the offline last will within 1.5 times this after the box vanishes' }),
          client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'MQTT client id (default edge-nvr-<box id>)' })),
          commands: Type.Optional(
            Type.Object(
              {
                hmac_secret_file: Type.Optional(Type.String({ minLength: 1, description: 'file holding the shared secret (at least 32 characters, mode 0600 or 0640 with the service group); every command must carry a valid HMAC-SHA256 over the box id, the topic and the request' })),
                allowed_clients: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'client names (the signed "client" field) whose commands are accepted; needs hmac_secret_file' }),
                max_payload_bytes: Type.Integer({ minimum: 256, maximum: 1048576, default: 16384, description: 'larger command payloads are refused unread' }),
                replay_window_s: Type.Integer({ minimum: 10, maximum: 3600, default: 300, description: 'a command whose timestamp is further than this from the box clock is refused; its nonce is remembered until its timestamp is that old' }),
                max_export_s: Type.Integer({ minimum: 1, maximum: 86400, default: 3600, description: 'the longest range one export command may ask for' }),
              },
              { ...strict, description: 'commands on <prefix>/cmd/<name>; refused unless hmac_secret_file is set' },
            ),
          ),
          home_assistant: Type.Optional(
            Type.Object(
              { discovery_prefix: Type.String({ pattern: TOPIC_PREFIX, default: 'homeassistant', description: 'topic levels, e.g. homeassistant: no + or #, no empty level, not starting with $' }) },
              { ...strict, description: 'publish Home Assistant MQTT discovery for a few sensors (present = on)' },
            ),
          ),
        },
        strict,
      ),
    ),
    http: Type.Optional(
      Type.Object(
        {
          listen: Type.Optional(Type.String({ pattern: LISTEN, description: 'host:port of the status web page, e.g. 127.0.0.1:8080 (absent: no page)' })),
          metrics_listen: Type.Optional(Type.String({ pattern: LISTEN, description: 'host:port of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9464 (absent: no metrics)' })),
          cert_file: Type.Optional(Type.String({ minLength: 1, description: "the box's TLS certificate (PEM, chain included); with key_file, both endpoints speak HTTPS only" })),
          key_file: Type.Optional(Type.String({ minLength: 1, description: 'its private key (PEM), readable by the service only' })),
          plain_http_reason: Type.Optional(Type.String({ minLength: 3, maxLength: REASON_MAX, description: 'required to serve plain HTTP on an address other than loopback: why that is acceptable here' })),
          users_file: Type.Optional(Type.String({ minLength: 1, description: 'who may log in to the page (edge-nvr user add); default <storage.path>/users.json' })),
          session_idle_minutes: Type.Integer({ minimum: 1, maximum: 1440, default: 30, description: 'a session unused this long ends' }),
          session_max_hours: Type.Integer({ minimum: 1, maximum: 168, default: 12, description: 'a session ends this long after its login, used or not' }),
          refresh_seconds: Type.Integer({ minimum: 2, maximum: 600, default: 10, description: 'how often the open page reloads its overview' }),
        },
        { ...strict, description: 'the status web page and the Prometheus endpoint (both off unless their listen is set)' },
      ),
    ),
    uploads: Type.Optional(
      Type.Object(
        {
          allowed_hosts: Type.Array(Type.String({ pattern: UPLOAD_HOST, description: 'host or host:port (443 when left out), compared exactly with the target URL\'s' }), {
            minItems: 1, description: 'the only hosts an upload target (MQTT upload_url) may name; every other target is refused before anything is written or sent',
          }),
          bearer_tokens: Type.Array(
            Type.Object(
              {
                host: Type.String({ pattern: UPLOAD_HOST, description: 'one of allowed_hosts' }),
                token_file: Type.String({ minLength: 1, description: 'file holding the token (mode 0600, or 0640 with the service group); sent as Authorization: Bearer to this host only' }),
              },
              strict,
            ),
            { default: [], description: 'hosts that take a plain HTTPS PUT with a bearer token (pre-signed URLs need none: their signature is in the URL)' },
          ),
          ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of a CA the platform\'s servers are trusted by, besides the system\'s; verification is never turned off' })),
          retry_s: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, default: [10, 30, 60, 300, 900, 1800], description: 'waits after each failed attempt, with 20% jitter; the last one repeats' }),
          max_attempts: Type.Integer({ minimum: 1, maximum: 1000, default: 30, description: 'an upload that failed this many times is given up (upload_failed)' }),
          max_age_h: Type.Number({ exclusiveMinimum: 0, maximum: 720, default: 48, description: 'an upload not delivered this many hours after it was asked for is given up (pre-signed URLs expire)' }),
          timeout_s: Type.Integer({ minimum: 5, maximum: 3600, default: 60, description: 'an attempt whose connection is silent this long fails' }),
        },
        { ...strict, description: 'delivery of exports, snapshots and evidence bundles to a platform by HTTPS PUT (docs/evidence.md#delivery-uploads); absent: upload targets are refused' },
      ),
    ),
    redaction: Type.Object(
      {
        faces: Type.Boolean({ default: true, description: 'hide faces (false needs faces_off_reason)' }),
        faces_off_reason: Type.Optional(Type.String({ minLength: 3, maxLength: REASON_MAX, description: 'required with faces: false: why faces may leave the box in the clear (audited, in every manifest)' })),
        plates: Type.Boolean({ default: true, description: 'hide licence plates and other text (false needs plates_off_reason)' }),
        plates_off_reason: Type.Optional(Type.String({ minLength: 3, maxLength: REASON_MAX, description: 'required with plates: false: why text may leave the box in the clear (audited, in every manifest)' })),
        method: Type.Union([Type.Literal('pixelate'), Type.Literal('blur'), Type.Literal('fill')], { default: 'pixelate' }),
        fail_closed: Type.Literal(true, { default: true, description: 'cannot be turned off' }),
        detectors: Type.Array(OnnxDetector, { default: [], description: 'extra ONNX detectors, run beside the built-in face and text detectors' }),
      },
      { ...strict, default: {} },
    ),
    watchdog: Type.Object(
      {
        stall_timeout_s: Type.Integer({ minimum: 2, default: 10 }),
        backoff_s: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, default: [1, 2, 5, 10, 30, 60] }),
        camera_masks_check_s: Type.Number({
          minimum: 1, maximum: 3600, default: 30,
          description: 'how often the privacy masks a camera enforces are read back from it (also at every reconnection)',
        }),
        view_cpu_percent: Type.Number({
          minimum: 0.5, maximum: 100, default: 12.8,
          description: 'share of one core, in percent, that watching every camera\'s view may take together (at most 0.8 a camera); lower frees CPU on a box with many cameras and makes tamper alarms later',
        }),
      },
      { ...strict, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l)), { default: 'info' }),
        format: Type.Union(['auto', 'json', 'pretty'].map((l) => Type.Literal(l)), {
          default: 'auto', description: 'auto: readable lines on a terminal, JSON lines otherwise (journald); EDGE_NVR_LOG_FORMAT overrides it',
        }),
      },
      { ...strict, default: {} },
    ),
  },
  { ...strict, $id: 'https://edge-nvr.org/schema/config.json', title: 'edge-nvr configuration' },
);

export type Config = Static<typeof Config>;
export type CameraConfig = Static<typeof Camera>;
export type TamperConfig = Static<typeof Tamper>;
export type OnnxDetectorConfig = Static<typeof OnnxDetector>;
