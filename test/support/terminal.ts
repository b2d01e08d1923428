import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { until } from './daemon.js';

const BRIDGE = fileURLToPath(new URL('./terminal.py', import.meta.url)).replace('/dist/test/', '/test/');

/** A command run on a real pseudo-terminal (terminal.py): what a person at a terminal sees and types. */
export interface OnTerminal {
  /** the command's own pid (the terminal's session leader) */
  readonly pid: number;
  /** everything the terminal showed so far, its own echo included, \r\n as \n */
  screen(): string;
  /** typed at the terminal (keystrokes: '\r' is Enter, '\x03' Ctrl-C) */
  type(keys: string): void;
  /** waits until the screen matches, else throws naming `what` and the screen's tail */
  waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<void>;
  /** the command's exit code (128 + signal when killed) */
  readonly exited: Promise<number | null>;
  /** SIGKILL to the command and the bridge (a test's teardown) */
  kill(): void;
}

export function onTerminal(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<OnTerminal> {
  const bridge = spawn('/usr/bin/python3', [BRIDGE, command, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  bridge.stdout.on('data', (d) => { out += String(d); });
  const exited = new Promise<number | null>((resolve) => bridge.once('close', (code) => resolve(code)));
  const screen = () => out.replace(/\r\n/g, '\n');
  const term: Omit<OnTerminal, 'pid' | 'kill'> = {
    screen,
    type: (keys) => { bridge.stdin.write(keys); },
    waitFor: async (pattern, timeoutMs, what) => {
      try {
        await until(() => pattern.test(screen()), timeoutMs, what);
      } catch (err) {
        throw new Error(`${(err as Error).message}; the terminal shows: ${JSON.stringify(screen().slice(-2000))}`);
      }
    },
    exited,
  };
  // the command's pid: the bridge's only child, once forked
  return new Promise((resolve, reject) => {
    const end = Date.now() + 10000;
    const look = () => {
      const pid = childOf(bridge.pid!);
      if (pid) {
        resolve({
          ...term, pid, kill: () => {
            try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
            bridge.kill('SIGKILL');
          },
        });
      }
      else if (Date.now() > end || bridge.exitCode !== null) reject(new Error(`${command} did not start on a terminal`));
      else setTimeout(look, 20);
    };
    look();
  });
}

function childOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children ? Number(children.split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}
