import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** `<data>/keys/box-ed25519.pem`: the box's signing key (manifests, checkpoints, evidence). */
export const KEY_FILE = join('keys', 'box-ed25519.pem');

/** The box's Ed25519 signing key, created on first use (mode 0600, directory 0700). */
export function boxKey(dataDir: string): { privateKey: KeyObject; publicPem: string } {
  const path = join(dataDir, KEY_FILE);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    // wx: two processes creating the key at once must not overwrite each other's
    try {
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    chmodSync(path, 0o600);
  }
  const privateKey = createPrivateKey(readFileSync(path));
  return { privateKey, publicPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string };
}
