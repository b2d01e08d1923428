import type { Catalog } from './catalog.js';

/**
 * Command nonces (catalog table `command_nonces`): each is kept until the request's timestamp can
 * no longer be accepted, so a replay is refused for as long as it could otherwise pass, across
 * restarts and power cuts (the insert is durable before the command runs).
 */
export class NonceStore {
  constructor(private readonly catalog: Catalog, readonly maxNonces: number) {}

  /**
   * Remembers `nonce` until `expiresMs`. Returns 'seen' for a nonce already held, 'full' when
   * `maxNonces` unexpired ones are held (never evict a live one: that would reopen its replay).
   */
  remember(nonce: string, expiresMs: number, nowMs: number): 'ok' | 'seen' | 'full' {
    const db = this.catalog.db;
    return this.catalog.durably(() => db.transaction(() => {
      db.prepare('DELETE FROM command_nonces WHERE expires_ms < ?').run(nowMs);
      if (db.prepare('SELECT 1 FROM command_nonces WHERE nonce = ?').get(nonce)) return 'seen';
      const held = (db.prepare('SELECT count(*) AS n FROM command_nonces').get() as { n: number }).n;
      if (held >= this.maxNonces) return 'full';
      db.prepare('INSERT INTO command_nonces (nonce, expires_ms) VALUES (?, ?)').run(nonce, expiresMs);
      return 'ok';
    }).immediate());
  }
}
