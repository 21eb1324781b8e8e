#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (tests/fuzz/corpus/TARGET/NAME): well-formed
inputs of each kind the parser reads, from which libFuzzer mutates. Rerun after changing a seed
here; libFuzzer's own finds are not kept in the repository (scripts/fuzz writes them to build/)."""
import json
import os
import struct

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# UP messages: one of each kind.
up = {
    "hello": {"type": "hello", "device_id": "tc-0042", "credential": "s3cret-credential-42", "agent": "0.1.0", "os": "12"},
    "hello_os11": {"type": "hello", "device_id": "tc-11", "credential": "c", "os": "11", "address": "10.0.0.5:5901", "pin": "ab" * 32},
    "welcome": {"type": "welcome", "heartbeat_s": 15},
    "heartbeat": {"type": "heartbeat", "session_id": "s-1"},
    "shadow_request": {"type": "shadow_request", "session_id": "s-1", "tunnel_url": "wss://ums.example:8443/tunnel/device/s-1",
                       "token": "t" * 43, "user": "admin", "view_only": True, "recorded": True, "consent": "ask", "consent_timeout_s": 30, "pin": "cd" * 32},
    "shadow_request_os11": {"type": "shadow_request", "session_id": "s-2", "password": "p" * 22, "ttl_s": 60},
    "shadow_refused": {"type": "shadow_refused", "session_id": "s-1", "reason": "the user declined"},
    "shadow_ended": {"type": "shadow_ended", "session_id": "s-1", "reason": "viewer closed", "bytes_to_viewer": 123456, "bytes_from_viewer": 789},
    "shadow_asking": {"type": "shadow_asking", "session_id": "s-1"},
    "shadow_accepted": {"type": "shadow_accepted", "session_id": "s-1"},
    "error": {"type": "error", "reason": "device unknown"},
    "device_hello": {"type": "device_hello", "device_id": "tc-7", "fingerprint": "ef" * 32, "agent": "0.1.0", "os": "12", "link": 17},
    "device_accepted": {"type": "device_accepted", "device_id": "tc-7", "link": 17},
    "device_rejected": {"type": "device_rejected", "device_id": "tc-7", "reason": "wrong credential", "link": 17},
    "end_session": {"type": "end_session", "session_id": "s-1", "reason": "ended by admin"},
    "tunnel_arrived": {"type": "tunnel_arrived", "session_id": "s-1"},
    "certificate_request": {"type": "certificate_request", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", "device_id": "tc-7", "link": 3},
    "device_revoked": {"type": "device_revoked", "device_id": "tc-7", "fingerprint": "ef" * 32, "reason": "revoked"},
}
for name, m in up.items():
    write("up_message", name, json.dumps({"v": 1, **m}))

# HTTP requests as the UMS receives them (one connection may carry several).
crlf = "\r\n"
def req(lines, body=""):
    return crlf.join(lines) + crlf + crlf + body
write("http_request", "login", req(["POST /api/v1/login HTTP/1.1", "Host: ums.example:8443", "Origin: https://ums.example:8443",
                                     "Content-Type: application/json", "Content-Length: 38"], '{"user":"admin","password":"secret12"}'))
write("http_request", "cookie_get", req(["GET /api/v1/devices?filter=tc HTTP/1.1", "Host: ums.example:8443", "Cookie: a=b; sl_session=abcdef; c=d",
                                          "Sec-Fetch-Site: same-origin"]))
write("http_request", "bearer_delete", req(["DELETE /api/v1/devices/tc%2D7/certificate HTTP/1.1", "Host: ums", "Authorization: Bearer tok123"]))
write("http_request", "upgrade", req(["GET /up HTTP/1.1", "Host: gw.example", "Upgrade: websocket", "Connection: Upgrade",
                                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]))
write("http_request", "keep_alive_pair", req(["GET / HTTP/1.1", "Host: a"]) + req(["POST /api/v1/sessions HTTP/1.1", "Host: a",
                                               "Transfer-Encoding: chunked", "Authorization: Bearer x"], "5\r\nhello\r\n0\r\n\r\n"))

# RFB, viewer to server (what the view-only filter reads).
def u16(x): return struct.pack(">H", x)
def u32(x): return struct.pack(">I", x)
pixel_format = bytes([32, 24, 0, 1]) + u16(255) * 3 + bytes([16, 8, 0, 0, 0, 0])
viewer = (b"RFB 003.008\n" + bytes([1]) + bytes([1])  # version, security None, shared
          + bytes([0, 0, 0, 0]) + pixel_format  # SetPixelFormat
          + bytes([2, 0]) + u16(2) + u32(0) + u32(0xFFFFFF21)  # SetEncodings
          + bytes([3, 0]) + u16(0) * 2 + u16(640) + u16(480)  # FramebufferUpdateRequest
          + bytes([4, 1, 0, 0]) + u32(0x61)  # KeyEvent
          + bytes([5, 1]) + u16(10) + u16(20)  # PointerEvent
          + bytes([6, 0, 0, 0]) + u32(5) + b"hello")  # ClientCutText
write("rfb_view_only", "session_38", viewer)
write("rfb_view_only", "session_37_vncauth", b"RFB 003.007\n" + bytes([2]) + bytes(range(16)) + bytes([1]) + bytes([3, 1]) + u16(0) * 4)

# RFB, server to viewer (what the console's snapshot reads).
def server(version=b"RFB 003.008\n", w=4, h=2, extra=b""):
    init = u16(w) + u16(h) + pixel_format + u32(6) + b"device"
    pixels = bytes([0, 0, 255, 0]) * (w * h)
    update = bytes([0, 0]) + u16(1) + u16(0) + u16(0) + u16(w) + u16(h) + u32(0) + pixels
    return version + bytes([1, 1]) + (u32(0) if version.endswith(b"8\n") else b"") + init + extra + update
write("rfb_client", "raw_38", server())
write("rfb_client", "raw_37", server(b"RFB 003.007\n"))
write("rfb_client", "bell_cut_colours", server(extra=bytes([2]) + bytes([3, 0, 0, 0]) + u32(3) + b"abc" + bytes([1, 0]) + u16(0) + u16(1) + u16(1) * 3))
write("rfb_client", "refused", b"RFB 003.008\n" + bytes([0]) + u32(12) + b"too many tcp")

# The OS 11 legacy port's first line.
write("legacy_password", "line", "s-2 " + "p" * 22 + "\n")
write("legacy_password", "no_space", "s-2\n")

# Configuration files.
write("config", "ums", json.dumps({"log_level": "info", "data_dir": "/var/lib/shadowlink", "services": [
    {"type": "ums", "name": "ums", "settings": {"url": "wss://ums.example/up", "port": 8443, "web_origins": ["https://ums.example:8443"],
                                                "devices": [{"id": "tc-1", "groups": ["a"]}], "credential_sha256": "0" * 64}}]}, indent=1))
write("config", "device", json.dumps({"services": [{"type": "device", "settings": {"url": "wss://gw.example/up", "enroll": True,
                                                   "heartbeat_s": 15, "proxy": {"url": "http://proxy:3128"}}}]}))
