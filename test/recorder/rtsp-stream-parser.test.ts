/**
 * The relay's RTSP parser (recorder/sources/rtsp-messages.ts): the same messages and frame bytes
 * however the sender cuts its stream, and a cost linear in what it is fed. A camera announcing a
 * 1 MB body and sending it in 1-byte TCP segments had the whole pending megabyte copied again for
 * each byte (an outside probe: 10.3 s of CPU against 0.4 s for the body in one write). The cost
 * is counted in bytes copied, not timed.
 */
import t from 'tap';
import { RtspStreamParser, type RtspChunk } from '../../recorder/sources/rtsp-messages.js';
import { countConcat } from '../support/count-concat.js';

const frame = (channel: number, payload: Buffer) => Buffer.concat([Buffer.from([0x24, channel, payload.length >> 8, payload.length & 0xff]), payload]);
const describe = (body: string) => `RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

const RTP = Buffer.from('rtp payload with \r\n\r\n inside it, which is no message end');
const STREAM = Buffer.concat([
  Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n'),
  Buffer.from(describe('v=0\r\nm=video 0 RTP/AVP 96\r\n')),
  frame(0, RTP),
  frame(1, Buffer.alloc(300, 7)),
  Buffer.from('GET_PARAMETER rtsp://cam/x RTSP/1.0\r\nCSeq: 9\r\n\r\n'),
  frame(0, Buffer.alloc(0)),
  frame(0, Buffer.alloc(1000, 1)),
  Buffer.from(describe('a'.repeat(5000))),
]);

/** What the parser hands out for `stream` cut at `cuts`: the messages, and all frame bytes joined. */
function parse(stream: Buffer, cuts: number[]) {
  const parser = new RtspStreamParser();
  const out: RtspChunk[] = [];
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(...parser.push(stream.subarray(at, cut)));
    at = cut;
  }
  return {
    messages: out.flatMap((c) => (c.kind === 'message' ? [{ ...c.message, body: c.message.body.toString('latin1') }] : [])),
    // frames and messages in their order, frames as their bytes
    order: out.map((c) => (c.kind === 'message' ? `message ${c.message.startLine}` : 'binary')).filter((x, i, all) => x !== 'binary' || all[i - 1] !== 'binary'),
    binary: Buffer.concat(out.flatMap((c) => (c.kind === 'binary' ? [c.data] : []))),
  };
}

t.test('the same messages and frames whether the stream comes whole, byte by byte or cut anywhere', async (t) => {
  const whole = parse(STREAM, []);
  t.equal(whole.messages.length, 4, 'four messages');
  t.same(whole.messages.map((m) => m.startLine), ['RTSP/1.0 200 OK', 'RTSP/1.0 200 OK', 'GET_PARAMETER rtsp://cam/x RTSP/1.0', 'RTSP/1.0 200 OK']);
  t.equal(whole.messages[3]!.body, 'a'.repeat(5000), 'a body whole');
  t.equal(whole.binary.length, 4 + RTP.length + 4 + 300 + 4 + 4 + 1000, 'every frame byte, headers included');
  const byteByByte = parse(STREAM, Array.from({ length: STREAM.length - 1 }, (_, i) => i + 1));
  t.same(byteByByte, whole, 'byte by byte');
  let seed = 7;
  const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let run = 0; run < 50; run++) {
    const cuts = [...new Set(Array.from({ length: 1 + Math.floor(random() * 40) }, () => 1 + Math.floor(random() * (STREAM.length - 1))))].sort((a, b) => a - b);
    t.same(parse(STREAM, cuts), whole, `cut at ${cuts.length} places`);
  }
});

t.test('frame bytes that come in whole are handed out as views of the chunk, not copies', async (t) => {
  const parser = new RtspStreamParser();
  const chunk = Buffer.concat([frame(0, Buffer.alloc(100, 1)), frame(0, Buffer.alloc(100, 2))]);
  const out = parser.push(chunk);
  t.equal(out.length, 1, 'one write for both frames');
  t.equal(out[0]!.kind === 'binary' && out[0]!.data.buffer, chunk.buffer, 'a view of the chunk');
  t.equal(parser.copiedBytes, 0, 'nothing copied');
});

t.test('a 1 MB body fed byte by byte: the bytes copied stay a small multiple of the body', async (t) => {
  const BODY = 1000 * 1024;
  // every Buffer.concat in this process is counted too: the parser had copied with it
  const concatenated = countConcat(t);
  const parser = new RtspStreamParser();
  const head = Buffer.from(`RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${BODY}\r\n\r\n`);
  const stream = Buffer.concat([head, Buffer.alloc(BODY, 0x61), frame(0, Buffer.alloc(10, 1))]);
  concatenated.bytes = 0;
  const bound = 5 * stream.length;
  const out: RtspChunk[] = [];
  let fed = 0;
  // fed one byte at a time; stopped as soon as the bound is passed (the quadratic parser passed
  // it after about 2,500 bytes, and would have copied 500 GB in all)
  for (; fed < stream.length && concatenated.bytes + (parser.copiedBytes ?? 0) <= bound; fed++) out.push(...parser.push(stream.subarray(fed, fed + 1)));
  t.equal(fed, stream.length, `all ${stream.length} bytes fed before ${bound} bytes were copied`);
  t.ok(Number.isInteger(parser.copiedBytes), 'the parser counts what it copies');
  t.ok(parser.copiedBytes + concatenated.bytes <= bound, `${parser.copiedBytes} bytes copied by the parser, ${concatenated.bytes} by Buffer.concat, for ${stream.length} fed`);
  const message = out.find((c) => c.kind === 'message');
  t.equal(message?.kind === 'message' && message.message.body.length, BODY, 'the body, whole');
  t.equal(Buffer.concat(out.flatMap((c) => (c.kind === 'binary' ? [c.data] : []))).length, 14, 'and the frame after it');
});

t.test('a message head without end is refused at 64 kB, also when it trickles in', async (t) => {
  const parser = new RtspStreamParser();
  parser.push(Buffer.from('RTSP/1.0 200 OK\r\n'));
  t.throws(() => { for (let i = 0; i < 70 * 1024; i++) parser.push(Buffer.from('a')); }, /an RTSP message head longer than 65536 bytes/);
  t.ok(parser.copiedBytes < 5 * 70 * 1024, `${parser.copiedBytes} bytes copied`);
});
