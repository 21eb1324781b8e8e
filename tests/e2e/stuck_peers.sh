#!/usr/bin/env bash
# Slow and stuck peers, through the shipped binaries: a viewer frozen (SIGSTOP) while the device
# keeps sending (its clipboard changing as fast as Xvnc passes it on, which an RFB server sends
# unasked), a device whose VNC server is frozen, and a viewer that half-closes its connection.
# Sessions end by the write-stall limit, the idle timeout or at once; the relay's memory stays
# bounded meanwhile; nothing of the session stays open.
source "$(dirname "$0")/lib.sh"

step "Xvnc, a UMS (write stall 3 s, idle timeout 4 s) and a device agent"
start_xvnc
write_ums_config "$WORK/ums.json"
sed -i 's/"port": 0,/"port": 0, "write_stall_s": 3, "idle_timeout_s": 4,/' "$WORK/ums.json"
start_daemon ums "$WORK/ums.json"; UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
write_device_config "$WORK/device.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/device.json"; DEVICE_PID=$LAST_PID
wait_log ums "device tc-1 online" 20
"${CLI[@]}" snapshot tc-1 "$WORK/warm.png" > /dev/null
check_checkerboard "$WORK/warm.png"
sleep 1
UMS_FDS=$(fds "$UMS_PID") DEVICE_FDS=$(fds "$DEVICE_PID")

step "a viewer frozen (SIGSTOP) while the device sends its changing clipboard: the UMS ends the session at the write-stall limit, its memory bounded"
watch_session frozen tc-1
CONSOLE_PID=$WATCH_CONSOLE
RSS_BEFORE=$(rss_kib "$UMS_PID")
kill -STOP "$VIEWER_PID"
STOPPED=$SECONDS
# The device's user copies text after text (Xvnc sends each to its viewers, unasked): about 200 KB
# at a time, as fast as xclip can take the selection.
(
  for i in $(seq 400); do
    head -c 150000 /dev/urandom | base64 -w0 | DISPLAY=$VNC_DISPLAY timeout 5 xclip -selection clipboard 2>/dev/null || true
    grep -q "AUDIT session ended: device=tc-1 .*$SESSION\|$SESSION.*AUDIT session ended" "$WORK/ums.log" && break
  done
) &
FLOOD=$!
PIDS+=("$FLOOD")
MAX_RSS=$RSS_BEFORE
for _ in $(seq 300); do
  r=$(rss_kib "$UMS_PID"); [ "$r" -gt "$MAX_RSS" ] && MAX_RSS=$r
  grep -q "\[ums/$SESSION\] AUDIT session ended" "$WORK/ums.log" && break
  sleep 0.1
done
grep "\[ums/$SESSION\] AUDIT session ended" "$WORK/ums.log" | grep -q 'outcome="write timeout"' ||
  fail "the frozen viewer's session did not end by the write-stall limit within 30 s: $(grep "\[ums/$SESSION\]" "$WORK/ums.log" | tail -3)"
echo "ok: ended by the write-stall limit $((SECONDS - STOPPED)) s after the viewer froze: $(grep -o "AUDIT session ended.*" "$WORK/ums.log" | tail -1)"
BYTES=$(grep "\[ums/$SESSION\] splice ended" "$WORK/ums.log" | grep -o '[0-9]* bytes to viewer' | cut -d' ' -f1)
echo "ok: the UMS's resident memory went from $RSS_BEFORE KiB to at most $MAX_RSS KiB while $BYTES bytes went towards the frozen viewer"
# (Before the freeze the viewer read a few screens of 300 KB: the rest came while it was frozen.)
[ "${BYTES:-0}" -gt 4000000 ] || fail "only ${BYTES:-0} bytes went towards the viewer: the device did not keep sending"
[ "$((MAX_RSS - RSS_BEFORE))" -lt 16384 ] || fail "the UMS grew by $((MAX_RSS - RSS_BEFORE)) KiB behind a frozen viewer"
wait "$FLOOD" 2>/dev/null || true
kill -KILL "$VIEWER_PID" "$CONSOLE_PID" 2>/dev/null || true
no_sessions_left
fds_back UMS "$UMS_PID" "$UMS_FDS"
fds_back "the device agent" "$DEVICE_PID" "$DEVICE_FDS"

step "the device's VNC server frozen (SIGSTOP): the session ends at the idle timeout, and nothing stays open"
watch_session vnc-frozen tc-1
XVNC_PID=$(pgrep -f "Xvnc $VNC_DISPLAY " | head -1)
[ -n "$XVNC_PID" ] || fail "no Xvnc process for $VNC_DISPLAY"
kill -STOP "$XVNC_PID"
FROZEN=$SECONDS
wait_log ums "\[ums/$SESSION\] AUDIT session ended.*outcome=\"idle timeout\"" 15
echo "ok: ended $((SECONDS - FROZEN)) s after the VNC server froze (idle timeout 4 s)"
wait_log vnc-frozen "ended: idle timeout" 10
kill -CONT "$XVNC_PID"
no_sessions_left
fds_back UMS "$UMS_PID" "$UMS_FDS"
fds_back "the device agent" "$DEVICE_PID" "$DEVICE_FDS"
"${CLI[@]}" snapshot tc-1 "$WORK/thawed.png" > /dev/null
check_checkerboard "$WORK/thawed.png"

step "an administrator ends a session whose VNC server is frozen: it ends at once"
watch_session end-frozen tc-1
kill -STOP "$XVNC_PID"
"${CLI[@]}" end "$SESSION" > /dev/null
wait_log ums "\[ums/$SESSION\] AUDIT session ended.*outcome=\"ended by automation\"" 5
wait_log end-frozen "ended: ended by automation" 5
kill -CONT "$XVNC_PID"
no_sessions_left
fds_back "the device agent" "$DEVICE_PID" "$DEVICE_FDS"

step "a viewer that half-closes its connection (FIN, still reading) ends its session as the viewer closing"
start half "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
PORT=$(listen_port half 20)
SESSION=$(grep -o 'session s-[0-9a-f]*' "$WORK/half.log" | head -1 | cut -d' ' -f2)
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
print(s.recv(12))          # the VNC server's greeting, through the whole chain
s.shutdown(socket.SHUT_WR)  # FIN: nothing more from this viewer
s.settimeout(10)
while s.recv(65536):        # until the other side closes too
    pass
PY
wait_log ums "\[ums/$SESSION\] AUDIT session ended.*outcome=\"viewer closed\"" 10
wait_log half "ended: viewer closed" 5
no_sessions_left
fds_back UMS "$UMS_PID" "$UMS_FDS"

step "a TLS client that half-closes in the middle of its handshake is dropped at once"
python3 - "$UMS_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(bytes.fromhex("16030100c8010000c40303") + bytes(20))  # the start of a ClientHello
s.shutdown(socket.SHUT_WR)
start = time.time()
s.settimeout(5)
try:
    while s.recv(4096):
        pass
except socket.timeout:
    sys.exit("the UMS kept a half-closed handshake open for 5 s")
print(f"closed by the UMS after {time.time() - start:.2f} s")
PY
fds_back UMS "$UMS_PID" "$UMS_FDS"
echo "stuck peers: all checks passed"
