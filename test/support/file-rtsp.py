#!/usr/bin/python3
"""
A camera whose stream is a prepared media file (a fixture: it does not ship), served over RTSP by
gst-rtsp-server as the simulator is: `file-rtsp.py LAUNCH` serves rtsp://127.0.0.1:PORT/x (it prints READY PORT),
where LAUNCH is a GStreamer pipeline ending in an RTP payloader named pay0. Each viewer plays the
file once from its start, in real time, then the stream ends. It shows the recorder streams the
simulator cannot make: H.265, audio only, a picture size that changes mid-stream.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
launch = sys.argv[1]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service("0")
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( {launch} )")
factory.set_shared(False)
server.get_mount_points().add_factory("/x", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on 127.0.0.1")
print(f"READY {server.get_bound_port()}", flush=True)
GLib.MainLoop().run()
