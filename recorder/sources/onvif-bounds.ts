/**
 * How much and how long an ONVIF device may talk to us. Anything on the camera network can pose
 * as a camera: an answer that never ends would grow the daemon's memory until the box falls over,
 * and one that trickles a byte every few seconds defeats a socket's idle timeout and stalls the
 * resolve (or `discover`, `check`) for ever. So every answer has a size cap and every request a
 * deadline for its complete answer, whichever client (the `onvif` package, our own SOAP) sends it.
 */
import { Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** The largest answer taken: a real camera's biggest (GetProfiles, many profiles) is tens of kB. */
export const MAX_ANSWER_BYTES = 2 * 1024 * 1024;

/**
 * An HTTP agent for the `onvif` package (it takes one, and bounds neither size nor total time
 * itself: its `timeout` is an idle timeout): each connection is cut, with a reason the request
 * fails with, once it has read more than `MAX_ANSWER_BYTES` or lived longer than `timeoutMs`.
 * No keep-alive, so one connection is one request. Each complete answer also goes through
 * `neutraliseNamespaces` before the package sees it (see there).
 */
export function boundedAgent(timeoutMs: number): Agent {
  const agent = new Agent({ keepAlive: false });
  const withRequests = agent as unknown as { addRequest(req: ClientRequest, ...rest: unknown[]): void };
  const addRequest = withRequests.addRequest.bind(agent);
  withRequests.addRequest = (req: ClientRequest, ...rest: unknown[]) => {
    // before the package's own listener (given to http.request, so registered already)
    req.prependOnceListener('response', holdBody);
    addRequest(req, ...rest);
  };
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

/**
 * The `onvif` package strips namespace declarations from every answer with
 * `/xmlns([^=]*?)=(".*?")/g` before parsing it (lib/utils.js parseSOAPString): each `xmlns` not
 * followed by `="..."` makes it scan on to the next `=` and quote, so 1.9 MB of repeated `xmlns`
 * (under the 2 MB cap, and GetSystemDateAndTime needs no login) held the daemon's event loop
 * for minutes, SIGTERM unanswered (an outside probe). Here the well-formed declarations
 * (` xmlns="..."`, ` xmlns:p='...'`) are taken out in one pass (every try stops at the next
 * quote or `<`), which is what the package would have done with them; any `xmlns` left is not
 * a declaration a camera writes, and the answer is refused. The package then finds no `xmlns`.
 */
export function neutraliseNamespaces(xml: string): string {
  const stripped = xml.replace(/\sxmlns(?::[\w.-]+)?\s*=\s*(?:"[^"<]*"|'[^'<]*')/g, '');
  if (stripped.includes('xmlns')) throw new Error(NAMESPACE_REFUSAL);
  return stripped;
}

export const NAMESPACE_REFUSAL = 'an answer with an xmlns that declares no namespace; refusing it';

/**
 * Holds an answer's body back from the package's listeners until it is complete, then hands it
 * over in one piece with `neutraliseNamespaces` applied; an answer it refuses is handed over as
 * a SOAP fault naming why, which the package reports as any fault (`onvifError` names it).
 */
function holdBody(res: IncomingMessage): void {
  const chunks: Buffer[] = [];
  const emit = res.emit.bind(res) as (event: string | symbol, ...args: unknown[]) => boolean;
  res.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'data') {
      const chunk = args[0];
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
      return true;
    }
    if (event === 'end') {
      let body: string;
      try {
        body = neutraliseNamespaces(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        body = refusalFault((err as Error).message);
      }
      chunks.length = 0;
      emit('data', Buffer.from(body, 'utf8'));
      return emit('end');
    }
    return emit(event, ...args);
  }) as typeof res.emit;
}

/** A SOAP fault the package parses into `ONVIF SOAP Fault: <reason>`. */
const refusalFault = (reason: string) => '<?xml version="1.0" encoding="UTF-8"?><Envelope><Body><Fault><Code><Value>Receiver</Value></Code>'
  + `<Reason><Text xml:lang="en">${reason}</Text></Reason></Fault></Body></Envelope>`;
