#!/usr/bin/python3
"""A stand-in IP camera for tests: GStreamer's RTSP server serving a live
test pattern (H.264) with a tone (AAC) on 127.0.0.1:PORT/MOUNT, over TCP and
UDP, optionally behind Digest auth. Run with Debian's /usr/bin/python3
(python3-gi, gir1.2-gst-rtsp-server-1.0). Prints "ready" once listening."""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--mount", default="/stream")
ap.add_argument("--user", default="")
ap.add_argument("--password", default="")
ap.add_argument("--protocols", default="tcp,udp")
ap.add_argument("--aac", default="avenc_aac")
args = ap.parse_args()

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(str(args.port))

factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25"
    " ! rtph264pay name=pay0 pt=96 config-interval=-1"
    " audiotestsrc is-live=true ! audioconvert ! audioresample ! audio/x-raw,rate=44100,channels=1"
    " ! %s ! rtpmp4gpay name=pay1 pt=97 )" % args.aac
)
factory.set_shared(True)
protos = GstRtsp.RTSPLowerTrans(0)
for p in args.protocols.split(","):
    if p == "tcp":
        protos |= GstRtsp.RTSPLowerTrans.TCP
    elif p == "udp":
        protos |= GstRtsp.RTSPLowerTrans.UDP
factory.set_protocols(protos)

if args.user:
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", args.user)
    auth.add_digest(args.user, args.password, token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_permission_for_role(args.user, "media.factory.access", True)
    perms.add_permission_for_role(args.user, "media.factory.construct", True)
    factory.set_permissions(perms)

server.get_mount_points().add_factory(args.mount, factory)
if server.attach(None) == 0:
    print("attach failed", file=sys.stderr)
    sys.exit(1)
print("ready", flush=True)

loop = GLib.MainLoop()
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
loop.run()
