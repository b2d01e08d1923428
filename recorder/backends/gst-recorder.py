#!/usr/bin/python3
"""One camera recorded by GStreamer in a process of its own (the GStreamer backend's child).

    /usr/bin/python3 gst-recorder.py <staging dir>
    /usr/bin/python3 gst-recorder.py --check     the GStreamer version, or what is missing (exit 1)

The staging dir is the only argument, so that the camera's URL and credentials never appear on
a command line; it also lets start-up recovery find a recorder orphaned by a kill -9. The
pipeline arrives as one JSON line on stdin:

    {"launch": "...", "location": "rtsp://host/path", "user": "u", "password": "p",
     "files": "<staging dir>/<run start>-%06d.mp4", "stop_deadline_ms": 5000,
     "overlay_svg": "<svg ...>"}                     capture masks: set on the element named masks


and every bus message the daemon needs leaves as one JSON line on stdout:

    {"event": "opened"|"closed", "location": F, "wall_ms": T, "media_s": M}
                                                  splitmuxsink opened/closed file F
    {"event": "progress", "wall_ms": T, "media_s": M}   buffers flow (about once a second)
    {"event": "warning", "text": ...}
    {"event": "error", "element": ..., "message": ..., "debug": ..., "status": 401}
    {"event": "eos"}                                             the stream ended; the files are closed

Times: `wall_ms` is the wall clock at the file's first (or, closed, next) buffer: its running
time plus the offset between the wall clock and the pipeline's running time (the pipeline
clock minus its base time), read here. It does not depend on when the message was read, by
this process or by the daemon. With rtspsrc, a buffer's running time is when it arrived.

`media_s` is the camera's own time for that buffer (its RTP timestamp, unwrapped, in seconds
from the run's first picture); progress carries the picture of the last second that arrived
soonest for its media time. A picture cannot arrive before it was made, so each (media_s,
wall_ms) pair bounds the camera's offset from above, and the daemon maps media time to the wall
clock with the smallest (recorder/backends/write-clock.ts, as for ffmpeg). Arrival alone is
late for the pictures a camera sends in a burst when it starts (its encoder starting, or a
picture it kept): those would date the first file hundreds of ms late. Without RTP (a file
source) media_s is absent and wall_ms stands alone.

SIGINT or SIGTERM: EOS into the pipeline (the open file is finished properly), exit 0 once it
has gone through, or after stop_deadline_ms with the file left open for recovery. Exit status
1 after an error, 2 for a bad request.
"""
import json
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def say(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


NEEDED = ["rtspsrc", "parsebin", "progressreport", "splitmuxsink", "mp4mux"]


def media_time(frames, running_time: int):
    """The media time (s) of the picture at `running_time`, a file's first or next picture, from
    the recent pictures as (PTS, media ns, keyframe). Several pictures can share a PTS, or nearly:
    a jitter buffer handing on a burst (a camera's start-up, a recorder starved of CPU) keeps PTS
    from going backwards by giving the rest of the burst the PTS of the one before. A file always
    starts on a keyframe, so among the nearest the keyframe, and the earliest of those, is the one;
    the newest of the burst had dated a run's first file 1.2 s late (a loaded CI box)."""
    if not frames:
        return None
    pts, ns, _key = min(frames, key=lambda f: (abs(f[0] - running_time), not f[2], f[1]))
    return round((ns + running_time - pts) / 1e9, 6)


def check() -> int:
    Gst.init(None)
    missing = [name for name in NEEDED if Gst.ElementFactory.find(name) is None]
    if missing:
        print(f"GStreamer {Gst.version_string()} lacks {', '.join(missing)}")
        return 1
    print(f"{Gst.version_string()} with {', '.join(NEEDED)}")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        return check()
    try:
        req = json.loads(sys.stdin.readline())
        launch, files = req["launch"], req["files"]
    except (ValueError, KeyError, TypeError) as err:
        print(f"gst-recorder: expected one JSON request on stdin: {err}", file=sys.stderr)
        return 2
    Gst.init(None)
    try:
        pipeline = Gst.parse_launch(launch)
    except GLib.Error as err:
        say("error", element="pipeline", message=f"cannot build the pipeline: {err.message}", debug="")
        return 1
    src, mux = pipeline.get_by_name("src"), pipeline.get_by_name("mux")
    if src is None or mux is None:
        say("error", element="pipeline", message="pipeline elements src and mux missing", debug="")
        return 1
    src.set_property("location", req.get("location", ""))
    if req.get("user") is not None:
        src.set_property("user-id", req["user"])
        src.set_property("user-pw", req.get("password") or "")
    mux.set_property("location", files)
    if req.get("overlay_svg") is not None:
        # capture masks: fail closed, nothing is recorded without the overlay that paints them
        overlay = pipeline.get_by_name("masks")
        if overlay is None:
            say("error", element="pipeline", message="capture masks cannot be enforced: the mask overlay is missing", debug="")
            return 1
        overlay.set_property("data", req["overlay_svg"])

    loop = GLib.MainLoop()
    state = {"opened": 0, "stopping": False, "status": 0, "offset": None, "repaired": 0, "dropped": 0}

    def stamp(_pad, info):
        # A burst of pictures (a camera flushing what it queued, or a box too busy to read the
        # socket for a while) can make the jitter buffer hand on a picture without a PTS, and
        # mp4mux then fails the whole run ("Buffer has no PTS"), a hole of several seconds
        # while it restarts. Without B-frames (what cameras send) a picture's PTS is its DTS;
        # a picture with neither is dropped before the muxer (the decoder conceals it, up to
        # the next keyframe). Each kind is counted and reported as a warning at 1, 2, 4, 8, ...
        buf = info.get_buffer()
        if buf is None or buf.pts != Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        if buf.dts != Gst.CLOCK_TIME_NONE:
            buf.pts = buf.dts
            state["repaired"] += 1
            kind, n = "repaired (PTS from DTS)", state["repaired"]
            verdict = Gst.PadProbeReturn.OK
        else:
            state["dropped"] += 1
            kind, n = "dropped", state["dropped"]
            verdict = Gst.PadProbeReturn.DROP
        if n & (n - 1) == 0:  # 1, 2, 4, 8, ...: a steady stream of them does not flood the log
            say("warning", text=f"{n} picture(s) without a timestamp {kind}")
        return verdict

    # The camera's clock: the RTP timestamp of each picture, read where the depayloader hands the
    # picture on (its stats hold the timestamp of the packet being processed, the one that completed
    # the picture). A probe on rtspsrc's pad saw every packet instead, about 90 a second at 1 Mbit/s,
    # each a call into Python: 1 % of a core a camera, 40 % of this process (bench/README.md).
    media = {"depay": None, "rate": 90000, "last_ts": None, "last_pts": None, "ns": 0,
             "frames": [], "best": None}

    def picture_time(_pad, info):
        buf = info.get_buffer()
        if buf is None:
            return Gst.PadProbeReturn.OK
        # A picture of a burst may come without a PTS (stamp gives it its DTS before the muxer): its
        # time is that DTS here too. Skipped, a file opening on such a keyframe was dated from a
        # later picture of the burst (a run's first file 1 s late on a loaded CI machine).
        pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
        if pts == Gst.CLOCK_TIME_NONE or pts == media["last_pts"]:
            return Gst.PadProbeReturn.OK
        stats = media["depay"].get_property("stats")
        ok, ts = stats.get_uint("timestamp") if stats is not None else (False, 0)
        if not ok:
            return Gst.PadProbeReturn.OK
        ok, rate = stats.get_uint("clock_rate")
        if ok and rate > 0:
            media["rate"] = rate
        if media["last_ts"] is not None:
            step = (ts - media["last_ts"]) % (1 << 32)
            if step >= 1 << 31:
                step -= 1 << 32  # backwards (reordered pictures)
            step_ns = step * 1_000_000_000 // media["rate"]
            pts_step = pts - media["last_pts"]
            # A camera that restarts its RTP clock mid-stream: follow arrival across the jump
            media["ns"] += step_ns if abs(step_ns - pts_step) < 1_000_000_000 else pts_step
        media["last_ts"], media["last_pts"] = ts, pts
        media["frames"].append((pts, media["ns"], not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
        if len(media["frames"]) > 256:
            del media["frames"][:128]
        offset = pts - media["ns"]
        if media["best"] is None or offset < media["best"][0]:
            media["best"] = (offset, pts, media["ns"])
        return Gst.PadProbeReturn.OK

    def on_element_added(_bin, _sub, element):
        """The video's depayloader, made inside parsebin (or decodebin) once the stream is known."""
        factory = element.get_factory()
        if media["depay"] is not None or factory is None or "Depayloader" not in (factory.get_metadata(Gst.ELEMENT_METADATA_KLASS) or ""):
            return
        pad = element.get_static_pad("src")
        if pad is not None:
            media["depay"] = element
            pad.add_probe(Gst.PadProbeType.BUFFER, picture_time)

    def wall_ms(running_time: int):
        clock = pipeline.get_clock()
        if clock is None:
            return None
        offset = time.time_ns() - (clock.get_time() - pipeline.get_base_time())
        # The two clocks are read one after the other: keep the offset while it moves less than
        # a millisecond, so that a file's close and the next one's open (the same running time)
        # get the same wall time. A step of the wall clock (NTP) is taken at once.
        if state["offset"] is None or abs(offset - state["offset"]) >= 1_000_000:
            state["offset"] = offset
        return round((state["offset"] + running_time) / 1e6, 3)

    def finish():
        loop.quit()
        return False

    def on_message(_bus, msg):
        t = msg.type
        if t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            name = s.get_name() if s else ""
            if name in ("splitmuxsink-fragment-opened", "splitmuxsink-fragment-closed"):
                ok, rt = s.get_uint64("running-time")
                event = "opened" if name.endswith("opened") else "closed"
                if event == "opened":
                    state["opened"] += 1
                say(event, location=s.get_string("location"), wall_ms=wall_ms(rt) if ok else None,
                    **({"media_s": media_time(media["frames"], rt)} if ok and media["frames"] else {}))
            elif name == "progress" and msg.src.get_name() == "progress":
                best, media["best"] = media["best"], None
                if best is None:
                    say("progress")
                else:
                    say("progress", wall_ms=wall_ms(best[1]), media_s=round(best[2] / 1e9, 6))
            elif name == "GstRTSPSrcTimeout":
                say("warning", text="no data from the camera (RTCP timeout)")
        elif t == Gst.MessageType.EOS:
            say("eos")
            finish()
        elif t == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            details = msg.parse_error_details()
            status = None
            if details is not None:
                ok, code = details.get_uint("rtsp-status-code")
                status = code if ok else None
            say("error", element=msg.src.get_name() if msg.src else "pipeline",
                path=msg.src.get_path_string() if msg.src else "", message=err.message,
                debug=debug or "", status=status)
            state["status"] = 1
            if state["stopping"] or state["opened"] == 0:
                finish()
            else:
                # let the open file close if the pipeline still can; recovery takes it otherwise
                state["stopping"] = True
                pipeline.send_event(Gst.Event.new_eos())
                GLib.timeout_add(2000, finish)
        elif t == Gst.MessageType.WARNING:
            warn, debug = msg.parse_warning()
            lines = (debug or "").strip().splitlines()
            say("warning", text=lines[-1].strip() if lines else warn.message)

    def on_signal():
        if state["stopping"]:
            return True
        state["stopping"] = True
        if state["opened"] == 0:
            finish()
        else:
            pipeline.send_event(Gst.Event.new_eos())
            GLib.timeout_add(int(req.get("stop_deadline_ms", 5000)), finish)
        return True

    size = {"first": None, "changed": False}

    def end_file():
        progress.get_static_pad("sink").send_event(Gst.Event.new_eos())
        GLib.timeout_add(2000, finish)
        return False

    def size_guard(_pad, info):
        # mp4mux cannot change picture size inside a file: it wrote files of the new size with
        # the old pictures' headers, which nothing could play (a camera reconfigured, or the box
        # path's encoder following it). The file open is finished at the old size, nothing of the
        # new size reaches the muxer, and the run ends with an error: the daemon starts a new one,
        # whose files have the new size throughout.
        # only an event's info has one: asked of a buffer's, GStreamer printed a CRITICAL line on
        # stderr for every picture, which the daemon read and logged at debug level
        event = info.get_event() if info.type & Gst.PadProbeType.EVENT_DOWNSTREAM else None
        if size["changed"]:
            return Gst.PadProbeReturn.OK if event is not None and event.type == Gst.EventType.EOS else Gst.PadProbeReturn.DROP
        if event is None or event.type != Gst.EventType.CAPS:
            return Gst.PadProbeReturn.OK
        st = event.parse_caps().get_structure(0)
        ok_w, w = st.get_int("width")
        ok_h, h = st.get_int("height")
        if not (ok_w and ok_h):
            return Gst.PadProbeReturn.OK
        if size["first"] is None:
            size["first"] = (w, h)
            return Gst.PadProbeReturn.OK
        if size["first"] == (w, h):
            return Gst.PadProbeReturn.OK
        size["changed"] = True
        was = size["first"]
        say("error", element="pipeline", path="", status=None, debug="",
            message=f"the picture changed size mid-stream from {was[0]}x{was[1]} to {w}x{h}: the open file is finished and a new run starts")
        state["status"] = 1
        if not state["stopping"]:
            state["stopping"] = True
            GLib.idle_add(end_file)
        return Gst.PadProbeReturn.DROP

    pipeline.connect("deep-element-added", on_element_added)
    progress = pipeline.get_by_name("progress")
    if progress is not None:
        progress.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, stamp)
        progress.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, size_guard)

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, on_signal)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        # the reason is on the bus
        state["status"] = 1
        GLib.timeout_add(500, finish)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())
