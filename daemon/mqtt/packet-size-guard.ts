import type { Duplex } from 'node:stream';

/** The connection was closed because the broker sent a packet larger than the box takes. */
export class PacketTooLarge extends Error {
  readonly code = 'EMSGSIZE';
  constructor(readonly bytes: number, readonly max: number) {
    super(`the broker sent a packet of ${bytes} bytes, more than the ${max} the box takes; connection closed`);
  }
}

/**
 * Closes a broker connection as soon as the fixed header of an incoming MQTT packet announces
 * more than `maxBytes`, before its body is read. MQTT 5 lets the box announce a maximum packet
 * size, which the broker enforces; MQTT 3.1.1 (aedes, the demo's broker, and older brokers) has
 * no such thing, and MQTT.js's parser gathers a packet whole before the daemon sees it: a
 * 200 MB command took the daemon from 159 to 537 MB before it was refused `too_large` (an outside
 * probe). This reads only the headers as bytes go by (each packet: a type byte, its remaining
 * length in 1-4 bytes of 7 bits, then that many bytes); the parser still gets every byte.
 */
export function guardPacketSize(stream: Duplex, maxBytes: number): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  let skip = 0; // body bytes of the current packet still to pass
  let inLength = false; // reading a remaining-length field
  let length = 0;
  let multiplier = 1;
  // prepended: it runs before the pipe into MQTT.js's parser for the same chunk, so the parser
  // has at most this chunk of an oversized packet when the connection is destroyed
  stream.prependListener('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length && !stream.destroyed) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
      } else if (!inLength) {
        inLength = true; // the packet type byte
        length = 0;
        multiplier = 1;
        i++;
      } else {
        const b = chunk[i++]!;
        length += (b & 0x7f) * multiplier;
        multiplier *= 128;
        if (b & 0x80 && multiplier <= 128 ** 3) continue;
        inLength = false;
        // a fifth length byte is malformed; MQTT.js's parser says so, with the connection intact
        if (length > maxBytes) stream.destroy(new PacketTooLarge(length, maxBytes));
        skip = length;
      }
    }
  });
}

const guarded = new WeakSet<Duplex>();
