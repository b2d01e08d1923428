/** `host:port` as the config writes an address to serve on (`http.listen`, `http.metrics_listen`). */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * A camera's ONVIF service (`onvif.host`, `discover --host`): a name (LAN names may hold `_`), an
 * IPv4 address or a bracketed IPv6 address, optionally :port. No scheme and no user:password@: a
 * password there went into every error and log line (discover printed it in its table).
 */
export const CAMERA_HOST = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$';

export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(value);
  if (!m) throw new Error(`expected host:port (127.0.0.1:8080, [::1]:8080), got ${JSON.stringify(value)}`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** Only this machine can reach it: 127.0.0.0/8, ::1, localhost. 0.0.0.0 and :: are every interface. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
