import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncDir, writeFileDurably } from './durable-write.js';

/** `<data>/keys/box-ed25519.pem`: the box's signing key (manifests, checkpoints, evidence). */
export const KEY_FILE = join('keys', 'box-ed25519.pem');

/** The box's Ed25519 signing key, created on first use (mode 0600, directory 0700). */
export function boxKey(dataDir: string): { privateKey: KeyObject; publicPem: string; created: boolean } {
  const path = join(dataDir, KEY_FILE);
  let created = false;
  if (!existsSync(path)) {
    const made = mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // the keys/ folder's own entry must survive a power cut too
    if (made) fsyncDir(dataDir);
    const { privateKey } = generateKeyPairSync('ed25519');
    // exclusive: two processes creating the key at once must not overwrite each other's; durable:
    // the key cannot be made again, and every checkpoint and manifest is signed with it
    try {
      writeFileDurably(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, exclusive: true });
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

/**
 * Why a `--key` file is not the box's public key, or null when it is one. A private key was
 * taken too (the public key derived from it, an outside probe): it verified, and taught that the
 * box's signing secret may be handed to whoever checks a bundle. It is refused, saying why.
 */
export function publicKeyProblem(pem: string): string | null {
  if (/-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----/.test(pem)) {
    return 'a PRIVATE key: give the box\'s public key (as the platform registered it, or the public_key of a checkpoint it received); the private key signs for the box and must not leave it';
  }
  try {
    createPublicKey(pem);
    return null;
  } catch {
    return 'not a public key (PEM), the box\'s public key is expected';
  }
}
