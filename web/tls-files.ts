import { createPrivateKey, X509Certificate } from 'node:crypto';
import { modeIssue, readConfigFile } from '../config/secret-files.js';
import { createSecureContext } from 'node:tls';
import type { HttpConfig } from './server.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** when the (first) certificate stops being valid, epoch ms */
  validToMs: number;
}

/**
 * The page's certificate and key, read and checked as the server will use them: a PEM
 * certificate, a PEM private key that is not encrypted, and the key of that certificate. The
 * daemon and `check` share this, so `check` cannot pass a pair the daemon then fails to serve
 * with (a key of another certificate passed `check`, and the page and metrics never came up).
 * Each error names the setting and what to do.
 */
export function loadTls(http: HttpConfig): TlsFiles {
  const read = (key: 'cert_file' | 'key_file') => {
    try {
      return readConfigFile(http[key]!);
    } catch (err) {
      throw new Error(`http.${key}: cannot read ${http[key]} (${(err as Error).message}); expected a PEM file readable by the edge-nvr service`);
    }
  };
  const cert = read('cert_file');
  const key = read('key_file');
  let validToMs: number;
  try {
    validToMs = Date.parse(new X509Certificate(cert).validTo);
  } catch {
    throw new Error(`http.cert_file: ${http.cert_file} holds no PEM certificate; give the box's certificate (chain included), "-----BEGIN CERTIFICATE-----" first`);
  }
  try {
    createPrivateKey(key);
  } catch {
    throw new Error(`http.key_file: ${http.key_file} holds no usable PEM private key (missing, damaged or protected by a passphrase); give the certificate's key unencrypted, readable by the service only`);
  }
  // a key others may read is a leak already: the page does not start with it (the daemon records on)
  const loose = modeIssue('http.key_file', http.key_file!);
  if (loose?.level === 'error') throw new Error(loose.text);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`http.key_file: ${http.key_file} is not the key of the certificate in http.cert_file (${(err as Error).message.replace(/^error:[0-9A-F]+:/, '')}); give the key that certificate was made for`);
  }
  return { cert, key, validToMs };
}
