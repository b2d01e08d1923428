#!/usr/bin/python3
"""A real RTSP camera for tests, benchmarks and the demo.

gst-rtsp-server serving one H.264 stream per mount point, from one of three sources:

- live (default): a videotestsrc pattern with a clock overlay, encoded per mount;
- timecode: each picture carries the wall-clock time at which it was made, as a grid of black
  and white blocks (TIMECODE below; test/support/timecode.ts reads it back), encoded per mount;
- clip: footage encoded ONCE at start-up (a video file, or a pattern), then served to every
  mount without transcoding, in a loop, timestamped as it is sent: many cameras for little CPU.

Media are shared, so several recorders can pull the same mount. It prints one line,
"READY <port>", once it listens, and runs until it is killed (SIGSTOP it for a stall).
"""
import argparse
import os
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402,F401

PATTERNS = ["smpte", "ball", "snow", "pinwheel", "gradient", "circular", "bar", "zone-plate"]

# The time code: 64 bits in a grid of TIMECODE_COLS x TIMECODE_ROWS square cells at the top left
# of the picture, most significant bit first, row by row; a white cell (Y 235) is a 1, black
# (Y 16) a 0. Bits 0-47: epoch ms; bits 48-63: a check, the XOR of the three 16-bit words of the
# ms and 0xA5A5, so a misread picture is rejected instead of read as another time.
TIMECODE_COLS = 16
TIMECODE_ROWS = 4
TIMECODE_CHECK = 0xA5A5


def timecode_cell(width: int, height: int) -> int:
    return min(width // TIMECODE_COLS, height // (TIMECODE_ROWS * 2))


def timecode_word(ms: int) -> int:
    check = ((ms >> 32) ^ (ms >> 16) ^ ms ^ TIMECODE_CHECK) & 0xFFFF
    return ((ms & 0xFFFFFFFFFFFF) << 16) | check


def timecode_frame(width: int, height: int, ms: int) -> bytes:
    """An I420 picture: the time code on mid grey."""
    cell = timecode_cell(width, height)
    word = timecode_word(ms)
    grey = b"\x80"
    rows = []
    for r in range(TIMECODE_ROWS):
        line = b"".join(
            (b"\xeb" if (word >> (63 - (r * TIMECODE_COLS + c))) & 1 else b"\x10") * cell
            for c in range(TIMECODE_COLS)
        ) + grey * (width - TIMECODE_COLS * cell)
        rows.append(line * cell)
    luma = b"".join(rows) + grey * (width * (height - TIMECODE_ROWS * cell))
    return luma + b"\x80" * (width * height // 2)


def encoder(args) -> str:
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast aud=false bitrate={args.bitrate} "
        f"key-int-max={args.gop} ! video/x-h264,profile=baseline"
    )


def encode_clip(args) -> list:
    """The clip as a list of (access unit bytes, is keyframe), whole GOPs, encoded once."""
    caps = f"video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1"
    frames = max(args.gop, args.clip_seconds * args.fps // args.gop * args.gop)
    if args.clip:
        source = (f'filesrc location="{args.clip}" ! decodebin ! videoconvert ! videoscale '
                  f"! videorate ! {caps}")
    else:
        source = f"videotestsrc pattern={args.pattern or 'ball'} num-buffers={frames} ! {caps}"
    pipeline = Gst.parse_launch(
        f"{source} ! {encoder(args)} ! h264parse config-interval=-1 "
        "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out sync=false"
    )
    sink = pipeline.get_by_name("out")
    pipeline.set_state(Gst.State.PLAYING)
    units = []
    while len(units) < frames:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        units.append((GLib.Bytes.new(buf.extract_dup(0, buf.get_size())),
                      not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
    pipeline.set_state(Gst.State.NULL)
    # end on a whole GOP, so the loop starts again on a keyframe
    if len(units) >= args.gop:
        units = units[:len(units) // args.gop * args.gop]
    if not units or not units[0][1]:
        raise RuntimeError("the clip did not encode into whole GOPs starting on a keyframe")
    return units


class Pusher:
    """Feeds every playing media's appsrc one picture per frame interval, from one timer."""

    def __init__(self, args, clip):
        self.args = args
        self.clip = clip
        self.sources = {}  # appsrc -> its position in the clip
        self.period_ns = 1_000_000_000 // args.fps
        self.next_ns = time.monotonic_ns()
        self.schedule()

    def schedule(self):
        """One frame interval after the last, on the monotonic clock: no drift, whatever the load."""
        now = time.monotonic_ns()
        # after a SIGSTOP (a stalled camera) carry on from now, without a burst of late pictures
        self.next_ns = max(self.next_ns + self.period_ns, now - self.period_ns)
        delay_ms = max(0, (self.next_ns - now) // 1_000_000)
        GLib.timeout_add(delay_ms, self.tick)

    def add(self, appsrc):
        self.sources[appsrc] = 0

    def remove(self, appsrc):
        self.sources.pop(appsrc, None)

    def tick(self):
        self.schedule()
        if not self.sources:
            return False
        timecode = None
        if self.clip is None:
            timecode = GLib.Bytes.new(timecode_frame(self.args.width, self.args.height, time.time_ns() // 1_000_000))
        for src, index in list(self.sources.items()):
            if src.current_state != Gst.State.PLAYING:
                continue  # pictures queued before PLAYING would leave in a burst, or without a time
            if timecode is None:
                # each viewer plays the clip from its start, a keyframe: it starts at once
                data = self.clip[index][0]
                self.sources[src] = (index + 1) % len(self.clip)
            else:
                data = timecode
            if src.push_buffer(Gst.Buffer.new_wrapped_bytes(data)) != Gst.FlowReturn.OK:
                self.remove(src)
        return False


EMPTY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


class MaskOverlays:
    """The on-board privacy masks: every playing media's rsvgoverlay paints the SVG file, read
    again within 100 ms of a change (the ONVIF responder writes it when its masks change)."""

    def __init__(self, path):
        self.path = path
        self.elements = []
        self.stamp = None
        self.svg = EMPTY_SVG
        GLib.timeout_add(100, self.poll)

    def read(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None, EMPTY_SVG
        with open(self.path, encoding="utf-8") as f:
            return (st.st_mtime_ns, st.st_size), f.read() or EMPTY_SVG

    def poll(self):
        stamp, svg = self.read()
        if stamp != self.stamp:
            self.stamp, self.svg = stamp, svg
            for el in self.elements:
                el.set_property("data", svg)
        return True

    def on_configure(self, _factory, media):
        el = media.get_element().get_by_name("mask")
        self.stamp, self.svg = self.read()
        el.set_property("data", self.svg)
        self.elements.append(el)
        media.connect("unprepared", lambda _m: self.elements.remove(el) if el in self.elements else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8554, help="TCP port; 0 picks a free one")
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--mounts", default="cam1", help="comma-separated mount names")
    ap.add_argument("--source", default="live", choices=["live", "timecode", "clip"])
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--gop", type=int, default=15, help="frames between keyframes")
    ap.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    ap.add_argument("--pattern", default=None, choices=PATTERNS,
                    help="live/clip: one pattern for every mount (snow reaches the bitrate; others compress far below)")
    ap.add_argument("--clip", default=None, help="clip: a video file to encode once and serve (default: a pattern)")
    ap.add_argument("--clip-seconds", type=int, default=20, help="clip: how much of it to loop")
    ap.add_argument("--user", default=None)
    ap.add_argument("--password", default=None,
                    help="better: the environment variable RTSP_SIM_PASSWORD (a command line is world-readable)")
    ap.add_argument("--auth", default="basic", choices=["basic", "digest"], help="how the camera asks for credentials")
    ap.add_argument("--mask-svg", default=None,
                    help="live: an SVG file painted over the picture before encoding, read again whenever it "
                         "changes (empty or absent: nothing painted): a camera that masks on board")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="quit when the process that started it is gone (even after kill -9)")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    if args.user:
        password = args.password if args.password is not None else os.environ.get("RTSP_SIM_PASSWORD", "")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if args.auth == "digest":
            auth.add_digest(args.user, password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, password), token)
        server.set_auth(auth)

    pusher = None
    if args.source != "live":
        pusher = Pusher(args, encode_clip(args) if args.source == "clip" else None)

    def on_configure(_factory, media):
        src = media.get_element().get_by_name("src")
        pusher.add(src)
        media.connect("unprepared", lambda _m: pusher.remove(src))

    overlays = MaskOverlays(args.mask_svg) if args.mask_svg else None

    for i, name in enumerate(n for n in args.mounts.split(",") if n):
        pattern = args.pattern or PATTERNS[i % len(PATTERNS)]
        raw = f"video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1"
        if args.source == "live":
            mask = (f"! videoconvert ! rsvgoverlay name=mask fit-to-frame=true ! videoconvert ! {raw} "
                    if overlays else "")
            body = (f"videotestsrc is-live=true pattern={pattern} ! {raw} "
                    f"! clockoverlay time-format=\"{name} %F %T\" {mask}! {encoder(args)}")
        elif args.source == "timecode":
            body = (f"appsrc name=src is-live=true do-timestamp=true format=time caps={raw} "
                    f"! {encoder(args)}")
        else:
            body = ("appsrc name=src is-live=true do-timestamp=true format=time "
                    "caps=video/x-h264,stream-format=byte-stream,alignment=au ! h264parse")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f"( {body} ! rtph264pay name=pay0 pt=96 config-interval=1 )")
        factory.set_shared(True)
        if pusher:
            factory.connect("media-configure", on_configure)
        if overlays:
            factory.connect("media-configure", overlays.on_configure)
        if args.user:
            perms = GstRtspServer.RTSPPermissions()
            perms.add_role("user")
            perms.add_permission_for_role("user", "media.factory.access", True)
            perms.add_permission_for_role("user", "media.factory.construct", True)
            factory.set_permissions(perms)
        mounts.add_factory(f"/{name}", factory)

    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)

    loop = GLib.MainLoop()
    if args.exit_with_parent:
        parent = os.getppid()

        def parent_alive() -> bool:
            if os.getppid() != parent:
                loop.quit()
                return False
            return True

        GLib.timeout_add(500, parent_alive)
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
