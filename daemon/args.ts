import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { terminalJson, terminalText } from '../common/human.js';
import { hasControl, visibleLength } from '../common/visible-text.js';

/** Bad usage or bad config: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/**
 * `catalog`: the daemon cannot read its catalog (daemon.ts `CatalogUnreadable`). systemd does
 * not restart on it (`RestartPreventExitStatus=3` in edge-nvr.service): the file does not mend
 * itself, and each start would write its entries into it again, every 2 s.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, catalog: 3 } as const;

/** The longest wait a Node timer holds, in whole seconds (2^31 - 1 ms): a longer one fires at once. */
export const MAX_TIMER_S = Math.floor((2 ** 31 - 1) / 1000);

/**
 * A command's output: stdout, with every control character but the newline escaped
 * (terminalText). Names, reasons and paths in it may come from a camera, a broker client or
 * a file name; printed raw, their escape sequences would act on the operator's terminal.
 */
export function print(text: string): void {
  process.stdout.write(terminalText(text));
}

/**
 * A command's --json output, and a newline: through terminalJson (DEL and the C1 controls as
 * \u00XX), never `print`, whose \xNN would make a string's raw C1 character invalid JSON.
 */
export function printJson(value: unknown, indent?: number): void {
  process.stdout.write(terminalJson(value, indent) + '\n');
}

/** The same as `print` for what a command says on stderr. */
export function printError(text: string): void {
  process.stderr.write(terminalText(text));
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options> {
  name: string;
  summary: string;
  usage: string;
  options: O;
  /** one line per option, shown by --help */
  help: Record<keyof O & string, string>;
  positionals?: number;
}

export const DEFAULT_CONFIG = process.env.EDGE_NVR_CONFIG ?? '/etc/edge-nvr/config.yaml';

/** Parses argv for one command; `--help` prints usage and returns null. */
export function parseCommand<O extends Options>(spec: CommandSpec<O>, argv: string[]) {
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean' } };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    // a file name that starts with '-' reads as options: say how to pass it
    const dashName = (spec.positionals ?? 0) > 0 && (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      && argv.find((a) => /^-[^-]/.test(a) && a.length > 2);
    const hint = dashName ? `\n(if "${dashName}" is a file name, put -- before the file names, or write it as ./${dashName})` : '';
    throw new UsageError(`${argError(err as Error & { code?: string }, spec)}${hint}\n${usageText(spec)}`);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(usageText(spec) + '\n');
    return null;
  }
  // parseArgs keeps the last of a repeated option: `--reason a --reason b` or `--data x --data y`
  // would run on one of two values the operator gave, silently; only options meant to repeat may
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || token.name === 'help' || (options[token.name] as { multiple?: boolean } | undefined)?.multiple) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given twice: give it once\n${usageText(spec)}`);
    seen.add(token.name);
  }
  // `--data ""` (an unset shell variable) read as the current directory in one command and as
  // "not given" in another: no option of any command means anything when empty
  const empty = (v: unknown) => typeof v === 'string' && v.trim() === '';
  for (const [name, value] of Object.entries(parsed.values as Record<string, unknown>)) {
    if (empty(value) || (Array.isArray(value) && value.some(empty))) {
      throw new UsageError(`--${name} is empty: give ${(spec.help as Record<string, string | undefined>)[name] ?? 'a value'}\n${usageText(spec)}`);
    }
  }
  const max = spec.positionals ?? 0;
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}"\n${usageText(spec)}`);
  }
  return parsed;
}

/** node:util's unknown-option text explains '--' positionals; an operator needs the options there are. */
function argError(err: Error & { code?: string }, spec: CommandSpec<Options>): string {
  const unknown = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && /'([^']+)'/.exec(err.message)?.[1];
  if (!unknown) return err.message;
  const known = Object.keys(spec.options).map((o) => `--${o}`);
  return `unknown option ${unknown}; ${spec.name} takes ${known.length ? known.join(', ') : 'no options'} (and --help)`;
}

/**
 * A numeric option: the one parser every command uses. Undefined when the option was not given;
 * a usage error (exit 2) naming the option and what it expects when the value is not such a number.
 */
export function parseNumber(option: string, value: string | undefined, rule: { integer?: boolean; min?: number; max?: number; above?: number; what?: string } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  const ok = Number.isFinite(n) && (!rule.integer || Number.isInteger(n)) && (rule.min === undefined || n >= rule.min)
    && (rule.max === undefined || n <= rule.max) && (rule.above === undefined || n > rule.above);
  if (!ok) {
    const range = [rule.above !== undefined ? `above ${rule.above}` : '', rule.min !== undefined ? `at least ${rule.min}` : '', rule.max !== undefined ? `at most ${rule.max}` : ''].filter(Boolean).join(' and ');
    throw new UsageError(`--${option}: expected ${rule.what ?? (rule.integer ? 'a whole number' : 'a number')}${range ? ` ${range}` : ''}, got "${value}"`);
  }
  return n;
}

/**
 * A reason for the audit log (`--reason`): required, 3 characters at least once trimmed. The
 * usage error says which rule failed, and what a reason is here (`what`), prefixed by `context`.
 */
export function parseReason(context: string, value: string | undefined, what: string): string {
  const text = value?.trim() ?? '';
  if (!value) throw new UsageError(`${context}: --reason is required (${what})`);
  // a line break forged a second line in `hold list`; zero-width characters made a reason nobody sees
  if (hasControl(text)) throw new UsageError(`${context}: --reason must be one line of text without control characters (${what})`);
  if (visibleLength(text) < 3) throw new UsageError(`${context}: --reason needs 3 characters or more (${what}), got ${JSON.stringify(value)}`);
  return text;
}

/**
 * Where `export`, `evidence` and `snapshot` write what is handed over (`--out`): its folder must
 * exist. Making it would put a copy meant for a USB drive that is not mounted
 * (`/media/usb/case-17`) on the box's own disk, where the person taking it away never finds it.
 * `madeOnDemand`: the one folder that may be made (the data dir's `exports/`, the box's own place
 * for them). `mustExist` false (`redact`, `still`: a file redacted on a laptop may make its folder)
 * keeps only the rule on the data dir. Paths are compared as they really are: a link to the data
 * dir (/tmp/dl -> /var/lib/edge-nvr) got a bundle into recordings/.
 */
export function outInExistingDir(option: string, value: string, madeOnDemand: string, mustExist = true): string {
  const dir = dirname(resolve(value));
  const real = (p: string) => { try { return realpathSync(p); } catch { return resolve(p); } };
  const data = real(dirname(resolve(madeOnDemand)));
  const exportsDir = join(data, basename(madeOnDemand));
  // the nearest folder that exists, really: a link anywhere above is followed
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const target = join(real(existing), relative(existing, resolve(value)));
  if (dirname(target) === exportsDir) return value;
  // the rest of the data dir is the box's own: a bundle under recordings/ read as inserted
  // segments to `verify`, one under keys/ sat beside the signing key
  const within = (root: string, p: string) => p === root || p.startsWith(root + sep);
  if (within(data, target) && !within(exportsDir, target)) {
    throw new UsageError(`${option} ${value}: inside the box's data dir ${data}, among its recordings, catalog and keys; give a path under ${exportsDir} or outside the data dir, nothing was written`);
  }
  if (!mustExist) return value;
  let isDir = false;
  try { isDir = statSync(dir).isDirectory(); } catch { /* missing or unreachable: said below */ }
  if (!isDir) throw new UsageError(`${option} ${value}: the folder ${dir} does not exist (a drive not mounted?); create it or give another path, nothing was written`);
  return value;
}

export function usageText(spec: CommandSpec<Options>): string {
  const lines = [`usage: edge-nvr ${spec.usage}`, '', spec.summary, ''];
  const names = Object.keys(spec.help);
  const width = Math.max(...names.map((n) => n.length), 4) + 4;
  for (const name of names) lines.push(`  --${name.padEnd(width)}${spec.help[name]}`);
  lines.push(`  --${'help'.padEnd(width)}this text`);
  return lines.join('\n');
}
