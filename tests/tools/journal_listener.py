#!/usr/bin/env python3
"""Stands in for journald: binds SOCKET (a datagram socket, like /run/systemd/journal/socket),
decodes the journal's native protocol (KEY=value lines, or KEY, a little-endian 64-bit length and
the bytes for values with newlines) and writes each record as one JSON object per line to OUT.
Usage: journal_listener.py SOCKET OUT"""
import json, os, socket, struct, sys


def decode(data: bytes) -> dict:
    record, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 1 + 8
            value = data[start:start + size]
            i = start + size + 1
        record[key.decode()] = value.decode(errors="replace")
    return record


def main() -> None:
    path, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(out, "a") as f:
        while True:
            f.write(json.dumps(decode(s.recv(1 << 20))) + "\n")
            f.flush()


if __name__ == "__main__":
    main()
