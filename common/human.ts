/**
 * How the box writes times, sizes, durations and events for a person (the `status` command,
 * the status web page, the terminal log): one set of words, so the page and the terminal agree.
 * Machines get ISO 8601 and numbers elsewhere; nothing here is parsed back.
 */

/** The latest time a JavaScript Date holds (+275760-09-13), in ms: past it a time cannot be printed or compared as one. */
export const MAX_TIME_MS = 8.64e15;

/** `2026-11-23T08:00:00Z` (UTC, whole seconds), or "-" for nothing. */
export function isoTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  // a catalog may hold a time no Date can (a hold to 1e300 ms, accepted before commands bounded
  // times): printed as the number it is, never a RangeError that ends the listing
  if (!(Math.abs(ms) <= MAX_TIME_MS)) return `${ms} (not a time)`;
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export function duration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} days`;
}

/** How long ago, from `now`: "12 s ago", "3.5 h ago". */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  return ms === null || ms === undefined ? 'never' : `${duration(Math.max(0, now - ms))} ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function days(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'not known yet';
  return `${n < 10 ? n.toFixed(n < 1 ? 2 : 1) : Math.round(n)} day${n === 1 ? '' : 's'}`;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** One line for an event the box raised (watchdog/events.ts), from its type and data. */
export function describeEvent(type: string, data: Record<string, unknown>): string {
  const cause = str(data.cause)?.replace(/_/g, ' ');
  switch (type) {
    case 'camera_offline': return `camera down${cause ? `: ${cause}` : ''}`;
    case 'camera_online': return `camera recording again${num(data.after_ms) !== undefined ? ` after ${duration(num(data.after_ms)!)}` : ''}`;
    case 'gap': return `gap of ${duration(num(data.duration_ms) ?? 0)}${cause ? ` (${cause})` : ''}`;
    case 'stall_detected': return `stream stalled (nothing for ${duration(num(data.silent_ms) ?? 0)})`;
    case 'watchdog_restart': return `recorder restarted${cause ? ` (${cause})` : ''}`;
    case 'disk_low': return `disk under its free-space floor, ${data.all_remaining_held ? 'everything left is held' : 'no recordings left to delete'}`;
    case 'disk_unwritable': return 'data disk not writable';
    case 'disk_ok': return 'data disk writable again';
    case 'retention_at_risk': return `retention at risk: ${days(num(data.days_held))} held of ${num(data.min_days) ?? '?'} required`;
    case 'retention_deletion': return `${num(data.segments) ?? 0} old segments deleted (${bytes(num(data.bytes) ?? 0)})`;
    case 'hold_added': return 'legal hold added';
    case 'hold_released': return 'legal hold released';
    case 'clock_jump': return `clock stepped by ${duration(Math.abs(num(data.step_ms) ?? 0))}`;
    case 'clock_unsynced': return 'clock not synchronised';
    case 'capture_mask_unenforced': return `NOT RECORDED: capture masks cannot be enforced${str(data.reason) ? ` (${str(data.reason)})` : ''}`;
    case 'capture_mask_lost': return `capture masks lost on the ${str(data.where) ?? 'camera'}${str(data.reason) ? ` (${str(data.reason)})` : ''}`;
    case 'tamper_suspected': return `tampering suspected${str(data.kind) ? `: ${str(data.kind)?.replace(/_/g, ' ')}` : ''}`;
    case 'tamper_cleared': {
      const kind = str(data.kind)?.replace(/_/g, ' ');
      const lasted = num(data.duration_ms);
      return `view back to normal${kind ? ` (${kind}${lasted !== undefined ? ` for ${duration(lasted)}` : ''})` : ''}`;
    }
    default: return type.replace(/_/g, ' ');
  }
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex -- as above, the newline left as it is
const CONTROLS_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;
const hexEscape = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/**
 * Text from outside the box (a camera's model name, a SOAP fault's reason) as one visible line:
 * control characters (C0, DEL, C1) become `\xNN`, so that nothing a device sends can move the
 * cursor, recolour or clear a terminal, or start a line of its own that reads like ours.
 */
export function printable(text: string): string {
  return text.replace(CONTROLS, hexEscape);
}

/**
 * The most of another device's own words (a camera's SOAP fault or RTSP reason phrase, an upload
 * server's) an error keeps: such an error goes to the log, events, the audit log and the
 * hash-chained ledger (a gap's reason), where a 1.5 MB fault reason went whole (an outside probe).
 */
export const FOREIGN_TEXT_MAX = 200;

/** Another device's text as it goes into an error: cut to `FOREIGN_TEXT_MAX` characters (saying how long it was), control characters escaped. */
export function foreignText(text: string): string {
  if (text.length <= FOREIGN_TEXT_MAX) return printable(text);
  return `${printable(text.slice(0, FOREIGN_TEXT_MAX))}... (${text.length} characters, cut)`;
}

/**
 * Characters that change how text around them shows without showing themselves: bidirectional
 * marks, embeddings, overrides and isolates (text that shows in another order than it reads),
 * zero-width ones, the byte order mark, and the line and paragraph separators.
 */
const INVISIBLE_FORMATTING = /[\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const uEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Text with its invisible formatting characters written out as `\uXXXX`. */
export function showInvisible(text: string): string {
  return text.replace(INVISIBLE_FORMATTING, uEscape);
}

/**
 * JSON for a terminal: JSON.stringify escapes C0 controls but leaves DEL, the C1 controls
 * (U+0080-U+009F, CSI among them) and the invisible formatting characters raw, which a terminal
 * may act on or a reader be misled by. Written as \u escapes, the text parses back to the same value.
 */
export function terminalJson(value: unknown, indent?: number): string {
  return showInvisible(JSON.stringify(value, null, indent).replace(/[\u007f-\u009f]/g, uEscape));
}

/**
 * A command's output for a terminal: every control character but the newline escaped as by
 * `printable`, so that what the box holds from outside (a camera's name in an event, a broker
 * client's reason in the audit log, a path) cannot move the cursor, recolour or retitle the
 * terminal, or overwrite a line with a carriage return.
 */
export function terminalText(text: string): string {
  // bidi overrides too: U+202E showed what followed it on the line reversed (an outside probe)
  return showInvisible(text.replace(CONTROLS_BUT_NEWLINE, hexEscape));
}

/** A C0 control character, DEL or a C1 control character (U+0080-U+009F: CSI among them). */
export function isControl(c: string): boolean {
  const n = c.charCodeAt(0);
  return n < 0x20 || (n >= 0x7f && n <= 0x9f);
}
