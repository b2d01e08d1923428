/**
 * How much and how long an ONVIF device may talk to us. Anything on the camera network can pose
 * as a camera: an answer that never ends would grow the daemon's memory until the box falls over,
 * and one that trickles a byte every few seconds defeats a socket's idle timeout and stalls the
 * resolve (or `discover`, `check`) for ever. So every answer has a size cap and every request a
 * deadline for its complete answer, whichever client (the `onvif` package, our own SOAP) sends it.
 */
import { Agent } from 'node:http';
import type { Socket } from 'node:net';

/** The largest answer taken: a real camera's biggest (GetProfiles, many profiles) is tens of kB. */
export const MAX_ANSWER_BYTES = 2 * 1024 * 1024;

/**
 * An HTTP agent for the `onvif` package (it takes one, and bounds neither size nor total time
 * itself: its `timeout` is an idle timeout): each connection is cut, with a reason the request
 * fails with, once it has read more than `MAX_ANSWER_BYTES` or lived longer than `timeoutMs`.
 * No keep-alive, so one connection is one request.
 */
export function boundedAgent(timeoutMs: number): Agent {
  const agent = new Agent({ keepAlive: false });
  const base = agent as unknown as { createConnection(...args: unknown[]): Socket | undefined };
  const create = base.createConnection.bind(agent);
  base.createConnection = (...args: unknown[]) => {
    const socket = create(...args);
    if (socket) bound(socket, timeoutMs);
    return socket;
  };
  return agent;
}

function bound(socket: Socket, timeoutMs: number): void {
  let read = 0;
  const timer = setTimeout(() => socket.destroy(new Error(`no complete answer within ${timeoutMs / 1000} s (too slow)`)), timeoutMs);
  timer.unref();
  socket.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > MAX_ANSWER_BYTES) socket.destroy(new Error(`an answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB; refusing it`));
  });
  socket.once('close', () => clearTimeout(timer));
}

/** A fetch Response's body as text, refused past `MAX_ANSWER_BYTES` naming `host` (its time is bounded by the request's signal). */
export async function boundedText(res: Response, host: string): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let read = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    read += chunk.length;
    // leaving the loop cancels the stream: the rest is never read
    if (read > MAX_ANSWER_BYTES) throw new Error(`ONVIF camera ${host}: an answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB; refusing it`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
