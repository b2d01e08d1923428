import type { Catalog } from './catalog.js';

/**
 * How long a nonce is kept after its request's timestamp left the replay window, while there is
 * room. A clock stepped back (a wrong NTP answer, a spoofed one from the LAN, a battery-less board
 * rebooting to an old date) would otherwise bring an expired, forgotten request back inside the
 * window: kept, it is still refused as "nonce already used".
 */
export const NONCE_GRACE_MS = 30 * 24 * 3600 * 1000;

/**
 * Command nonces (catalog table `command_nonces`): each is kept until the request's timestamp can
 * no longer be accepted, so a replay is refused for as long as it could otherwise pass, across
 * restarts and power cuts (the insert is durable before the command runs); and past that for
 * NONCE_GRACE_MS while fewer than `maxNonces` are held, against a clock that goes back.
 */
export class NonceStore {
  constructor(private readonly catalog: Catalog, readonly maxNonces: number) {}

  /**
   * Remembers `nonce` until `expiresMs`. Returns 'seen' for a nonce already held (expired or not),
   * 'full' when `maxNonces` unexpired ones are held: expired ones make room, oldest first, but a
   * live one is never evicted (that would reopen its replay).
   */
  remember(nonce: string, expiresMs: number, nowMs: number): 'ok' | 'seen' | 'full' {
    const db = this.catalog.db;
    return this.catalog.durably(() => db.transaction(() => {
      db.prepare('DELETE FROM command_nonces WHERE expires_ms < ?').run(nowMs - NONCE_GRACE_MS);
      if (db.prepare('SELECT 1 FROM command_nonces WHERE nonce = ?').get(nonce)) return 'seen';
      const held = (db.prepare('SELECT count(*) AS n FROM command_nonces').get() as { n: number }).n;
      if (held >= this.maxNonces) {
        const freed = db.prepare('DELETE FROM command_nonces WHERE nonce IN (SELECT nonce FROM command_nonces WHERE expires_ms < ? ORDER BY expires_ms LIMIT ?)')
          .run(nowMs, held - this.maxNonces + 1).changes;
        if (held - freed >= this.maxNonces) return 'full';
      }
      db.prepare('INSERT INTO command_nonces (nonce, expires_ms) VALUES (?, ?)').run(nonce, expiresMs);
      return 'ok';
    }).immediate());
  }
}
