import { randomBytes } from 'node:crypto';
import { commandHmac } from '../../daemon/mqtt/commands.js';
import { sleep } from '../support/daemon.js';
import type { Subscriber } from './subscriber.js';

export interface Reply {
  box: string;
  ok: boolean;
  id: string | null;
  command: string | null;
  error?: { code: string; message: string };
  result?: Record<string, unknown>;
}

/**
 * A central platform sending signed commands the way docs/mqtt.md tells one to: HMAC-SHA256 over
 * `edge-nvr-cmd\n<box id>\n<topic>\n` + the canonical JSON of the request without `hmac`.
 */
export class Platform {
  private n = 0;

  constructor(readonly sub: Subscriber, readonly prefix: string, readonly box: string, readonly secret: string, readonly client = 'platform') {}

  /** A signed request for `name` on this box (override any field, or sign for another box, topic or secret). */
  request(name: string, args: Record<string, unknown>, over: Record<string, unknown> = {}, sign: { box?: string; topic?: string; secret?: string } = {}): Record<string, unknown> {
    const req: Record<string, unknown> = { id: `req-${++this.n}-${randomBytes(3).toString('hex')}`, client: this.client, nonce: randomBytes(12).toString('hex'), ts: Date.now(), args, ...over };
    req.hmac = commandHmac(sign.secret ?? this.secret, sign.box ?? this.box, sign.topic ?? `${this.prefix}/cmd/${name}`, req);
    return req;
  }

  /** Publishes on `<prefix>/cmd/<name>` (QoS 1) and waits for the replies that carry its id. */
  async send(name: string, body: Record<string, unknown> | string, { timeoutMs = 20000, replies = 1 } = {}): Promise<Reply[]> {
    await this.publish(name, body);
    const id = typeof body === 'string' ? null : body.id;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = this.replies(name).filter((r) => r.id === id);
      if (got.length >= replies) return got;
      if (Date.now() > end) throw new Error(`no reply to ${String(id)} on ${this.prefix}/cmd/${name}/reply within ${timeoutMs} ms`);
      await sleep(25);
    }
  }

  async one(name: string, body: Record<string, unknown> | string, opts: { timeoutMs?: number } = {}): Promise<Reply> {
    return (await this.send(name, body, opts))[0]!;
  }

  publish(name: string, body: Record<string, unknown> | string): Promise<unknown> {
    return this.sub.client.publishAsync(`${this.prefix}/cmd/${name}`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  }

  replies(name: string): Reply[] {
    return this.sub.on(`${this.prefix}/cmd/${name}/reply`).map((m) => m.json as Reply);
  }
}
