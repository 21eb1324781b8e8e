#!/usr/bin/env python3
"""An impostor TLS server for man-in-the-middle checks: listens on 127.0.0.1:PORT (0: any free port,
reported on stderr as "listening on 127.0.0.1:PORT") with CERT and KEY and appends every application byte any client sends to OUT (unbuffered); each connection and
each failed handshake is reported on stderr, so that a test can tell "nobody came" from "came and
sent nothing". Usage: tls_recorder.py PORT CERT KEY OUT"""
import socket
import ssl
import sys


def main():
    port, cert, key, out_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.create_server(("127.0.0.1", port))
    print(f"listening on 127.0.0.1:{srv.getsockname()[1]}", file=sys.stderr, flush=True)
    with open(out_path, "ab", buffering=0) as out:
        while True:
            conn, peer = srv.accept()
            print(f"connection from {peer[0]}:{peer[1]}", file=sys.stderr, flush=True)
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    while data := tls.recv(4096):
                        out.write(data)
            except (ssl.SSLError, OSError) as e:
                print(f"ended: {e}", file=sys.stderr, flush=True)
            finally:
                conn.close()


if __name__ == "__main__":
    main()
