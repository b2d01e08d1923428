/**
 * Camera and broker URLs may carry credentials in their userinfo (rtsp://user:pass@host/ch1).
 * This module is the one place that reads them out of a URL, puts them in, and removes them from
 * text: everything logged, printed, published or handed to another process's command line goes
 * through it.
 */

/**
 * Where a URL may begin in a text: a scheme of at most 32 characters (the longest registered ones
 * are about 30): unbounded, a long run of letters without "://" was tried from every position back
 * to its end, quadratic (a 100 KB config value took 6 s to refuse).
 */
const SCHEME = /[a-z][a-z0-9+.-]{0,31}:\/\//gi;

/** where a URL written in a text ends: white space, a quote or an angle bracket */
const endsUrl = (c: number) => c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x3c || c === 0x3e || c === 0x60;

/**
 * Replaces the userinfo (user and password) of every URL in `text` with `***`: rtsp://***@10.0.0.5/ch1.
 * Everything up to the last `@` of the URL goes, not only up to its first `/`: an unencoded `@`
 * or `/` in a password (rtsp://admin:Pa@host/9Zq@10.0.0.5/ch1) read as a path showed the
 * password's tail in the log, MQTT events and the hash-chained gap details (an outside probe).
 * A path that holds an `@` of its own is hidden with it: more than needed, never less. Linear: a
 * URL's end is looked for once, and the next URL is looked for after it.
 */
export function scrubCredentials(text: string): string {
  let out = '';
  let from = 0;
  SCHEME.lastIndex = 0;
  for (let m = SCHEME.exec(text); m; m = SCHEME.exec(text)) {
    const start = m.index + m[0].length;
    let end = start;
    while (end < text.length && !endsUrl(text.charCodeAt(end))) end++;
    const at = text.lastIndexOf('@', end - 1);
    if (at >= start) {
      out += text.slice(from, start) + '***';
      from = at;
    }
    SCHEME.lastIndex = Math.max(end, start);
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * Whether a URL has an `@` or white space past its host, where no userinfo can be: a password
 * holding `@`, `/`, `?`, `#` or a space, typed unencoded. Such a URL sends the password's head to
 * another host (rtsp://admin:Pa@localhost/9Zq@10.0.0.5 connects to localhost) and can never be
 * read as meant: refused wherever a URL is given, never echoed.
 */
export function credentialsMisplaced(url: string): boolean {
  const authority = urlAuthority(url);
  return /\s/.test(url) || (authority !== null && url.includes('@', authority.end));
}

/** A URL's authority (`[user[:password]@]host[:port]`) and the index where it ends; null for text that is no `scheme://` URL. */
export function urlAuthority(url: string): { text: string; end: number } | null {
  const m = /^[a-z][a-z0-9+.-]{0,31}:\/\/([^/?#]*)/i.exec(url);
  return m ? { text: m[1]!, end: m[0].length } : null;
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
