import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export const SCHEMA_DIR = fileURLToPath(new URL('../../docs/mqtt/', import.meta.url)).replace('/dist/docs/', '/docs/');

export interface Received {
  topic: string;
  text: string;
  json: unknown;
  retain: boolean;
  at: number;
  /** the schema file it was checked against, or null when the topic has none */
  schema: string | null;
  errors: string | null;
  correlation?: string;
}

/** The published JSON Schemas (docs/mqtt/*.schema.json), compiled. */
export function loadSchemas(): Record<string, ValidateFunction> {
  const ajv = new Ajv({ strict: true, allErrors: true });
  const out: Record<string, ValidateFunction> = {};
  for (const f of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'))) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as Record<string, unknown>;
    delete schema.$schema;
    out[f] = ajv.compile(schema);
  }
  return out;
}

/** Which published schema a topic's messages must follow. */
export function schemaFor(prefix: string, topic: string, responsePrefix?: string): string | null {
  if (responsePrefix && topic.startsWith(responsePrefix)) return 'cmd-reply.schema.json';
  if (!topic.startsWith(`${prefix}/`)) return null;
  const rest = topic.slice(prefix.length + 1);
  if (rest === 'status') return 'status.schema.json';
  if (rest === 'health') return 'health.schema.json';
  if (rest === 'events') return 'event.schema.json';
  if (rest === 'checkpoint') return 'checkpoint.schema.json';
  if (/^cameras\/[^/]+\/state$/.test(rest)) return 'camera-state.schema.json';
  if (/^cmd\/.+\/reply$/.test(rest)) return 'cmd-reply.schema.json';
  return null;
}

/**
 * A platform's subscriber: everything under the box's prefix (and a response-topic prefix),
 * each message validated against its published schema on arrival.
 */
export class Subscriber {
  client!: MqttClient;
  readonly messages: Received[] = [];
  private readonly schemas = loadSchemas();

  constructor(readonly url: string, readonly prefix: string, readonly opts: IClientOptions & { responsePrefix?: string } = {}) {}

  async connect(): Promise<this> {
    this.client = mqtt.connect(this.url, { protocolVersion: 5, reconnectPeriod: 500, connectTimeout: 5000, ...this.opts });
    this.client.on('message', (topic, payload, packet) => {
      const text = payload.toString('utf8');
      let json: unknown;
      try { json = JSON.parse(text); } catch { json = undefined; }
      const schema = schemaFor(this.prefix, topic, this.opts.responsePrefix);
      let errors: string | null = null;
      if (schema) {
        const v = this.schemas[schema]!;
        if (!v(json)) errors = JSON.stringify(v.errors);
      }
      const corr = packet.properties?.correlationData;
      this.messages.push({ topic, text, json, retain: packet.retain, at: Date.now(), schema, errors, ...(corr ? { correlation: corr.toString() } : {}) });
    });
    await new Promise<void>((resolve, reject) => {
      this.client.once('connect', () => resolve());
      this.client.once('error', reject);
    });
    const topics = [`${this.prefix}/#`, ...(this.opts.responsePrefix ? [`${this.opts.responsePrefix}#`] : [])];
    await this.client.subscribeAsync(topics, { qos: 1 });
    return this;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async waitFor(pred: (m: Received) => boolean, timeoutMs: number, what = 'a message'): Promise<Received> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.find(pred);
      if (m) return m;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got topics: ${[...new Set(this.messages.map((x) => x.topic))].join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }
}
