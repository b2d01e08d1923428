import { pino, type Logger, type DestinationStream } from 'pino';
import { scrubCredentials } from '../common/credentials.js';
import { printable } from '../common/human.js';

export type { Logger };

/** Secrets that must never reach a log line, whatever carries them (URLs, error messages). */
const knownSecrets = new Set<string>();

export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 3) knownSecrets.add(secret);
}

export function scrub(text: string): string {
  let out = scrubCredentials(text);
  for (const s of knownSecrets) out = out.split(s).join('***');
  return out;
}

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: scrub(value.message), stack: value.stack && scrub(value.stack) };
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = /pass(word)?|secret|token/i.test(k) ? '***' : scrubDeep(v, depth + 1);
  return out;
}

export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * One record per line on stdout. JSON lines for journald and log shippers; for a person at a
 * terminal (`auto` on a TTY, or `pretty`), readable lines instead: time, level, message, then
 * the fields as key=value. Every record is scrubbed here, once, before either form is written,
 * so no caller can leak a camera or broker password by logging a URL or an error from a child
 * process. EDGE_NVR_LOG_FORMAT overrides the config's `log.format`.
 */
export function createLogger(
  level = process.env.EDGE_NVR_LOG_LEVEL ?? 'info',
  destination: NodeJS.WritableStream = process.stdout,
  /** a LogFormat; anything else means JSON */
  format: string = 'auto',
): Logger {
  const chosen = process.env.EDGE_NVR_LOG_FORMAT || format;
  const tty = !!(destination as NodeJS.WriteStream).isTTY;
  const pretty = chosen === 'pretty' || (chosen === 'auto' && tty);
  return pino(
    {
      level,
      base: { pid: process.pid },
      formatters: { log: (obj) => scrubDeep(obj) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    (pretty ? prettyLines(destination, tty && !process.env.NO_COLOR) : destination) as DestinationStream,
  );
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[90m'], 30: ['INFO ', '\x1b[32m'], 40: ['WARN ', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[41;97m'],
};

/** pino writes each record as one JSON line; this rewrites it for a person. */
function prettyLines(out: NodeJS.WritableStream, color: boolean): { write(line: string): boolean } {
  return {
    write(line: string): boolean {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return out.write(line);
      }
      return out.write(prettyRecord(rec, color) + '\n');
    },
  };
}

export function prettyRecord(rec: Record<string, unknown>, color = false): string {
  const { level, time, msg, err, ...fields } = rec;
  delete fields.pid;
  const [name, tint] = LEVELS[Number(level)] ?? ['LOG  ', ''];
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 19) : '--:--:--';
  const paint = (s: string, c: string) => (color && c ? `${c}${s}\x1b[0m` : s);
  const parts = [paint(at, '\x1b[90m'), paint(name, tint), text(msg)];
  const kv = flatten(fields).map(([k, v]) => `${paint(k, '\x1b[36m')}=${v}`);
  if (kv.length) parts.push(kv.join(' '));
  if (err && typeof err === 'object') parts.push(paint(`(${text((err as { message?: unknown }).message)})`, tint));
  return parts.join('  ');
}

function flatten(value: Record<string, unknown>, prefix = '', depth = 0): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v === undefined) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 3) out.push(...flatten(v as Record<string, unknown>, key, depth + 1));
    else if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) out.push([key, printable(v.join(',')) || '(none)']);
    else out.push([key, quote(v === null ? 'null' : text(v))]);
  }
  return out;
}

/**
 * A value as text: strings as they are but for control characters (a camera's words reach the
 * log: an ESC must not recolour the terminal, a newline not forge a line), numbers and booleans
 * printed, anything else as JSON.
 */
function text(v: unknown): string {
  if (typeof v === 'string') return printable(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v.toString();
  return v === undefined || v === null ? '' : JSON.stringify(v);
}

const quote = (s: string) => (s === '' || /[\s"=]/.test(s) ? JSON.stringify(s) : s);
