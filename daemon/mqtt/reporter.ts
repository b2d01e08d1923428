import type { MqttClient, IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import { readSecret } from '../../config/load.js';
import { urlWithoutSecrets } from '../../common/credentials.js';
import type { Config } from '../../config/schema.js';
import type { CommandCounts } from './refusals.js';
import type { Daemon } from '../daemon.js';
import { registerSecret } from '../log.js';
import { packageVersion } from '../package-root.js';
import { connectBroker } from './client.js';
import { CommandProcessor, type EgressHandlers } from './commands.js';
import { buildHealth, cameraViews, healthChanges, META_LAST_HEALTH } from './health.js';
import { discoveryMessages } from './home-assistant.js';
import { Outbox, OUTBOX_MAX_ROWS } from './outbox.js';
import { settleWithin } from '../../common/deadlines.js';
import type { CameraStatePayload, HealthPayload, StatusPayload } from './payloads.js';
import { safeResponseTopic, Topics } from './topics.js';

/** `meta` key holding the last status the broker acknowledged (JSON, as published; the health's: health.ts) */
export const META_LAST_STATUS = 'mqtt.last_status';

const FEED_INTERVAL_MS = 250;
const STATE_POLL_MS = 1000;
/** event messages in flight (published, PUBACK pending) at once */
const WINDOW = 64;
const STOP_TIMEOUT_MS = 3000;
/**
 * An event the broker has not acknowledged for this long is taken as lost: mosquitto, once its
 * queue for a client is full (a flood, or retained junk on the command topics), drops everything
 * it would send that client, PUBACKs included (mosquitto issues 2887, 3542). 64 lost PUBACKs had
 * filled the window and stopped the events until the next reconnect (an outside probe). The
 * reporter reconnects instead, and MQTT.js sends the unacknowledged messages again.
 */
const ACK_TIMEOUT_MS = 30_000;
/** waits after the broker refuses an event (a PUBACK reason code of 128 or more), then the last repeats */
const REFUSED_BACKOFF_S = [1, 2, 5, 10, 30];
const REFUSED_LOG_EVERY_MS = 60_000;

export interface ReporterOptions {
  handlers?: EgressHandlers;
  outboxMaxRows?: number;
  /** when the daemon started, and its command counts: a reporter started again by a reload keeps both */
  startedMs?: number;
  counts?: CommandCounts;
}

/**
 * The box on MQTT (see docs/mqtt.md): retained status with an offline last will, retained health
 * every `health_interval_s`, retained per-camera state, events from the catalog outbox (QoS 1,
 * in order, each removed once acknowledged), and commands.
 */
export class MqttReporter {
  readonly topics: Topics;
  readonly box: string;
  private client?: MqttClient;
  private outbox?: Outbox;
  private commands?: CommandProcessor;
  private readonly timers: NodeJS.Timeout[] = [];
  /** outbox rows published and not yet acknowledged, with when they were (last) sent */
  private readonly inflight = new Map<number, number>();
  private draining = false;
  /** events the broker refused in a row, when the next try is due, when that was last logged */
  private refusals = { streak: 0, untilMs: 0, loggedMs: 0 };
  private stopped = false;
  /** a clean stop has begun (quiesce): no command is taken any more */
  private closing = false;
  private readonly startedMs: number;
  private readonly published = new Map<string, string>();
  /** commands being handled (each on its own: an export never holds up a hold or a reload) */
  private readonly pending = new Set<Promise<void>>();
  /** the last health report the broker took, and when: what later reports are compared with */
  private lastHealth?: HealthPayload;
  private checkpointPublished = 0;
  private readonly version: string;

  constructor(private readonly daemon: Daemon, private readonly config: Config, private readonly log: Logger, private readonly opts: ReporterOptions = {}) {
    const mqtt = config.mqtt!;
    this.box = config.box.id;
    this.topics = new Topics(mqtt.topic_prefix ?? Topics.defaultPrefix(this.box));
    this.version = packageVersion();
    this.startedMs = opts.startedMs ?? Date.now();
  }

  private get catalog() {
    return this.daemon.catalog!;
  }

  private get connected(): boolean {
    return !!this.client?.connected && !this.stopped;
  }

  /** For the status page and the metrics: the broker link, and the queue of events not yet acknowledged. */
  isConnected(): boolean {
    return this.connected;
  }

  get queue(): Outbox | undefined {
    return this.outbox;
  }

  start(): this {
    const mqtt = this.config.mqtt!;
    const c = mqtt.commands;
    let hmacSecret: string | undefined;
    try {
      hmacSecret = c?.hmac_secret_file ? readSecret({ password_file: c.hmac_secret_file }, 'mqtt.commands') : undefined;
    } catch (err) {
      (err as Error).message = (err as Error).message.split('mqtt.commands.password_file').join('mqtt.commands.hmac_secret_file');
      throw err;
    }
    registerSecret(hmacSecret);
    this.outbox = new Outbox(this.catalog, this.topics.events, this.box, this.opts.outboxMaxRows ?? OUTBOX_MAX_ROWS);
    this.commands = new CommandProcessor(this.daemon, this.box, this.topics, {
      hmacSecret, allowedClients: c?.allowed_clients ?? [], maxPayloadBytes: c?.max_payload_bytes ?? 16384, replayWindowMs: (c?.replay_window_s ?? 300) * 1000,
      maxExportMs: (c?.max_export_s ?? 3600) * 1000, ...(this.opts.counts ? { counts: this.opts.counts } : {}),
    }, this.opts.handlers ?? {}, this.log);
    this.outbox.feed();

    const client = connectBroker(mqtt, mqtt.client_id ?? `edge-nvr-${this.box}`, {
      topic: this.topics.status, payload: () => JSON.stringify(this.status('offline', 'connection_lost')),
    }, this.log);
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('message', (topic, payload, packet) => {
      const p = this.onCommand(topic, payload, packet).catch((err) => this.log.error({ err }, 'command handling failed'));
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    });

    this.every(FEED_INTERVAL_MS, () => {
      if (this.outbox!.feed() > 0 || this.inflight.size === 0) this.drain();
      this.reconnectIfUnacknowledged();
    });
    this.every(STATE_POLL_MS, () => {
      this.publishCameraStates(false);
      this.publishCheckpoint(false);
    });
    this.every(mqtt.health_interval_s * 1000, () => void this.publishHealth(false));
    this.log.info({ prefix: this.topics.prefix, broker: urlWithoutSecrets(mqtt.url, { path: false }) }, 'mqtt reporter started');
    return this;
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      try {
        if (!this.stopped) fn();
      } catch (err) {
        this.log.error({ err }, 'mqtt reporter task failed');
      }
    }, ms);
    this.timers.push(t);
  }

  private status(state: 'online' | 'offline', reason: StatusPayload['reason']): StatusPayload {
    return { schema: 'edge-nvr/status@1', box: this.box, ts: Date.now(), state, reason, version: this.version, started_ms: this.startedMs };
  }

  private onConnect(): void {
    if (this.stopped) return;
    const online = JSON.stringify(this.status('online', 'connected'));
    this.client!.publish(this.topics.status, online, { qos: 1, retain: true }, (err) => {
      if (!err) this.remember(META_LAST_STATUS, online);
    });
    // MQTT 5: no retained messages at subscribe (rh 2: junk retained on the command topics was
    // sent at every connect, enough to fill the broker's queue for the box) and not the box's own
    // replies back (nl). A command is acted on when it is sent, never from a retained copy.
    for (const id of this.inflight.keys()) this.inflight.set(id, Date.now()); // sent again now
    this.client!.subscribe(this.topics.commandFilter, { qos: 1, rh: 2, nl: true }, (err) => {
      if (err) this.log.error({ err }, 'cannot subscribe to the command topics');
    });
    this.publishCameraStates(true);
    this.publishCheckpoint(true);
    const ha = this.config.mqtt!.home_assistant;
    if (ha) {
      for (const m of discoveryMessages(ha.discovery_prefix, this.topics, this.box, this.version, [...this.daemon.recorders.keys()])) {
        this.client!.publish(m.topic, JSON.stringify(m.payload), { qos: 1, retain: true });
      }
    }
    void this.publishHealth(true);
    this.drain();
  }

  private remember(key: string, value: string): void {
    try {
      if (this.daemon.catalog?.db.open) this.catalog.setMeta(key, value);
    } catch (err) {
      this.log.warn({ err, key }, 'cannot store what was published');
    }
  }

  /** Retained state of each camera, on change (or all of them after a connect). */
  private publishCameraStates(all: boolean): void {
    if (!this.connected) return;
    for (const v of cameraViews(this.daemon)) {
      const topic = this.topics.cameraState(v.camera);
      const key = `${v.state}/${v.restarts}/${v.view.state}/${v.view.kinds.join()}/${v.view.reference_ms}`;
      if (!all && this.published.get(topic) === key) continue;
      this.published.set(topic, key);
      const payload: CameraStatePayload = { schema: 'edge-nvr/camera-state@1', box: this.box, ts: Date.now(), ...v };
      this.client!.publish(topic, JSON.stringify(payload), { qos: 1, retain: true });
    }
  }

  /** The newest signed checkpoint, retained, byte for byte as stored (whoever took it: the
   * daemon's timer, an egress, `edge-nvr checkpoint`). */
  private publishCheckpoint(again: boolean): void {
    if (!this.connected || !this.daemon.catalog?.db.open) return;
    const newest = this.catalog.newestCheckpoint();
    if (!newest || (!again && newest.id === this.checkpointPublished)) return;
    this.checkpointPublished = newest.id;
    this.client!.publish(this.topics.checkpoint, newest.payload, { qos: 1, retain: true });
  }

  /**
   * Builds a health report and publishes it when `force`d (a connect), when something moved
   * enough since the last one the broker took (healthChanges), or when that one is
   * mqtt.health_refresh_s old: send what changes (docs/mqtt.md).
   */
  async publishHealth(force = true): Promise<void> {
    if (!this.connected || !this.daemon.catalog?.db.open) return;
    const report = await buildHealth(this.daemon, this.box, this.startedMs, this.outbox, Date.now(), this.commands?.stats());
    const last = this.lastHealth;
    const refreshMs = this.config.mqtt!.health_refresh_s * 1000;
    const changes = last && !force ? healthChanges(last, report) : [];
    if (last && !force && changes.length === 0 && report.ts - last.ts < refreshMs) return;
    report.changed = force || !last ? ['connect'] : changes.length ? changes : ['refresh'];
    if (!this.connected) return;
    const health = JSON.stringify(report);
    this.client!.publish(this.topics.health, health, { qos: 1, retain: true }, (err) => {
      if (err) return;
      this.lastHealth = report;
      this.remember(META_LAST_HEALTH, health);
    });
  }

  /** Publishes outbox rows in order, at most WINDOW unacknowledged; a row goes on its PUBACK. */
  private drain(): void {
    if (this.draining || !this.connected || !this.outbox || Date.now() < this.refusals.untilMs) return;
    this.draining = true;
    try {
      while (this.connected && this.inflight.size < WINDOW) {
        const after = this.inflight.size ? Math.max(...this.inflight.keys()) : 0;
        const rows = this.outbox.next(WINDOW - this.inflight.size, after);
        if (rows.length === 0) break;
        for (const row of rows) {
          this.inflight.set(row.id, Date.now());
          this.client!.publish(row.topic, row.payload, { qos: 1, retain: false }, (err) => {
            this.inflight.delete(row.id);
            if (err) {
              const code = (err as Error & { code?: unknown }).code;
              if (typeof code === 'number') this.refusedByBroker(row.id, row.topic, code, err.message);
              return;
            }
            this.refusals.streak = 0;
            try {
              if (this.daemon.catalog?.db.open) this.outbox!.acknowledged(row.id);
            } catch (e) {
              this.log.error({ err: e }, 'cannot remove an acknowledged message from the outbox');
            }
            if (this.inflight.size === 0) setImmediate(() => this.drain());
          });
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * The broker refused an event (MQTT 5 PUBACK reason code: the ACL does not let the box publish
   * on its events topic, a quota). The row stays; the next try waits, longer each time, and the
   * refusal is logged at most once a minute. Before, the rows went out again at every 250 ms feed,
   * 64 at a time, with no log line (an outside probe counted 2560 refused publishes in 10 s).
   * `outboxRow` is the outbox's row id, not the event's id (the log called it `event`).
   */
  private refusedByBroker(outboxRow: number, topic: string, code: number, message: string): void {
    const now = Date.now();
    if (now < this.refusals.untilMs) return; // the rest of the same window
    const waitS = REFUSED_BACKOFF_S[Math.min(this.refusals.streak, REFUSED_BACKOFF_S.length - 1)]!;
    this.refusals.streak++;
    this.refusals.untilMs = now + waitS * 1000;
    if (now - this.refusals.loggedMs < REFUSED_LOG_EVERY_MS) return;
    this.refusals.loggedMs = now;
    this.log.error({ outbox_row: outboxRow, topic, code }, `the broker refused an event (reason ${code}: ${message}): check that the broker's ACL lets the box publish on ${topic}; the events stay in the outbox, next try in ${waitS} s`);
  }

  /** See ACK_TIMEOUT_MS. */
  private reconnectIfUnacknowledged(): void {
    if (!this.connected || this.inflight.size === 0) return;
    const oldest = Math.min(...this.inflight.values());
    if (Date.now() - oldest < ACK_TIMEOUT_MS) return;
    this.log.error({ unacknowledged: this.inflight.size, waitedMs: Date.now() - oldest },
      'the broker has not acknowledged events for 30 s (is it dropping messages for the box? its queue for the box may be full); reconnecting to send them again');
    for (const id of this.inflight.keys()) this.inflight.set(id, Date.now());
    this.client!.stream.destroy();
  }

  private async onCommand(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    if (this.stopped || this.closing || !this.daemon.catalog?.db.open) return;
    const outcome = await this.commands!.handle(topic, payload);
    if (!outcome || !this.client) return;
    const body = JSON.stringify(outcome.reply);
    this.client.publish(outcome.replyTopic, body, { qos: 1 });
    const responseTopic = packet.properties?.responseTopic;
    // Only a signed request picks where else its reply goes: unsigned junk with a response topic
    // had the box publish, with its own broker credentials, on topics its sender may not write
    // (another box's status or command topics: an outside probe).
    if (outcome.signed && safeResponseTopic(responseTopic) && responseTopic !== outcome.replyTopic && !this.ownTopic(responseTopic)) {
      const correlationData = packet.properties?.correlationData;
      this.client.publish(responseTopic, body, { qos: 1, properties: correlationData ? { correlationData } : {} });
    }
  }

  /**
   * Whether a topic is one of the box's own (its prefix, or its Home Assistant discovery configs):
   * never a response topic, or a sender (signed or not) could make the box publish a reply on its
   * status, health, events or checkpoint topic, another command's reply topic, or back into a
   * command topic.
   */
  private ownTopic(topic: string): boolean {
    const discovery = this.config.mqtt!.home_assistant?.discovery_prefix;
    return [this.topics.prefix, ...(discovery ? [discovery] : [])].some((p) => topic === p || topic.startsWith(`${p}/`));
  }

  /**
   * The first half of a clean stop, before the recorders stop: no more commands, running snapshots
   * and exports cancelled (their replies say so). The connection stays up, so the checkpoint the
   * daemon signs once every segment is finalised goes out with stop() (it never did: the
   * reporter was gone before it existed, an outside probe).
   */
  async quiesce(why?: string): Promise<void> {
    if (this.stopped || this.closing) return;
    this.closing = true;
    await this.commands?.stop(why);
    await settleWithin(Promise.allSettled([...this.pending]), STOP_TIMEOUT_MS, undefined);
  }

  /**
   * Clean stop: running snapshots and exports are cancelled and answered, the retained status
   * says offline (clean_stop), then the connection closes. `next` (a reload replaces this
   * reporter with one for that config): no offline status when the next one says online on the
   * same broker and topic; when the box id, the prefix or the broker changes, this topic is left
   * offline (it had said online for ever, with no last will left to correct it: a ghost box).
   */
  async stop({ next }: { next?: Config } = {}): Promise<void> {
    const nextMqtt = next?.mqtt;
    const reconnecting = !!nextMqtt && nextMqtt.url === this.config.mqtt!.url
      && (nextMqtt.topic_prefix ?? Topics.defaultPrefix(next!.box.id)) === this.topics.prefix;
    if (this.stopped) return;
    for (const t of this.timers) clearInterval(t);
    const client = this.client;
    if (!client) { this.stopped = true; return; }
    // done already when the daemon quiesced this reporter before stopping the recorders
    await this.quiesce(next ? 'the MQTT settings were reloaded' : undefined);
    if (client.connected && !reconnecting) {
      this.publishCheckpoint(false);
      const offline = JSON.stringify(this.status('offline', 'clean_stop'));
      await settleWithin(new Promise<void>((resolve) => client.publish(this.topics.status, offline, { qos: 1, retain: true }, (err) => {
        if (!err) this.remember(META_LAST_STATUS, offline);
        resolve();
      })), STOP_TIMEOUT_MS, undefined);
    }
    this.stopped = true;
    const ended = await settleWithin(new Promise<boolean>((resolve) => client.end(false, {}, () => resolve(true))), STOP_TIMEOUT_MS, false);
    // MQTT.js's end(false) waits for every acknowledgement, and a second end() while it waits
    // does nothing: a broker that dropped them kept the socket, and the daemon, alive after
    // SIGTERM (an outside probe waited 100 s). Closed here instead.
    if (!ended) client.stream.destroy();
    this.log.info('mqtt reporter stopped');
  }
}

/** Starts the reporter when the config has an `mqtt` section (lifecycle calls this after daemon.start()). */
export function startMqtt(daemon: Daemon, config: Config, log: Logger, opts: ReporterOptions = {}): MqttReporter | undefined {
  if (!config.mqtt) return undefined;
  return new MqttReporter(daemon, config, log, opts).start();
}
