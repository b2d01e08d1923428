#!/usr/bin/python3
"""Decodes single keyframes for edge-nvr's frame sampler (recorder/frame-decoder.ts).

Each keyframe is decoded by a fresh decoder context and drained at once, so its picture comes
out immediately: a long-lived ffmpeg fed one keyframe at a time holds back one to four
pictures (its parser and reorder delay), seconds of latency at one sample every few seconds.

Protocol on stdin/stdout, every message framed as a 4-byte big-endian length and a JSON header,
then the payload the header announces:
  request:  {"id", "codec": "h264"|"hevc", "extradata": n, "sample": n, "max_width", "max_height",
            "format": "rgb24"|"gray" (default rgb24)}
            followed by n bytes of extradata (avcC/hvcC) and n bytes of sample
  response: {"id", "ok", "width", "height", "src_width", "src_height", "cpu_ms", "format", "bytes"}
            (cpu_ms: this process's CPU since its last answer, the pipe's side included) and
            width*height*3 bytes of RGB24 or width*height bytes of full-range grey (luma),
            or {"id", "ok": false, "error", "bytes": 0}
The first message out is {"ready": true} or {"ready": false, "error"}. It exits when stdin closes.
"""
import json
import os
import struct
import sys
import time


def send(out, header, payload=b""):
    header["bytes"] = len(payload)
    body = json.dumps(header).encode()
    out.write(struct.pack(">I", len(body)) + body + payload)
    out.flush()


def read_exact(inp, n):
    chunks = []
    while n > 0:
        b = inp.read(n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def fit(w, h, max_w, max_h):
    scale = min(1.0, max_w / w, max_h / h)
    return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)


FORMATS = {"rgb24": 3, "gray": 1}


def packed(frame, channels):
    """The picture's one plane (RGB24 or grey) without the row padding libav adds for alignment."""
    plane = frame.planes[0]
    row = frame.width * channels
    data = memoryview(plane)
    if plane.line_size == row:
        return bytes(data[: row * frame.height])
    return b"".join(data[r * plane.line_size : r * plane.line_size + row] for r in range(frame.height))


def main():
    out = sys.stdout.buffer
    inp = sys.stdin.buffer
    try:
        os.nice(5)  # yield to the recorders when the CPU is short, without starving: the budget bounds it anyway
    except OSError:
        pass
    try:
        import av
    except ImportError as err:
        send(out, {"ready": False, "error": f"python3-av is not installed ({err}); install the Debian package python3-av"})
        return 1
    send(out, {"ready": True, "av": av.__version__})
    # cpu_ms is all this process spent since the last answer (waiting for a request costs
    # nothing): reading the request from the pipe, decoding, scaling, and writing the answer before,
    # so the sampler's budget is charged for the whole of it, not the decode alone (at 64 cameras
    # the pipe's side was a sixth of what view watching spent, bench/README.md)
    mark = time.process_time()
    while True:
        head = read_exact(inp, 4)
        if head is None:
            return 0
        raw = read_exact(inp, struct.unpack(">I", head)[0])
        if raw is None:
            return 0
        req = json.loads(raw)
        extradata = read_exact(inp, req["extradata"])
        sample = read_exact(inp, req["sample"])
        if extradata is None or sample is None:
            return 0
        try:
            ctx = av.CodecContext.create(req["codec"], "r")
            ctx.thread_count = 1
            if extradata:
                ctx.extradata = extradata
            frames = list(ctx.decode(av.Packet(sample))) + list(ctx.decode(None))
            if not frames:
                raise ValueError("no picture decoded from the keyframe")
            frame = frames[-1]
            w, h = fit(frame.width, frame.height, req["max_width"], req["max_height"])
            fmt = req.get("format", "rgb24")
            if fmt not in FORMATS:
                raise ValueError(f"format {fmt!r}: expected rgb24 or gray")
            # grey is swscale's luma scaled to full range from the stream's own range (limited or
            # full), as RGB24 is: the same grey levels the analysis computed from RGB, in a third
            # of the bytes and a third of the conversion's time
            pic = frame.reformat(width=w, height=h, format=fmt, interpolation="AREA")
            payload = packed(pic, FORMATS[fmt])
            now = time.process_time()
            cpu_ms = (now - mark) * 1000
            mark = now
            send(out, {"id": req["id"], "ok": True, "width": w, "height": h, "src_width": frame.width,
                       "src_height": frame.height, "cpu_ms": round(cpu_ms, 2), "format": fmt}, payload)
        except Exception as err:  # a bad sample is answered, never fatal
            send(out, {"id": req["id"], "ok": False, "error": str(err)[:300]})


if __name__ == "__main__":
    sys.exit(main())
