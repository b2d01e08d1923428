import { readConfigFile } from '../../config/secret-files.js';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { readSecret } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { randomBytes } from 'node:crypto';
import { scrubCredentials, splitCredentials } from '../../common/credentials.js';
import { registerSecret } from '../log.js';
import type { Duplex } from 'node:stream';
import { guardPacketSize, PacketTooLarge } from './packet-size-guard.js';

/** reconnect delays in seconds; the last repeats, and a successful connect starts over */
export const RECONNECT_BACKOFF_S = [1, 2, 5, 10];

export interface Will {
  topic: string;
  payload: () => string;
}

/** MQTT 5 and 3.1.1 CONNACK codes that mean the credentials are wrong (v3: 4, 5; v5: 134, 135) */
const AUTH_CODES = new Set([4, 5, 134, 135]);
/** "unacceptable protocol version" (v3: 1; v5: 132): the broker speaks 3.1.1 only */
const PROTOCOL_CODES = new Set([1, 132]);
/** "identifier rejected" (v3: 2; v5: 133, "client identifier not valid") */
const CLIENT_ID_CODES = new Set([2, 133]);

type MqttConfig = NonNullable<Config['mqtt']>;

/**
 * The largest packet the broker may send the box (MQTT 5 Maximum Packet Size): twice the largest
 * `mqtt.commands.max_payload_bytes` (1 MiB). The box takes in nothing but commands; without it
 * mosquitto hands a subscriber messages of up to 256 MB, each read whole into memory (several at
 * once in flight) before it is refused `too_large`. Past it the broker drops the message unanswered.
 */
export const MAX_INCOMING_PACKET_BYTES = 2 * 1024 * 1024;

/** What a connection to the broker logs in with: protocol, client id, credentials (the password
 * from its file, registered with the log scrubber) and the TLS files. The daemon's client and
 * `check`'s one login share it, so check tries exactly what the daemon will. */
function loginOptions(cfg: MqttConfig, clientId: string): IClientOptions {
  const password = readSecret(cfg, 'mqtt');
  registerSecret(password);
  registerSecret(splitCredentials(cfg.url).password);
  return {
    protocolVersion: 5,
    properties: { maximumPacketSize: MAX_INCOMING_PACKET_BYTES },
    clientId,
    clean: true,
    keepalive: cfg.keepalive_s,
    connectTimeout: 10_000,
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(cfg.ca_file ? { ca: readConfigFile(cfg.ca_file) } : {}),
    ...(cfg.cert_file ? { cert: readConfigFile(cfg.cert_file) } : {}),
    ...(cfg.key_file ? { key: readConfigFile(cfg.key_file) } : {}),
  };
}

/** `scheme://host[:port]`: the broker named without credentials or path. */
function brokerAddress(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}`;
}

export interface LoginResult {
  ok: boolean;
  /** one line for an installer: what the broker said, and the setting to change when it refused */
  detail: string;
}

/**
 * One login to the broker as the daemon would make it (MQTT 5, then 3.1.1 when the broker
 * refuses the version), ended cleanly at once, so the box's last will is not sent. The client id
 * is the daemon's with `-check` and a random tail: a broker drops an older connection that has
 * the same id, and the running daemon must not be the one dropped.
 */
export async function tryLogin(cfg: MqttConfig, clientId: string, timeoutMs = 5000): Promise<LoginResult> {
  const at = brokerAddress(cfg.url);
  let options: IClientOptions;
  try {
    options = { ...loginOptions(cfg, `${clientId}-check-${randomBytes(3).toString('hex')}`), reconnectPeriod: 0, connectTimeout: timeoutMs };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
  for (const protocolVersion of [5, 4] as const) {
    const outcome = await new Promise<{ connected: boolean; code?: number | string; message?: string }>((resolve) => {
      const client = mqtt.connect(cfg.url, { ...options, protocolVersion });
      const finish = (r: { connected: boolean; code?: number | string; message?: string }) => {
        clearTimeout(timer);
        client.removeAllListeners();
        client.on('error', () => undefined); // late socket errors after end
        client.end(true);
        resolve(r);
      };
      const timer = setTimeout(() => finish({ connected: false, message: `no answer within ${timeoutMs / 1000} s` }), timeoutMs + 1000);
      client.once('connect', () => finish({ connected: true }));
      client.once('error', (err: Error & { code?: number | string }) => finish({ connected: false, code: err.code, message: err.message }));
      client.once('close', () => finish({ connected: false, message: 'the broker closed the connection without answering the login' }));
    });
    const version = protocolVersion === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
    if (outcome.connected) return { ok: true, detail: `${at} accepted the login (${version}${cfg.username !== undefined ? `, user ${cfg.username}` : ''})` };
    const code = typeof outcome.code === 'number' ? outcome.code : undefined;
    if (code !== undefined && PROTOCOL_CODES.has(code) && protocolVersion === 5) continue;
    if (code !== undefined && AUTH_CODES.has(code)) {
      return { ok: false, detail: `${at} refused the login (${outcome.message}): check mqtt.username and mqtt.password_file` };
    }
    if (code !== undefined && CLIENT_ID_CODES.has(code)) {
      return { ok: false, detail: `${at} refused the client id (${outcome.message}): check mqtt.client_id and the broker's client id rules` };
    }
    const tls = typeof outcome.code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(outcome.code);
    const what = typeof outcome.code === 'string' && !outcome.message?.includes(outcome.code) ? `${outcome.code}: ${outcome.message}` : outcome.message ?? String(outcome.code);
    return { ok: false, detail: `${at}: ${scrubCredentials(what)}${tls ? '; check mqtt.ca_file, mqtt.cert_file and mqtt.key_file' : ''}` };
  }
  return { ok: false, detail: `${at}: the broker refused both MQTT 5 and 3.1.1` };
}

/**
 * An MQTT.js client: MQTT 5 first, 3.1.1 from the next attempt on when the broker refuses the
 * protocol version; TLS with a CA and a client certificate; the password from a file (registered
 * with the log scrubber); reconnects forever with a stepped backoff. A refused login is logged
 * once per failure as an error naming the cause and retried, never fatal.
 */
/** a connection up this long counts as held: the reconnect steps start over after it */
const STABLE_CONNECTION_MS = 30_000;

export function connectBroker(cfg: MqttConfig, clientId: string, will: Will, log: Logger): MqttClient {
  const options: IClientOptions = {
    ...loginOptions(cfg, clientId),
    reconnectPeriod: RECONNECT_BACKOFF_S[0]! * 1000,
    resubscribe: true,
    reconnectOnConnackError: true,
    queueQoSZero: false,
    will: { topic: will.topic, payload: Buffer.from(will.payload()), qos: 1, retain: true },
  };
  const safeUrl = brokerAddress(cfg.url);
  const client = mqtt.connect(cfg.url, options);
  // every connection: the first, made in the constructor, and each reconnect's, made right after
  // 'reconnect' is emitted; guarded on the next tick, before any of its bytes can arrive
  const guard = () => guardPacketSize(client.stream as unknown as Duplex, MAX_INCOMING_PACKET_BYTES);
  guard();
  client.on('reconnect', () => process.nextTick(guard));
  let attempt = 0;
  let connectedAt = 0;
  client.on('connect', () => {
    connectedAt = Date.now();
    client.options.reconnectPeriod = RECONNECT_BACKOFF_S[0]! * 1000;
    log.info({ broker: safeUrl, protocol: client.options.protocolVersion === 5 ? 'MQTT 5' : 'MQTT 3.1.1' }, 'mqtt connected');
  });
  // prepended: MQTT.js schedules the next try in a 'close' listener of its own, registered when
  // the client was made, so a listener added after it would set the delay for the try after next
  // (measured: 1, 1, 2, 5 s instead of 1, 2, 5, 10)
  client.prependListener('close', () => {
    // the steps start over only after a connection that held: one dropped at once (a retained
    // message past the size limit on a command topic, sent again at every subscribe on MQTT
    // 3.1.1) had the box reconnect every second for ever (an outside probe: 34 times in 30 s)
    if (connectedAt && Date.now() - connectedAt >= STABLE_CONNECTION_MS) attempt = 0;
    connectedAt = 0;
    attempt++;
    const delay = RECONNECT_BACKOFF_S[Math.min(attempt - 1, RECONNECT_BACKOFF_S.length - 1)]!;
    client.options.reconnectPeriod = delay * 1000;
    // the will carries the time it was registered: refresh it for the next connection
    client.options.will = { ...client.options.will!, payload: Buffer.from(will.payload()) };
  });
  client.on('offline', () => log.warn({ broker: safeUrl }, 'mqtt broker unreachable; events are kept in the outbox'));
  client.on('error', (err: Error & { code?: number | string }) => {
    const code = typeof err.code === 'number' ? err.code : undefined;
    if (code !== undefined && PROTOCOL_CODES.has(code) && client.options.protocolVersion === 5) {
      client.options.protocolVersion = 4;
      log.warn({ broker: safeUrl }, 'mqtt broker does not speak MQTT 5: falling back to MQTT 3.1.1');
      return;
    }
    if (code !== undefined && AUTH_CODES.has(code)) {
      log.error({ broker: safeUrl, code, username: cfg.username ?? null }, `mqtt broker refused the login (${err.message}): check mqtt.username and mqtt.password_file; retrying`);
      return;
    }
    if (err instanceof PacketTooLarge) {
      log.error({ broker: safeUrl, bytes: err.bytes, maxBytes: err.max }, `${err.message}: a message past the box's limit (MQTT ${client.options.protocolVersion === 5 ? '5' : '3.1.1'}); reconnecting`);
      return;
    }
    log.error({ broker: safeUrl, code: err.code ?? null, error: err.message }, 'mqtt connection error; retrying');
  });
  return client;
}
