/**
 * How the CLI writes times: ISO 8601 in UTC, one formatter for every command. `whenNull` is what
 * a missing time prints as ("-" in tables, "" where an empty field reads better).
 */
export function isoTime(ms: number | null | undefined, whenNull = '-'): string {
  return ms === null || ms === undefined || !Number.isFinite(ms) ? whenNull : new Date(ms).toISOString();
}

/** To the second, for tables a person scans (status). */
export function isoSeconds(ms: number | null | undefined, whenNull = '-'): string {
  return isoTime(ms, whenNull).replace(/\.\d+Z$/, 'Z');
}
