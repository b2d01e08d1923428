/**
 * Camera and broker URLs may carry credentials in their userinfo (rtsp://user:pass@host/ch1).
 * This module is the one place that reads them out of a URL, puts them in, and removes them from
 * text: everything logged, printed, published or handed to another process's command line goes
 * through it.
 */

/**
 * The userinfo of every URL in a text. Greedy up to the last `@` before the path, so that an
 * unencoded `@` in a password (rtsp://u:p@ss@host/) is scrubbed whole, not cut at its first `@`.
 * The scheme is at most 32 characters (the longest registered ones are about 30): unbounded, a
 * long run of letters without "://" was tried from every position back to its end, quadratic (a
 * 100 KB config value took 6 s to refuse; a camera's long error line would block the daemon).
 */
const USERINFO = /([a-z][a-z0-9+.-]{0,31}:\/\/)[^/?#\s]*@/gi;

/** Replaces the userinfo (user and password) of every URL in `text` with `***`: rtsp://***@10.0.0.5/ch1. */
export function scrubCredentials(text: string): string {
  return text.replace(USERINFO, '$1***@');
}

export interface SplitUrl {
  /** the URL without its userinfo */
  url: string;
  /** decoded; undefined when the URL has no userinfo */
  username?: string;
  /** decoded; undefined when the userinfo has no `:` */
  password?: string;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A URL with credentials in its userinfo -> the URL without them, plus the decoded user and password. */
export function splitCredentials(url: string): SplitUrl {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@(.*)$/is.exec(url);
  if (!m) return { url };
  const userinfo = m[2]!;
  const colon = userinfo.indexOf(':');
  return {
    url: m[1]! + m[3]!,
    username: decode(colon < 0 ? userinfo : userinfo.slice(0, colon)),
    password: colon < 0 ? undefined : decode(userinfo.slice(colon + 1)),
  };
}

/** The URL with `username` and `password` in its userinfo (percent-encoded); unchanged without a username. */
export function withCredentials(url: string, username?: string, password?: string): string {
  if (!username) return url;
  const u = new URL(splitCredentials(url).url);
  u.username = encodeURIComponent(username);
  u.password = encodeURIComponent(password ?? '');
  return u.toString();
}

/**
 * What may be shown of a URL whose query or userinfo may authorise something (a pre-signed
 * upload URL carries its signature in the query): scheme, host, port and path only,
 * `https://store.example.com/bucket/key`; without the path (`{ path: false }`: a broker's
 * address, `mqtts://broker.example.com:8883`), scheme, host and port. An unparsable URL shows as
 * `invalid url`.
 */
export function urlWithoutSecrets(url: string, { path = true } = {}): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${path ? u.pathname : ''}`;
  } catch {
    return 'invalid url';
  }
}
