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

/** Incremental: feed chunks as they arrive, get whole messages and frame bytes back in order. */
export class RtspStreamParser {
  private pending = Buffer.alloc(0);
  /** bytes of the current interleaved frame still to pass through */
  private frameLeft = 0;

  push(chunk: Buffer): RtspChunk[] {
    const out: RtspChunk[] = [];
    // frame headers and payloads that follow each other in memory go out as one write
    const binary = (data: Buffer) => {
      const last = out.at(-1);
      if (last?.kind === 'binary' && last.data.buffer === data.buffer && last.data.byteOffset + last.data.length === data.byteOffset) {
        last.data = Buffer.from(data.buffer, last.data.byteOffset, last.data.length + data.length);
      } else out.push({ kind: 'binary', data });
    };
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length > 0) {
      if (this.frameLeft > 0) {
        const n = Math.min(this.frameLeft, buf.length);
        binary(buf.subarray(0, n));
        this.frameLeft -= n;
        buf = buf.subarray(n);
        continue;
      }
      if (buf[0] === 0x24 /* $ */) {
        if (buf.length < 4) break;
        this.frameLeft = buf.readUInt16BE(2);
        binary(buf.subarray(0, 4));
        buf = buf.subarray(4);
        continue;
      }
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (buf.length > MAX_HEAD) throw new RtspParseError(`an RTSP message head longer than ${MAX_HEAD} bytes`);
        break;
      }
      const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
      const startLine = lines.shift() ?? '';
      if (!/^(RTSP\/\d\.\d \d{3}|[A-Z_]+ \S+ RTSP\/\d\.\d$)/.test(startLine)) throw new RtspParseError(`not an RTSP message: ${JSON.stringify(startLine.slice(0, 60))}`);
      const headers: Array<[string, string]> = [];
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
      }
      const length = Number(header({ headers }, 'content-length') ?? 0);
      if (!Number.isInteger(length) || length < 0 || length > MAX_BODY) throw new RtspParseError(`Content-Length ${length} out of range`);
      if (buf.length < headEnd + 4 + length) break;
      out.push({ kind: 'message', message: { startLine, headers, body: Buffer.from(buf.subarray(headEnd + 4, headEnd + 4 + length)) } });
      buf = buf.subarray(headEnd + 4 + length);
    }
    if (buf.length) this.pending = Buffer.from(buf);
    return out;
  }
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
