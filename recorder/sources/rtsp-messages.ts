/**
 * The RTSP byte stream, cut into what the relay needs to see (RFC 2326 / 7826): text messages
 * (requests and responses: a start line, headers, an optional body of Content-Length bytes) and
 * interleaved binary frames (`$`, channel, 16-bit length, RTP/RTCP data), which pass through
 * untouched and uncopied.
 */

export interface RtspMessage {
  /** "DESCRIBE rtsp://h/x RTSP/1.0" or "RTSP/1.0 401 Unauthorized" */
  startLine: string;
  /** in order, names as sent */
  headers: Array<[string, string]>;
  body: Buffer;
}

export type RtspChunk = { kind: 'binary'; data: Buffer } | { kind: 'message'; message: RtspMessage };

/** A message head larger than this is not RTSP: the connection is dropped rather than buffered without end. */
const MAX_HEAD = 64 * 1024;
const MAX_BODY = 1024 * 1024;

export class RtspParseError extends Error {}

/** What a head tells, kept while its body is still arriving. */
interface Head {
  startLine: string;
  headers: Array<[string, string]>;
  bodyLength: number;
}

const EMPTY = Buffer.alloc(0);

/** bytes copied by every parser in this process (the relay's tests hold it to a multiple of what a camera sent) */
export const rtspParserStats = { copiedBytes: 0 };

/**
 * Incremental: feed chunks as they arrive, get whole messages and frame bytes back in order.
 *
 * Linear in what it is fed, however the sender cuts it: a camera announcing a 1 MB body and
 * sending it in 1-byte TCP segments had the whole pending megabyte copied again (Buffer.concat)
 * for each byte: 10 s of CPU for one `probe` of such a camera (an outside probe; 0.4 s with the
 * body in one write). Now bytes that must wait (an unfinished head, body or frame header) are
 * appended once to a buffer that doubles when full (each byte copied a bounded number of
 * times); the end of a head is searched for only in bytes not searched before; a body is copied
 * out once, when all of it has arrived. A list of the chunks themselves would copy less, but a
 * million 1-byte Buffers take about 280 MB (measured: Node 20). Frame bytes that come in whole
 * still pass through as views, uncopied.
 */
export class RtspStreamParser {
  /** bytes waiting are store[start, end); what lies before `end` is never written again (frame
   * bytes handed out are views of it), so a full store is replaced, not compacted in place */
  private store = EMPTY;
  private start = 0;
  private end = 0;
  /** bytes of the current interleaved frame still to pass through */
  private frameLeft = 0;
  /** bytes of the waiting message head already searched for its blank line */
  private scanned = 0;
  /** the current message's head, parsed, while its body is still arriving */
  private head?: Head;
  /** bytes copied from what was fed (into the waiting buffer, out as bodies, heads read as
   * text): the tests hold it to a small multiple of what went in */
  copiedBytes = 0;

  push(chunk: Buffer): RtspChunk[] {
    const out: RtspChunk[] = [];
    // frame headers and payloads that follow each other in memory go out as one write
    const binary = (data: Buffer) => {
      const last = out.at(-1);
      if (last?.kind === 'binary' && last.data.buffer === data.buffer && last.data.byteOffset + last.data.length === data.byteOffset) {
        last.data = Buffer.from(data.buffer, last.data.byteOffset, last.data.length + data.length);
      } else out.push({ kind: 'binary', data });
    };
    // nothing waiting: work on the chunk itself, and keep only what it leaves over
    const waiting = this.end > this.start;
    if (waiting) this.append(chunk);
    const buf = waiting ? this.store.subarray(this.start, this.end) : chunk;
    let pos = 0;
    while (pos < buf.length) {
      if (this.frameLeft > 0) {
        const n = Math.min(this.frameLeft, buf.length - pos);
        binary(buf.subarray(pos, pos + n));
        this.frameLeft -= n;
        pos += n;
        continue;
      }
      if (!this.head && this.scanned === 0 && buf[pos] === 0x24 /* $ */) {
        if (buf.length - pos < 4) break;
        this.frameLeft = buf.readUInt16BE(pos + 2);
        binary(buf.subarray(pos, pos + 4));
        pos += 4;
        continue;
      }
      if (!this.head) {
        // the blank line may straddle what was searched before: back up 3 bytes
        const headEnd = buf.indexOf('\r\n\r\n', pos + Math.max(0, this.scanned - 3));
        if (headEnd < 0) {
          this.scanned = buf.length - pos;
          if (this.scanned > MAX_HEAD) throw new RtspParseError(`an RTSP message head longer than ${MAX_HEAD} bytes`);
          break;
        }
        if (headEnd - pos > MAX_HEAD) throw new RtspParseError(`an RTSP message head longer than ${MAX_HEAD} bytes`);
        this.copied(headEnd - pos);
        this.head = parseHead(buf.subarray(pos, headEnd));
        this.scanned = 0;
        pos = headEnd + 4;
      }
      const { startLine, headers, bodyLength } = this.head;
      if (buf.length - pos < bodyLength) break;
      this.head = undefined;
      // a copy: the body must not pin the chunk or buffer it came in
      const body = bodyLength ? Buffer.from(buf.subarray(pos, pos + bodyLength)) : EMPTY;
      this.copied(bodyLength);
      out.push({ kind: 'message', message: { startLine, headers, body } });
      pos += bodyLength;
    }
    if (waiting) this.start += pos;
    else if (pos < buf.length) this.append(buf.subarray(pos));
    // all used: the buffer goes (frame bytes handed out keep what they need of it)
    if (this.start === this.end) {
      this.store = EMPTY;
      this.start = this.end = 0;
    }
    return out;
  }

  private copied(n: number): void {
    this.copiedBytes += n;
    rtspParserStats.copiedBytes += n;
  }

  /** Copies `data` after the waiting bytes; a full store is replaced by one at least twice the
   * size of what it then holds, so copies stay linear (each replacement copies at most what was
   * appended since the one before). */
  private append(data: Buffer): void {
    if (this.end + data.length > this.store.length) {
      const live = this.end - this.start;
      const next = Buffer.allocUnsafe(Math.max(2 * (live + data.length), 4096));
      this.store.copy(next, 0, this.start, this.end);
      this.copied(live);
      this.store = next;
      this.start = 0;
      this.end = live;
    }
    data.copy(this.store, this.end);
    this.copied(data.length);
    this.end += data.length;
  }
}

function parseHead(head: Buffer): Head {
  const lines = head.toString('latin1').split('\r\n');
  const startLine = lines.shift() ?? '';
  if (!/^(RTSP\/\d\.\d \d{3}|[A-Z_]+ \S+ RTSP\/\d\.\d$)/.test(startLine)) throw new RtspParseError(`not an RTSP message: ${JSON.stringify(startLine.slice(0, 60))}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  const bodyLength = Number(header({ headers }, 'content-length') ?? 0);
  if (!Number.isInteger(bodyLength) || bodyLength < 0 || bodyLength > MAX_BODY) throw new RtspParseError(`Content-Length ${bodyLength} out of range`);
  return { startLine, headers, bodyLength };
}

/** The first header of that name (case-insensitive). */
export function header(m: Pick<RtspMessage, 'headers'>, name: string): string | undefined {
  const lower = name.toLowerCase();
  return m.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
}

/** Every header of that name, in order (WWW-Authenticate may come more than once). */
export function headers(m: Pick<RtspMessage, 'headers'>, name: string): string[] {
  const lower = name.toLowerCase();
  return m.headers.filter(([k]) => k.toLowerCase() === lower).map(([, v]) => v);
}

/** A copy with the header set (replacing every header of that name) or, for undefined, removed. */
export function withHeader(m: RtspMessage, name: string, value: string | undefined): RtspMessage {
  const lower = name.toLowerCase();
  const kept = m.headers.filter(([k]) => k.toLowerCase() !== lower);
  const at = m.headers.findIndex(([k]) => k.toLowerCase() === lower);
  if (value !== undefined) kept.splice(at < 0 ? kept.length : at, 0, [name, value]);
  return { ...m, headers: kept };
}

export function serialize(m: RtspMessage): Buffer {
  const head = [m.startLine, ...m.headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n') + '\r\n\r\n';
  return m.body.length ? Buffer.concat([Buffer.from(head, 'latin1'), m.body]) : Buffer.from(head, 'latin1');
}

/** A request's method and URI; undefined for a response. */
export function requestLine(m: RtspMessage): { method: string; uri: string; version: string } | undefined {
  const r = /^([A-Z_]+) (\S+) (RTSP\/\d\.\d)$/.exec(m.startLine);
  return r ? { method: r[1]!, uri: r[2]!, version: r[3]! } : undefined;
}

/** A response's status; undefined for a request. */
export function statusOf(m: RtspMessage): { code: number; reason: string } | undefined {
  const r = /^RTSP\/\d\.\d (\d{3}) ?(.*)$/.exec(m.startLine);
  return r ? { code: Number(r[1]), reason: r[2] ?? '' } : undefined;
}

/** A response the relay makes up itself (the camera could not be reached, an unknown path). */
export function response(code: number, reason: string, cseq: string | undefined): RtspMessage {
  const hs: Array<[string, string]> = cseq === undefined ? [] : [['CSeq', cseq]];
  return { startLine: `RTSP/1.0 ${code} ${reason}`, headers: [...hs, ['Content-Length', '0']], body: Buffer.alloc(0) };
}
