/**
 * Just enough ISO BMFF (MP4) to follow a fragmented recording while it grows: the video track's
 * codec, size and decoder configuration from `moov`, and each fragment's samples (where they
 * are, how long they last, which are keyframes) from `moof`. Both backends write this layout:
 * ffmpeg (`frag_keyframe+empty_moov+default_base_moof`: one fragment per GOP) and GStreamer's
 * mp4mux (`fragment-duration`: a fragment every 500 ms, keyframes anywhere in it).
 */

export interface BoxHeader {
  type: string;
  /** whole box, header included; Infinity for a box that runs to the end of the file */
  size: number;
  headerSize: number;
}

/** The header of the box starting at `buf[at]`, or null when fewer bytes than a header are there. */
export function boxHeader(buf: Buffer, at = 0): BoxHeader | null {
  if (buf.length - at < 8) return null;
  const size32 = buf.readUInt32BE(at);
  const type = buf.toString('latin1', at + 4, at + 8);
  if (size32 === 1) {
    if (buf.length - at < 16) return null;
    return { type, size: Number(buf.readBigUInt64BE(at + 8)), headerSize: 16 };
  }
  return { type, size: size32 === 0 ? Infinity : size32, headerSize: 8 };
}

/** The child boxes of a container's payload: [type, payload] in order. */
function* children(buf: Buffer): Generator<[string, Buffer]> {
  let at = 0;
  while (at < buf.length) {
    const h = boxHeader(buf, at);
    if (!h || h.size < h.headerSize) return;
    const end = Math.min(buf.length, at + (Number.isFinite(h.size) ? h.size : buf.length - at));
    yield [h.type, buf.subarray(at + h.headerSize, end)];
    at = end;
  }
}

const child = (buf: Buffer, type: string) => {
  for (const [t, b] of children(buf)) if (t === type) return b;
  return undefined;
};

const path = (buf: Buffer | undefined, ...types: string[]) => types.reduce<Buffer | undefined>((b, t) => (b ? child(b, t) : undefined), buf);

export interface VideoTrack {
  trackId: number;
  /** `h264`, `hevc`, or the sample entry's four-character code when neither */
  codec: string;
  width: number;
  height: number;
  timescale: number;
  /** the avcC / hvcC payload: what a decoder takes as extradata */
  config: Buffer | null;
  /** trex defaults, used when a fragment does not say */
  defaults: { duration: number; size: number; flags: number };
}

const CODECS: Record<string, string> = { avc1: 'h264', avc3: 'h264', hvc1: 'hevc', hev1: 'hevc' };

/** The first video track of a `moov` payload, or null when it has none. */
export function parseMoov(moov: Buffer): VideoTrack | null {
  const trex = new Map<number, VideoTrack['defaults']>();
  const mvex = child(moov, 'mvex');
  if (mvex) {
    for (const [t, b] of children(mvex)) {
      if (t !== 'trex' || b.length < 24) continue;
      trex.set(b.readUInt32BE(4), { duration: b.readUInt32BE(12), size: b.readUInt32BE(16), flags: b.readUInt32BE(20) });
    }
  }
  for (const [t, trak] of children(moov)) {
    if (t !== 'trak') continue;
    const hdlr = path(trak, 'mdia', 'hdlr');
    if (!hdlr || hdlr.toString('latin1', 8, 12) !== 'vide') continue;
    const tkhd = child(trak, 'tkhd');
    const mdhd = path(trak, 'mdia', 'mdhd');
    const stsd = path(trak, 'mdia', 'minf', 'stbl', 'stsd');
    if (!tkhd || !mdhd || !stsd || stsd.length < 16) continue;
    const trackId = tkhd.readUInt32BE(tkhd[0] === 1 ? 20 : 12);
    const timescale = mdhd.readUInt32BE(mdhd[0] === 1 ? 20 : 12);
    // stsd: fullbox header (4), entry count (4), then the first sample entry as a box
    const entry = boxHeader(stsd, 8);
    if (!entry) continue;
    const body = stsd.subarray(8 + entry.headerSize, Math.min(stsd.length, 8 + entry.size));
    // VisualSampleEntry: 6 reserved, 2 data ref index, 16 pre-defined/reserved, width, height, ... 78 bytes before its boxes
    if (body.length < 78) continue;
    const width = body.readUInt16BE(24);
    const height = body.readUInt16BE(26);
    const boxes = body.subarray(78);
    const config = child(boxes, 'avcC') ?? child(boxes, 'hvcC') ?? null;
    return {
      trackId, codec: CODECS[entry.type] ?? entry.type, width, height, timescale, config: config ? Buffer.from(config) : null,
      defaults: trex.get(trackId) ?? { duration: 0, size: 0, flags: 0 },
    };
  }
  return null;
}

export interface FragmentSample {
  /** byte offset in the file */
  offset: number;
  size: number;
  /** in the track's timescale */
  duration: number;
  keyframe: boolean;
}

/** bit 16 of sample flags: sample_is_non_sync_sample */
const NON_SYNC = 0x10000;

/**
 * The video track's samples in a `moof` (given with its offset in the file, which the default
 * data offset is relative to), in file order.
 */
export function parseMoof(moof: Buffer, moofOffset: number, track: VideoTrack): FragmentSample[] {
  const samples: FragmentSample[] = [];
  // without an explicit base, the first traf's data starts at the moof (default-base-is-moof
  // makes that explicit), and each later run where the previous one ended
  let nextDataOffset = moofOffset;
  for (const [t, traf] of children(moof)) {
    if (t !== 'traf') continue;
    const tfhd = child(traf, 'tfhd');
    if (!tfhd || tfhd.length < 8) continue;
    const flags = tfhd.readUIntBE(1, 3);
    const trackId = tfhd.readUInt32BE(4);
    let at = 8;
    let base = nextDataOffset;
    if (flags & 0x01) { base = Number(tfhd.readBigUInt64BE(at)); at += 8; }
    else if (flags & 0x020000) base = moofOffset;
    if (flags & 0x02) at += 4;
    const defDuration = flags & 0x08 ? tfhd.readUInt32BE((at += 4) - 4) : track.defaults.duration;
    const defSize = flags & 0x10 ? tfhd.readUInt32BE((at += 4) - 4) : track.defaults.size;
    const defFlags = flags & 0x20 ? tfhd.readUInt32BE((at += 4) - 4) : track.defaults.flags;
    let dataEnd = base;
    for (const [rt, trun] of children(traf)) {
      if (rt !== 'trun' || trun.length < 8) continue;
      const rflags = trun.readUIntBE(1, 3);
      const count = trun.readUInt32BE(4);
      let p = 8;
      let offset = dataEnd;
      if (rflags & 0x01) { offset = base + trun.readInt32BE(p); p += 4; }
      let firstFlags: number | undefined;
      if (rflags & 0x04) { firstFlags = trun.readUInt32BE(p); p += 4; }
      const per = ((rflags & 0x100) ? 4 : 0) + ((rflags & 0x200) ? 4 : 0) + ((rflags & 0x400) ? 4 : 0) + ((rflags & 0x800) ? 4 : 0);
      if (p + per * count > trun.length) break;
      for (let i = 0; i < count; i++) {
        const duration = rflags & 0x100 ? trun.readUInt32BE((p += 4) - 4) : defDuration;
        const size = rflags & 0x200 ? trun.readUInt32BE((p += 4) - 4) : defSize;
        let sflags = rflags & 0x400 ? trun.readUInt32BE((p += 4) - 4) : defFlags;
        if (i === 0 && firstFlags !== undefined) sflags = firstFlags;
        if (rflags & 0x800) p += 4;
        if (trackId === track.trackId) samples.push({ offset, size, duration, keyframe: (sflags & NON_SYNC) === 0 });
        offset += size;
      }
      dataEnd = offset;
    }
    nextDataOffset = dataEnd;
  }
  return samples;
}
