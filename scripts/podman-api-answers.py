#!/usr/bin/env python3
"""Exits 0 when podman's API answers /_ping on the unix socket given, else 1."""
import socket
import sys

s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
    sys.exit(0 if b" 200 " in s.recv(200) else 1)
except OSError:
    sys.exit(1)
