/**
 * JSON with keys sorted at every level, no whitespace, undefined members left out: the bytes a
 * signature, a command HMAC or a chain hash is computed over do not depend on property order.
 * `null` stays `null`, distinct from `""` and from a missing member. Low in the tree so the
 * catalog, MQTT, redaction and the offline evidence verifier share one encoding.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
