#!/usr/bin/env python3
"""A VNC viewer that keeps a session busy: connects to HOST:PORT (RFB 3.8, security type None),
then asks for the whole screen again and again (raw encoding, so each update is the full
framebuffer) and reads every update, like a viewer watching a moving screen. Prints
"rfb_watch: N updates" as it goes and "rfb_watch: closed after N updates" when the other end
closes the connection (exit 0); exits 3 if nothing arrives for 30 s.
Usage: rfb_watch.py HOST PORT [INTERVAL_S]"""
import socket
import struct
import sys
import time


def read_exact(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    s = socket.create_connection((host, port), timeout=30)
    updates = 0
    try:
        if not read_exact(s, 12).startswith(b"RFB 003."):
            raise SystemExit("rfb_watch: not an RFB server")
        s.sendall(b"RFB 003.008\n")
        count = read_exact(s, 1)[0]
        if count == 0 or 1 not in read_exact(s, count):
            raise SystemExit("rfb_watch: the server does not offer security type None")
        s.sendall(bytes([1]))
        if struct.unpack(">I", read_exact(s, 4))[0] != 0:
            raise SystemExit("rfb_watch: security handshake failed")
        s.sendall(bytes([1]))  # ClientInit: shared
        width, height = struct.unpack(">HH", read_exact(s, 4))
        bytes_per_pixel = read_exact(s, 16)[0] // 8
        read_exact(s, struct.unpack(">I", read_exact(s, 4))[0])  # desktop name
        s.sendall(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw
        while True:
            s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))  # the whole screen, not incremental
            while True:
                kind = read_exact(s, 1)[0]
                if kind == 0:
                    break
                if kind == 2:  # bell
                    continue
                if kind == 3:  # the server's clipboard
                    read_exact(s, 3)
                    read_exact(s, struct.unpack(">I", read_exact(s, 4))[0])
                    continue
                raise SystemExit(f"rfb_watch: unexpected server message {kind}")
            read_exact(s, 1)
            for _ in range(struct.unpack(">H", read_exact(s, 2))[0]):
                _, _, w, h, encoding = struct.unpack(">HHHHi", read_exact(s, 12))
                if encoding != 0:
                    raise SystemExit(f"rfb_watch: unexpected encoding {encoding}")
                read_exact(s, w * h * bytes_per_pixel)
            updates += 1
            if updates <= 5 or updates % 20 == 0:
                print(f"rfb_watch: {updates} updates", flush=True)
            time.sleep(interval)
    except socket.timeout:  # (before OSError, of which it is one)
        print(f"rfb_watch: nothing for 30 s after {updates} updates", flush=True)
        sys.exit(3)
    except (EOFError, ConnectionError):  # a close, a reset, or a request sent after the close
        print(f"rfb_watch: closed after {updates} updates", flush=True)


main()
