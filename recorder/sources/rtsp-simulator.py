#!/usr/bin/python3
"""A real RTSP camera for tests, benchmarks and the demo.

gst-rtsp-server serving one H.264 test pattern with a clock overlay per mount point.
Media are shared, so several recorders can pull the same mount. It prints one line,
"READY <port>", once it listens, and runs until it is killed (SIGSTOP it for a stall).
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PATTERNS = ["smpte", "ball", "snow", "pinwheel", "gradient", "circular", "bar", "zone-plate"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8554, help="TCP port; 0 picks a free one")
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--mounts", default="cam1", help="comma-separated mount names")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--gop", type=int, default=15, help="frames between keyframes")
    ap.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    ap.add_argument("--pattern", default=None, choices=PATTERNS,
                    help="one pattern for every mount (snow reaches the bitrate; others compress far below)")
    ap.add_argument("--user", default=None)
    ap.add_argument("--password", default=None,
                    help="better: the environment variable RTSP_SIM_PASSWORD (a command line is world-readable)")
    ap.add_argument("--auth", default="basic", choices=["basic", "digest"], help="how the camera asks for credentials")
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

    for i, name in enumerate(n for n in args.mounts.split(",") if n):
        pattern = args.pattern or PATTERNS[i % len(PATTERNS)]
        launch = (
            f"( videotestsrc is-live=true pattern={pattern} "
            f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
            f"! clockoverlay time-format=\"{name} %F %T\" "
            f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate={args.bitrate} "
            f"key-int-max={args.gop} ! video/x-h264,profile=baseline "
            f"! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
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
