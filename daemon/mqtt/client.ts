import { readConfigFile } from '../../config/secret-files.js';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { readSecret } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { splitCredentials } from '../../common/credentials.js';
import { registerSecret } from '../log.js';

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

type MqttConfig = NonNullable<Config['mqtt']>;

/**
 * The largest packet the broker may send the box (MQTT 5 Maximum Packet Size): twice the largest
 * `mqtt.commands.max_payload_bytes` (1 MiB). The box takes in nothing but commands; without it
 * mosquitto hands a subscriber messages of up to 256 MB, each read whole into memory (several at
 * once in flight) before it is refused `too_large`. Past it the broker drops the message unanswered.
 */
export const MAX_INCOMING_PACKET_BYTES = 2 * 1024 * 1024;

/**
 * An MQTT.js client: MQTT 5 first, 3.1.1 from the next attempt on when the broker refuses the
 * protocol version; TLS with a CA and a client certificate; the password from a file (registered
 * with the log scrubber); reconnects forever with a stepped backoff. A refused login is logged
 * once per failure as an error naming the cause and retried, never fatal.
 */
export function connectBroker(cfg: MqttConfig, clientId: string, will: Will, log: Logger): MqttClient {
  const password = readSecret(cfg, 'mqtt');
  registerSecret(password);
  registerSecret(splitCredentials(cfg.url).password);
  const url = new URL(cfg.url);
  const options: IClientOptions = {
    protocolVersion: 5,
    properties: { maximumPacketSize: MAX_INCOMING_PACKET_BYTES },
    clientId,
    clean: true,
    keepalive: cfg.keepalive_s,
    connectTimeout: 10_000,
    reconnectPeriod: RECONNECT_BACKOFF_S[0]! * 1000,
    resubscribe: true,
    reconnectOnConnackError: true,
    queueQoSZero: false,
    will: { topic: will.topic, payload: Buffer.from(will.payload()), qos: 1, retain: true },
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(cfg.ca_file ? { ca: readConfigFile(cfg.ca_file) } : {}),
    ...(cfg.cert_file ? { cert: readConfigFile(cfg.cert_file) } : {}),
    ...(cfg.key_file ? { key: readConfigFile(cfg.key_file) } : {}),
  };
  const safeUrl = `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ''}`;
  const client = mqtt.connect(cfg.url, options);
  let attempt = 0;
  client.on('connect', () => {
    attempt = 0;
    client.options.reconnectPeriod = RECONNECT_BACKOFF_S[0]! * 1000;
    log.info({ broker: safeUrl, protocol: client.options.protocolVersion === 5 ? 'MQTT 5' : 'MQTT 3.1.1' }, 'mqtt connected');
  });
  // prepended: MQTT.js schedules the next try in a 'close' listener of its own, registered when
  // the client was made, so a listener added after it would set the delay for the try after next
  // (measured: 1, 1, 2, 5 s instead of 1, 2, 5, 10)
  client.prependListener('close', () => {
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
    log.error({ broker: safeUrl, code: err.code ?? null, error: err.message }, 'mqtt connection error; retrying');
  });
  return client;
}
