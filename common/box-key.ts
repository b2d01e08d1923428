import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** `<data>/keys/box-ed25519.pem`: the box's signing key (manifests, checkpoints, evidence). */
export const KEY_FILE = join('keys', 'box-ed25519.pem');

/** The box's Ed25519 signing key, created on first use (mode 0600, directory 0700). */
export function boxKey(dataDir: string): { privateKey: KeyObject; publicPem: string; created: boolean } {
  const path = join(dataDir, KEY_FILE);
  let created = false;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    // wx: two processes creating the key at once must not overwrite each other's
    try {
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    chmodSync(path, 0o600);
    // created by root (sudo edge-nvr ...): hand it to the data dir's owner, the service user,
    // or the daemon could not read its own key
    if (created && process.getuid?.() === 0) {
      const { uid, gid } = statSync(dataDir);
      chownSync(dirname(path), uid, gid);
      chownSync(path, uid, gid);
    }
  }
  const privateKey = createPrivateKey(readFileSync(path));
  return { privateKey, publicPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string, created };
}

/** The box's public key without creating one: null when the box has none (yet), or it cannot be read. */
export function boxPublicKey(dataDir: string): string | null {
  try {
    return createPublicKey(createPrivateKey(readFileSync(join(dataDir, KEY_FILE)))).export({ type: 'spki', format: 'pem' }) as string;
  } catch {
    return null;
  }
}

/** A short, stable name for a public key (PEM): the first 16 hex digits of the sha256 of its DER. */
export function keyFingerprint(publicPem: string): string {
  const der = createPublicKey(publicPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}
