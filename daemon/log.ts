import { pino, type Logger, type DestinationStream } from 'pino';
import { scrubCredentials } from '../common/credentials.js';

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

/**
 * JSON lines on stdout (journald keeps them). Every record is scrubbed here, once, so no caller
 * can leak a camera or broker password by logging a URL or an error from a child process.
 */
export function createLogger(level = process.env.EDGE_NVR_LOG_LEVEL ?? 'info', destination: NodeJS.WritableStream = process.stdout): Logger {
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
    destination as DestinationStream,
  );
}
