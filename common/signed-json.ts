/**
 * The box's word on a JSON object: an Ed25519 signature (base64) over the canonical JSON of the
 * object without its `signature` member. One scheme for everything the box signs (checkpoints,
 * export manifests, evidence manifests, command replies), so one verifier checks them all:
 *
 *   verify(null, canonicalJson({ ...obj, signature: undefined }), publicKey, base64(obj.signature))
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

export function signJson<T extends object>(body: T, privateKey: KeyObject): Omit<T, 'signature'> & { signature: string } {
  const unsigned = { ...body, signature: undefined };
  return { ...unsigned, signature: sign(null, Buffer.from(canonicalJson(unsigned)), privateKey).toString('base64') };
}

/** Whether `signed.signature` is the key's signature of the rest; false for any malformed part. */
export function jsonSignatureHolds(signed: object, publicKey: string | KeyObject): boolean {
  try {
    const signature = (signed as { signature?: unknown }).signature;
    if (typeof signature !== 'string') return false;
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    return verify(null, Buffer.from(canonicalJson({ ...signed, signature: undefined })), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
