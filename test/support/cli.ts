import { spawn, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI (npm test builds it first), run as an installer would run it; also right
 * when this file itself runs compiled, from dist/test/support (benchmarks). */
export const CLI = fileURLToPath(new URL('../../dist/daemon/cli.js', import.meta.url)).replace('/dist/dist/', '/dist/');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

type RunOptions = SpawnOptions & { timeoutMs?: number; input?: string | Buffer };

/** `input`: written to the command's stdin (piped passwords), which is closed otherwise. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runNode([CLI, ...args], opts);
}

/** This Node with `args` (a script of a test's own), as `runCli` runs the CLI. */
export function runNode(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { ...opts, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += String(d); });
    child.stderr!.on('data', (d) => { stderr += String(d); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
