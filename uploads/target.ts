/**
 * An upload target as a platform sends it (`upload_url` of an MQTT command), checked against the
 * box's `uploads` config before anything is exported or sent: HTTPS only, no userinfo, and the
 * host (with its port) one of `uploads.allowed_hosts`, compared exactly. The whole URL may carry
 * its authorisation (a pre-signed PUT's signature is in the query): it is kept in the catalog to
 * retry, and only `destination` (scheme, host, port, path) is ever shown, logged or audited.
 */
import { urlWithoutSecrets } from '../common/credentials.js';
import type { Config } from '../config/schema.js';

export type UploadsConfig = NonNullable<Config['uploads']>;

/** The longest target URL accepted (pre-signed URLs run to about 2 KB). */
export const MAX_URL_LENGTH = 4096;

export interface UploadTarget {
  url: string;
  /** https://host[:port]/path: what may be shown */
  destination: string;
  /** host[:port] as compared with allowed_hosts (port left out when 443) */
  host: string;
  /** the file holding the bearer token for this host, if the config names one */
  tokenFile?: string;
}

/** A target the box refuses; the message says why and what the config would need. */
export class TargetError extends Error {}

/** `Host:443` and `host` are one host; names compare without case. */
export function hostKey(hostPort: string): string {
  return hostPort.toLowerCase().replace(/:443$/, '');
}

export function checkTarget(url: string, uploads: UploadsConfig | undefined): UploadTarget {
  if (!uploads) throw new TargetError('uploads are not configured on this box (an uploads section with allowed_hosts); nothing was exported');
  if (url.length > MAX_URL_LENGTH) throw new TargetError(`the URL is ${url.length} characters; at most ${MAX_URL_LENGTH}`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TargetError('not a URL; expected https://host[:port]/path[?query]');
  }
  const destination = urlWithoutSecrets(url);
  if (u.protocol !== 'https:') throw new TargetError(`${u.protocol.replace(/:$/, '')} is refused: only https:// targets (TLS verified) are accepted`);
  if (u.username || u.password) throw new TargetError('a URL with user:password@ is refused: use a pre-signed URL or a bearer token file on the box');
  const host = hostKey(u.host);
  if (!uploads.allowed_hosts.some((h) => hostKey(h) === host)) {
    throw new TargetError(`host ${host} is not in uploads.allowed_hosts; only ${uploads.allowed_hosts.map(hostKey).join(', ')} may be targets`);
  }
  const token = uploads.bearer_tokens.find((b) => hostKey(b.host) === host);
  return { url, destination, host, ...(token ? { tokenFile: token.token_file } : {}) };
}
