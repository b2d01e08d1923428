/**
 * `edge-nvr reload`: signals the running daemon with SIGHUP and waits for its verdict in the
 * catalog (`meta.last_reload`): the daemon applies the new config to the cameras that changed, or
 * refuses an invalid one and keeps the old one running. The daemon is the process the kernel
 * says holds the data dir's lock (instance-lock.ts), never just the pid a file names: after a
 * crash that pid may belong to anything, and SIGHUP kills most processes.
 */
import { join, resolve } from 'node:path';
import { readRegularFile } from '../../common/read-file.js';
import { DEFAULT_CONFIG, EXIT, parseCommand, parseNumber, print, printError, printJson } from '../args.js';
import { LOCK_FILE, lockHolder } from '../instance-lock.js';
import type { ReloadResult } from '../reload-outcome.js';
import { dataDirFrom, dataDirOptions, openCatalogReadOnly } from './data-dir.js';

const spec = {
  name: 'reload',
  summary: 'Make the running daemon apply its config file again (SIGHUP) and report whether it was accepted. Exit 0 accepted, 2 refused as an invalid config, 1 refused otherwise or no answer.',
  usage: 'reload [--config F | --data DIR] [--timeout S] [--json]',
  options: { ...dataDirOptions.options, timeout: { type: 'string' }, json: { type: 'boolean' } },
  help: { ...dataDirOptions.help, timeout: 'seconds to wait for the daemon to answer (default 30, at most 3600)', json: 'print the outcome as JSON' },
} as const;

/** as written by the daemon; older daemons wrote fewer fields */
type LastReload = Pick<ReloadResult, 'ok' | 'at_ms' | 'error'> & Partial<ReloadResult>;

function lastReload(dataDir: string): LastReload | undefined {
  try {
    const catalog = openCatalogReadOnly(dataDir);
    try {
      const v = catalog.getMeta('last_reload');
      return v ? (JSON.parse(v) as LastReload) : undefined;
    } finally {
      catalog.close();
    }
  } catch {
    return undefined;
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return EXIT.ok;
  // a daemon answers a reload within seconds; an hour bounds a wait typed by mistake
  const timeoutS = parseNumber('timeout', parsed.values.timeout, { above: 0, max: 3600, what: 'seconds' }) ?? 30;
  // The new config may be invalid (the daemon says so): only its data dir is needed here.
  let dataDir: string;
  try {
    dataDir = await dataDirFrom(parsed.values);
  } catch (err) {
    if (parsed.values.data) throw err;
    let raw: { storage?: { path?: unknown } } | undefined;
    try {
      const { parse } = await import('yaml');
      const { MAX_CONFIG_BYTES } = await import('../../config/load.js');
      // bounded, a plain file only: /dev/zero here was read until memory ran out (the loader had
      // refused it already, and this second read went on)
      raw = parse(readRegularFile(parsed.values.config ?? DEFAULT_CONFIG, MAX_CONFIG_BYTES, 'not a config file').toString('utf8')) as typeof raw;
    } catch {
      throw err;
    }
    const path = raw?.storage?.path;
    dataDir = resolve(typeof path === 'string' ? path : '/var/lib/edge-nvr');
  }
  const pid = lockHolder(dataDir);
  if (pid === undefined) {
    printError(`edge-nvr reload: no edge-nvr daemon is running on ${dataDir} (nothing holds ${join(dataDir, LOCK_FILE)}); is the service running?\n`);
    return EXIT.failure;
  }
  const sentMs = Date.now();
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    printError(`edge-nvr reload: cannot signal the daemon (pid ${pid}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return EXIT.failure;
  }
  const until = sentMs + timeoutS * 1000;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    const r = lastReload(dataDir);
    if (!r || r.at_ms < sentMs - 1000) continue;
    if (parsed.values.json) printJson(r, 2);
    else if (r.ok) {
      const list = (k: string, v?: string[]) => (v?.length ? ` ${k}: ${v.join(', ')};` : '');
      print(`reload accepted:${list('restarted', r.restarted)}${list('added', r.added)}${list('removed', r.removed)}${list('unchanged', r.unchanged)}${list('changed', r.changed)}${list('applied', r.applied)}\n`.replace(/;\n$/, '\n'));
      for (const why of r.restart_required ?? []) printError(`edge-nvr reload: not applied until the service restarts: ${why}\n`);
    } else if (r.config_issues?.length) {
      printError(`reload refused, the running config stays: the config is invalid:\n${r.config_issues.map((i) => `  ${i}\n`).join('')}`);
    } else printError(`reload refused, the running config stays: ${r.error}\n`);
    // an invalid config is a bad config, as for check and run (exit 2); anything else a failure
    return r.ok ? EXIT.ok : r.config_issues?.length ? EXIT.usage : EXIT.failure;
  }
  printError(`edge-nvr reload: the daemon (pid ${pid}) did not answer within ${timeoutS} s; see its log\n`);
  return EXIT.failure;
}
