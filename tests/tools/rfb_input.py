#!/usr/bin/env python3
"""A scripted RFB 3.8 viewer for input checks: connects to HOST:PORT (security type None), then
sends a pointer move to (X, Y) with a click, a key press and release (the letter "a"), and a
clipboard text, and waits for one framebuffer update so that everything it sent has been read
by the other end; then stays connected HOLD seconds (a VNC server drops a viewer's clipboard when
the viewer leaves). Usage: rfb_input.py HOST PORT X Y [HOLD]"""
import socket
import struct
import sys
import time


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise SystemExit(f"rfb_input: connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def main():
    host, port, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    hold = float(sys.argv[5]) if len(sys.argv) > 5 else 0
    s = socket.create_connection((host, port), timeout=20)
    version = read_exact(s, 12)
    if not version.startswith(b"RFB 003."):
        raise SystemExit(f"rfb_input: not an RFB server: {version!r}")
    s.sendall(b"RFB 003.008\n")
    count = read_exact(s, 1)[0]
    if count == 0:
        raise SystemExit("rfb_input: the server refused the connection")
    if 1 not in read_exact(s, count):
        raise SystemExit("rfb_input: the server does not offer security type None")
    s.sendall(bytes([1]))
    if struct.unpack(">I", read_exact(s, 4))[0] != 0:
        raise SystemExit("rfb_input: security handshake failed")
    s.sendall(bytes([1]))  # ClientInit: shared
    width, height = struct.unpack(">HH", read_exact(s, 4))
    read_exact(s, 16)  # pixel format
    read_exact(s, struct.unpack(">I", read_exact(s, 4))[0])  # desktop name
    s.sendall(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw
    s.sendall(struct.pack(">BBHH", 5, 0, x, y))  # PointerEvent: move
    s.sendall(struct.pack(">BBHH", 5, 1, x, y))  # button 1 down
    s.sendall(struct.pack(">BBHH", 5, 0, x, y))  # button 1 up
    s.sendall(struct.pack(">BBxxI", 4, 1, 0x61))  # KeyEvent: "a" down
    s.sendall(struct.pack(">BBxxI", 4, 0, 0x61))  # "a" up
    text = b"shadowlink clipboard check"
    s.sendall(struct.pack(">BxxxI", 6, len(text)) + text)  # ClientCutText
    s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, min(width, 16), min(height, 16)))  # FramebufferUpdateRequest
    while True:  # until the update; a bell or the server's clipboard may come first
        kind = read_exact(s, 1)[0]
        if kind == 0:
            break
        if kind == 2:
            continue
        if kind == 3:
            read_exact(s, 3)
            read_exact(s, struct.unpack(">I", read_exact(s, 4))[0])
            continue
        raise SystemExit(f"rfb_input: unexpected server message {kind}")
    print(f"sent pointer ({x},{y}) with a click, key 'a' and a clipboard text to a {width}x{height} screen", flush=True)
    time.sleep(hold)
    s.close()


main()
