/**
 * `edge-nvr check`: what an installer runs before enabling the service. It validates the config
 * and then runs pre-flight checks, one line each, so that a failure says what to fix.
 *
 * Pre-flight checks are a plain list (PREFLIGHT): another check is one more function that gets
 * the loaded config and returns {name, ok, detail}.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { DEFAULT_CONFIG, EXIT, parseCommand, type CommandSpec } from '../args.js';
import { ConfigError } from '../../config/errors.js';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** one line a person can act on */
  detail: string;
  /** the config's issues, only on a failed `config` check (--json) */
  issues?: string[];
}

export interface CheckContext {
  config: Config;
  /** absolute path of the config file */
  configPath: string;
}

export type Preflight = (ctx: CheckContext) => Promise<CheckResult>;

const spec = {
  name: 'check',
  summary: 'Validate the config and pre-flight the box (ffmpeg, storage). Exit 0 all passed, 1 a check failed, 2 bad config.',
  usage: 'check [--config <path>] [--json]',
  options: {
    config: { type: 'string', short: 'c' },
    json: { type: 'boolean' },
  },
  help: {
    config: `config file (default ${DEFAULT_CONFIG})`,
    json: 'print the checks as a JSON array',
  },
} satisfies CommandSpec<{ config: { type: 'string'; short: 'c' }; json: { type: 'boolean' } }>;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return EXIT.ok;
  const file = parsed.values.config ?? DEFAULT_CONFIG;
  const json = parsed.values.json === true;
  const configPath = resolve(file);

  let config: Config;
  try {
    config = loadConfig(file);
  } catch (err) {
    // Without --json the CLI prints each issue as `<file>: <issue>` and exits 2.
    if (!(json && err instanceof ConfigError)) throw err;
    const failed: CheckResult = { name: 'config', ok: false, detail: `${configPath}: ${plural(err.issues.length, 'issue')}`, issues: err.issues };
    process.stdout.write(JSON.stringify([failed], null, 2) + '\n');
    return EXIT.usage;
  }

  const results = [configCheck(config, configPath), ...(await runAll({ config, configPath }))];
  process.stdout.write(json ? JSON.stringify(results, null, 2) + '\n' : formatResults(results));
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
}

export function formatResults(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return results.map((r) => `${r.ok ? 'PASS' : 'FAIL'} ${r.name.padEnd(width)}  ${r.detail}\n`).join('');
}

/** Runs every pre-flight check; a check that throws is a failed check, not a crashed command. */
export async function runAll(ctx: CheckContext, checks: Preflight[] = PREFLIGHT): Promise<CheckResult[]> {
  return Promise.all(
    checks.map((check) =>
      check(ctx).catch((err: unknown) => ({ name: check.name || 'check', ok: false, detail: (err as Error).message ?? String(err) })),
    ),
  );
}

function configCheck(config: Config, configPath: string): CheckResult {
  const disabled = config.cameras.filter((c) => !c.enabled).length;
  const cameras = plural(config.cameras.length, 'camera') + (disabled ? ` (${disabled} disabled)` : '');
  return { name: 'config', ok: true, detail: `${configPath}: ${cameras}` };
}

/* ------------------------------------------------------------------ pre-flight checks */

/** ffmpeg records, probes and exports; without it nothing works. */
export async function ffmpegPresent(): Promise<CheckResult> {
  return new Promise((done) => {
    execFile('ffmpeg', ['-version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const detail = missing
          ? 'ffmpeg not found on PATH; install it (apt install ffmpeg)'
          : `ffmpeg -version failed (${err.message.split('\n')[0]})`;
        done({ name: 'ffmpeg', ok: false, detail });
        return;
      }
      const first = stdout.split('\n')[0] ?? '';
      done({ name: 'ffmpeg', ok: true, detail: first.replace(/\s+Copyright.*$/, '').trim() || 'ffmpeg present' });
    });
  });
}

/**
 * The data directory must be writable by the user running this (run check as the service user,
 * e.g. `sudo -u edge-nvr edge-nvr check`, for a faithful answer). A missing directory is fine
 * when its nearest existing parent lets us create it. Nothing is created here.
 */
export async function storageWritable({ config }: CheckContext): Promise<CheckResult> {
  const path = resolve(config.storage.path);
  const user = userInfo().username;
  const info = await stat(path).catch(() => undefined);
  if (info && !info.isDirectory()) return { name: 'storage', ok: false, detail: `${path} exists but is not a directory` };
  if (info) {
    // a real write: access() cannot see a read-only mount or a full disk the way a write does
    const probe = join(path, `.edge-nvr-check-${process.pid}`);
    try {
      await writeFile(probe, 'check\n');
      await unlink(probe);
    } catch (err) {
      return { name: 'storage', ok: false, detail: `${path} is not writable by ${user} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    }
    return { name: 'storage', ok: true, detail: `${path} writable by ${user}${await freeSpace(path)}` };
  }
  let parent = dirname(path);
  while (!(await stat(parent).catch(() => undefined)) && dirname(parent) !== parent) parent = dirname(parent);
  try {
    await access(parent, constants.W_OK | constants.X_OK);
  } catch {
    return {
      name: 'storage',
      ok: false,
      detail: `${path} does not exist and ${user} cannot create it in ${parent}; create it for the service user (install -d -o edge-nvr ${path})`,
    };
  }
  return { name: 'storage', ok: true, detail: `${path} does not exist yet; ${user} can create it in ${parent}${await freeSpace(parent)}` };
}

async function freeSpace(path: string): Promise<string> {
  try {
    const fs = await statfs(path);
    return `, ${(Number(fs.bavail) * Number(fs.bsize) / 2 ** 30).toFixed(1)} GiB free`;
  } catch {
    return '';
  }
}

/** In order of output. Append new checks here (camera reachable, clock synced, ...). */
export const PREFLIGHT: Preflight[] = [ffmpegPresent, storageWritable];

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
