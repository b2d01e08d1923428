#!/usr/bin/python3
"""A camera for view-analysis tests and benchmarks: real footage served over RTSP, with what
happens in front of the lens switched mid-stream, without restarting the stream.

Each mount plays a source: a video file, looped (Debian's opencv-doc vtest.avi: pedestrians seen
by a fixed camera), or a still photograph brought to life (sensor noise on every frame, a small
person walking through; `name=photo.jpg:quiet` leaves the walker out: a scene where nothing moves). A clock overlay is burnt in before any effect, so a frozen picture
freezes its clock too. Effects, applied in numpy between decoding and the H.264 encoder:

  none      the footage as it is
  cover     a hand over the lens: a dark, almost uniform picture
  spray     a grey spray-like fill: blotchy grey paint with a little of the scene through it
  defocus   Gaussian blur (sigma in pixels: `defocus 4`)
  shift     the camera turned sideways (a fifth of the width: `shift 0.2`)
  rotate    the camera twisted on its mount (degrees: `rotate 12`)
  freeze    the last picture again and again (a stuck encoder)
  dim       lights dimmed (factor: `dim 0.35`)
  mono      day/night switch: monochrome, IR-like tone curve
  person    someone walking past right in front of the lens, filling most of the picture,
            every few seconds
  cycle     normal life on repeat: lights dim and return, monochrome and back, people passing

Control: one line on stdin per change, "<mount> <effect> [param]"; answered "OK <mount> <effect>"
on stdout. It prints "READY <port>" once it listens.

`name=clip.mp4:copy` serves an H.264 MP4 as it is, no effects and no re-encoding, from its
start for each client (benchmarks: a 1080p stream whose cost is not the simulator's).
"""
import argparse
import os
import signal
import sys
import threading
import time

import gi
import numpy as np
from scipy import ndimage

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PERSON = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png"


def load_image(path, width, height):
    """An image file as RGB at the given size, through GStreamer (no other image library needed)."""
    pipe = Gst.parse_launch(
        f'filesrc location="{path}" ! decodebin ! videoconvert ! aspectratiocrop aspect-ratio={width}/{height} ! videoscale '
        f"! video/x-raw,format=RGB,width={width},height={height},pixel-aspect-ratio=1/1 ! appsink name=sink sync=false")
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
    if sample is None:
        raise RuntimeError(f"cannot read {path}")
    frame = to_array(sample, width, height).copy()
    pipe.set_state(Gst.State.NULL)
    return frame


def to_array(sample, width, height):
    buf = sample.get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    try:
        stride = len(info.data) // height
        return np.frombuffer(info.data, dtype=np.uint8).reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()
    finally:
        buf.unmap(info)


class Source:
    """Frames of a looped video file, or of a still with noise and a walker, clock burnt in."""

    def __init__(self, path, width, height, fps, seed, walker=True):
        self.width, self.height, self.walker_on = width, height, walker
        self.rng = np.random.default_rng(seed)
        video = not path.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"))
        clock = 'clockoverlay time-format="%H:%M:%S" halignment=left valignment=top font-desc="Sans 14" shaded-background=true'
        if video:
            launch = (f'filesrc location="{path}" ! decodebin ! videoconvert ! aspectratiocrop aspect-ratio={width}/{height} ! videoscale '
                      f"! video/x-raw,width={width},height={height},pixel-aspect-ratio=1/1 ! {clock} ! videoconvert "
                      f"! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=2")
        else:
            self.still = load_image(path, width, height).astype(np.float32)
            self.noise = [self.rng.normal(0, 2.5, (height, width, 1)).astype(np.float32) for _ in range(8)]
            walker_h = height // 4
            self.walker = load_image(PERSON, walker_h, walker_h)[:, walker_h // 6 : walker_h * 5 // 6]
            self.t = 0
            launch = (f"videotestsrc pattern=black ! video/x-raw,width={width},height={height},framerate={fps}/1 "
                      f"! {clock} ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=2")
        self.video = video
        self.pipe = Gst.parse_launch(launch)
        self.sink = self.pipe.get_by_name("sink")
        self.pipe.set_state(Gst.State.PLAYING)

    def next(self):
        sample = self.sink.emit("try-pull-sample", 5 * Gst.SECOND)
        if sample is None:  # end of the file: from the start again
            self.pipe.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
            sample = self.sink.emit("try-pull-sample", 5 * Gst.SECOND)
        frame = to_array(sample, self.width, self.height)
        if self.video:
            return frame
        # the still, with sensor noise and a small person crossing it; the clock drawn on black is kept
        self.t += 1
        out = self.still + self.noise[self.t % len(self.noise)]
        wh, ww = self.walker.shape[:2]
        x = (self.t * 2) % (self.width + ww) - ww
        y = self.height * 5 // 8
        x0, x1 = max(0, x), min(self.width, x + ww)
        if x1 > x0 and self.walker_on:
            out[y : y + wh, x0:x1] = self.walker[:, x0 - x : x1 - x]
        clock = frame.max(axis=2) > 40
        out[clock] = frame[clock]
        return np.clip(out, 0, 255).astype(np.uint8)


class Effect:
    def __init__(self, width, height, rng):
        self.width, self.height, self.rng = width, height, rng
        self.name, self.param, self.since, self.frozen = "none", None, time.monotonic(), None
        blotches = ndimage.gaussian_filter(rng.random((height, width)), sigma=height / 12)
        blotches = (blotches - blotches.min()) / max(1e-6, blotches.ptp())
        self.spray_alpha = np.clip(0.82 + 0.18 * blotches, 0, 1)[:, :, None].astype(np.float32)
        self.spray_colour = (145 + 40 * (blotches - 0.5))[:, :, None].astype(np.float32)
        # head and shoulders as tall as the picture: someone a step from the lens
        self.person = load_image(PERSON, height, height)[:, height // 8 : height * 7 // 8]

    def set(self, name, param):
        self.name, self.param, self.since, self.frozen = name, param, time.monotonic(), None

    def apply(self, frame):
        name, p, t = self.name, self.param, time.monotonic() - self.since
        if name == "cycle":  # 40 s of normal life, over and over
            phase = t % 40
            name = "dim" if phase < 8 else "mono" if 14 <= phase < 22 else "person" if 26 <= phase < 32 else "none"
            p, t = None, phase
        if name == "none":
            return frame
        if name == "cover":
            shade = np.linspace(-8, 8, self.height, dtype=np.float32)[:, None, None]
            hand = np.array([62, 46, 38], dtype=np.float32) + shade + self.rng.normal(0, 1.5, (self.height, self.width, 1)).astype(np.float32)
            return np.clip(hand, 0, 255).astype(np.uint8)
        if name == "spray":  # paint diffuses what little of the scene still shows through it
            under = ndimage.uniform_filter(frame, size=(9, 9, 1)).astype(np.float32)
            out = under * (1 - self.spray_alpha) + self.spray_colour * self.spray_alpha
            return np.clip(out, 0, 255).astype(np.uint8)
        if name == "defocus":
            return ndimage.gaussian_filter(frame, sigma=(float(p or 4), float(p or 4), 0), truncate=2.5)
        if name == "shift":
            return np.roll(frame, int(self.width * float(p or 0.2)), axis=1)
        if name == "rotate":
            return ndimage.rotate(frame, float(p or 12), axes=(1, 0), reshape=False, order=0, mode="reflect")
        if name == "freeze":
            if self.frozen is None:
                self.frozen = frame
            return self.frozen
        if name == "dim":
            return (frame.astype(np.float32) * float(p or 0.35)).astype(np.uint8)
        if name == "mono":
            y = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            y = 255 * (y / 255) ** 0.8
            return np.repeat(np.clip(y, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        if name == "person":
            period = float(p or 8)
            pw = self.person.shape[1]
            pos = (t % period) / 5.0  # 5 s to cross, then nobody until the period ends
            if pos >= 1:
                return frame
            x = int(-pw + pos * (self.width + pw))
            out = frame.copy()
            x0, x1 = max(0, x), min(self.width, x + pw)
            if x1 > x0:
                out[:, x0:x1] = self.person[:, x0 - x : x1 - x]
            return out
        return frame


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mounts", required=True, help="name=source,...: a video file or an image per mount")
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=8)
    ap.add_argument("--gop", type=int, default=8)
    ap.add_argument("--bitrate", type=int, default=800, help="kbit/s")
    args = ap.parse_args()

    Gst.init(None)
    w, h, fps = args.width, args.height, args.fps
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = {}
    for i, spec in enumerate(m for m in args.mounts.split(",") if m):
        name, path = spec.split("=", 1)
        if path.endswith(":copy"):
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(f'( filesrc location="{path[: -len(":copy")]}" ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )')
            server.get_mount_points().add_factory(f"/{name}", factory)
            continue
        quiet = path.endswith(":quiet")
        path = path[: -len(":quiet")] if quiet else path
        rng = np.random.default_rng(i)
        mounts[name] = {"source": Source(path, w, h, fps, i, walker=not quiet), "effect": Effect(w, h, rng), "appsrc": None}
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f"( appsrc name=src is-live=true format=time do-timestamp=true "
            f"caps=video/x-raw,format=RGB,width={w},height={h},framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate={args.bitrate} key-int-max={args.gop} "
            f"! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )")
        factory.set_shared(True)

        def configure(_factory, media, mount=mounts[name]):
            mount["appsrc"] = media.get_element().get_child_by_name("src")
            media.connect("unprepared", lambda *_: mount.__setitem__("appsrc", None))

        factory.connect("media-configure", configure)
        server.get_mount_points().add_factory(f"/{name}", factory)

    if server.attach(None) == 0:
        print("cannot listen", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)

    stop = threading.Event()

    def tick():
        period, due = 1.0 / fps, time.monotonic()
        while not stop.is_set():
            for m in mounts.values():
                frame = m["effect"].apply(m["source"].next())
                src = m["appsrc"]
                if src is not None:
                    src.emit("push-buffer", Gst.Buffer.new_wrapped(np.ascontiguousarray(frame).tobytes()))
            due += period
            time.sleep(max(0, due - time.monotonic()))

    def control():
        for line in sys.stdin:
            parts = line.split()
            if len(parts) >= 2 and parts[0] in mounts:
                mounts[parts[0]]["effect"].set(parts[1], parts[2] if len(parts) > 2 else None)
                print(f"OK {parts[0]} {parts[1]}", flush=True)
            elif parts:
                print(f"ERR {line.strip()}", flush=True)

    threading.Thread(target=tick, daemon=True).start()
    threading.Thread(target=control, daemon=True).start()
    loop = GLib.MainLoop()
    parent = os.getppid()

    def parent_alive():
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.timeout_add(500, parent_alive)
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
