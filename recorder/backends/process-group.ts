import type { EventEmitter } from 'node:events';
import { settleWithin } from '../../common/deadlines.js';

/** A child process as these helpers use it: a ChildProcess, or a recorder the spawner started (spawner.ts). */
export type ChildLike = Pick<EventEmitter, 'on'> & { readonly pid?: number };

/** Signals a child's whole process group (it was spawned `detached`, so it leads one). */
export function killGroup(proc: { readonly pid?: number }, signal: NodeJS.Signals): void {
  if (!proc.pid) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // the group is already gone
  }
}

/** true when `exited` settles within `ms` */
export function waitForExit(exited: Promise<unknown>, ms: number): Promise<boolean> {
  return settleWithin(exited.then(() => true), ms, false);
}

/** How a child ended: its exit, or the error that kept it from starting. */
export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: Error;
}

/**
 * Calls `onEnd` once, when the child has exited (or could not start) and each of its
 * `streams` output streams has been read to its end, so the lines it wrote just before exiting
 * (a closed segment, the reason it failed) are handled before its exit is. The caller calls
 * `streamClosed` from each stream's close; `exited` resolves when the process is gone.
 */
export function watchChildEnd(proc: ChildLike, streams: number, onEnd: (end: ChildEnd) => void): { exited: Promise<void>; streamClosed: () => void } {
  let open = streams;
  let end: ChildEnd | undefined;
  let spawnError: Error | undefined;
  let reported = false;
  const maybeReport = () => {
    if (reported || open > 0 || !end) return;
    reported = true;
    onEnd(end);
  };
  const exited = new Promise<void>((resolve) => {
    const ended = (code: number | null, signal: NodeJS.Signals | null) => {
      end ??= { code, signal, ...(spawnError ? { spawnError } : {}) };
      maybeReport();
      resolve();
    };
    // a child that never started has no output to wait for
    proc.on('error', (err: Error) => { spawnError = err; if (!proc.pid) { open = 0; ended(null, null); } });
    proc.on('close', ended);
  });
  return { exited, streamClosed: () => { open--; maybeReport(); } };
}

/**
 * Calls `onLine` for each line a child writes on `stream` (without its `\n` or `\r\n`; a last
 * line without one included), then `onEnd` once, when the stream has ended. What readline does
 * for a child's pipe, for a fraction of its cost: at 64 cameras the recorders' progress pipes
 * alone are some 800 lines a second.
 */
export function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void, onEnd: () => void): void {
  let rest = '';
  let ended = false;
  // A spawner's socket (spawner.ts) that held nothing past its header can have ended before it was
  // handed over (a child that wrote nothing and exited at once): its 'end' will not come again.
  const readable = stream as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean };
  if (readable.readableEnded || readable.destroyed) {
    onEnd();
    return;
  }
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let from = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', from)) {
      let line = rest + chunk.slice(from, nl);
      rest = '';
      if (line.endsWith('\r')) line = line.slice(0, -1);
      from = nl + 1;
      onLine(line);
    }
    rest += chunk.slice(from);
  });
  const end = () => {
    if (ended) return;
    ended = true;
    if (rest) onLine(rest.endsWith('\r') ? rest.slice(0, -1) : rest);
    rest = '';
    onEnd();
  };
  stream.on('end', end);
  stream.on('close', end);
}
